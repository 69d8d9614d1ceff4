"""core.watch's overhead on a plain PyTorch training loop, measured in one process.

Run: .venv/bin/python benchmarks/bench_watch.py [--steps N]
A 2-layer torch.nn.LSTM (H 128) with a linear head on the adding problem (T 100, batch 32), Adam, clipping, run
without and with `core.watch(every=50)` in alternating blocks of 50 steps; prints seconds per step of each, the
overhead, and the watch's own work as a share of the plain loop (which noise does not blur). Target: ≤ 5 %.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import core  # noqa: E402
from core.tasks import adding_batch  # noqa: E402

T, B, H, LAYERS, EVERY = 100, 32, 128, 2, 50


def make():
    torch.manual_seed(0)
    lstm, head = torch.nn.LSTM(2, H, LAYERS), torch.nn.Linear(H, 1)
    return lstm, head, torch.optim.Adam(list(lstm.parameters()) + list(head.parameters()), lr=1e-3)


def block(lstm, head, optimizer, gen, steps, w=None) -> float:
    t0 = time.perf_counter()
    for _ in range(steps):
        x, y = adding_batch(T, B, gen)
        loss = torch.nn.functional.mse_loss(head(lstm(x)[0][-1]), y)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(lstm.parameters(), 1.0)
        optimizer.step()
        if w is not None:
            w.record_loss(loss)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=400, help="steps of each loop (a multiple of 50)")
    args = parser.parse_args()
    core.configure_threads()
    plain, watched = make(), make()
    gens = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    block(*plain, gens[0], 5)                              # warm-up
    with tempfile.TemporaryDirectory() as tmp, core.watch(watched[0], every=EVERY, path=f"{tmp}/run.gfl") as w:
        block(*watched, gens[1], 5, w)
        own, record = [], w._record

        def timed_record(pending):
            t0 = time.perf_counter()
            out = record(pending)
            own.append(time.perf_counter() - t0)
            return out
        w._record = timed_record
        t_plain = t_watch = 0.0
        for _ in range(args.steps // 10):
            t_plain += block(*plain, gens[0], 10)
            t_watch += block(*watched, gens[1], 10, w)
        records = w.records
    n = args.steps // 10 * 10
    print(f"2-layer LSTM H {H}, T {T}, batch {B}, {n} steps each, watch every {EVERY} ({records} records)")
    print(f"plain loop   {t_plain / n * 1e3:8.2f} ms/step")
    print(f"with watch   {t_watch / n * 1e3:8.2f} ms/step")
    print(f"overhead     {100 * (t_watch / t_plain - 1):8.2f} %   (target ≤ 5 %)")
    print(f"the watch's own work: {len(own)} records, {sum(own) / len(own) * 1e3:.1f} ms each, "
          f"{100 * sum(own) / t_plain:.2f} % of the plain loop")


if __name__ == "__main__":
    main()
