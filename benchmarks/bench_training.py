"""Training-loop overhead and the live preset, measured in one run.

Run: .venv/bin/python benchmarks/bench_training.py [--live]
1. The engine's Trainer.step (with its per-step metrics and the ∂L/∂h probe every 10 steps) against a
   plain PyTorch loop of the same model, optimiser and batches, interleaved in one process.
   Target (issue #3): ratio <= 1.2.
2. --live: the "Why gating matters" preset in Chromium: press Start, report the wall time until the
   LSTM's loss (mean of the last 20 steps) is under 0.01 (target 60 s) and how often the page updated.
"""
import argparse
import re
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from core.training import Batches, Model, TrainConfig, Trainer  # noqa: E402


def plain_step_fn(cfg):
    model = Model(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)

    def step(x, y):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x)[-1], y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        opt.step()
        return loss.item()
    return step


def loop_ratio(cell: str, steps: int = 200):
    cfg = TrainConfig(cell=cell)
    engine, plain = Trainer(cfg), plain_step_fn(cfg)
    batches = [Batches(cfg.task, cfg.seq_len, cfg.batch, cfg.seed).next() for _ in range(20)]
    for x, y in batches[:3]:
        engine.step(x, y), plain(x, y)
    times_e, times_p = [], []
    for i in range(steps):
        x, y = batches[i % len(batches)]
        t = time.perf_counter(); engine.step(x, y); times_e.append(time.perf_counter() - t)
        t = time.perf_counter(); plain(x, y); times_p.append(time.perf_counter() - t)
    e, p = sum(times_e) / steps, sum(times_p) / steps
    print(f"train step {cell:4s} (H 64, batch 64, T 100): engine {e * 1e3:6.2f} ms, plain {p * 1e3:6.2f} ms, "
          f"ratio {e / p:.2f} (target <= 1.2)", flush=True)


def live_preset(limit_s: float = 180):
    from playwright.sync_api import sync_playwright
    from conftest import CHROMIUM, CHROMIUM_ARGS, app_url, wait_for_app_idle
    server = app_url.__wrapped__()
    base = next(server)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(base + "/training?preset=gating")
            wait_for_app_idle(page)
            page.get_by_role("button", name="Start").click()
            start = time.perf_counter()
            seen, updates, reached = None, [], None
            while time.perf_counter() - start < limit_s:
                text = page.locator('[data-testid="stMarkdown"]').filter(has_text="steps/s").first.inner_text()
                if text != seen:
                    seen = text
                    updates.append(time.perf_counter() - start)
                m = re.search(r"A: LSTM loss ([0-9.e+-]+)", text)
                steps = re.search(r"step (\d+)", text)
                if m and float(m.group(1)) < 0.01:
                    recent = page.evaluate("""() => { const d = document.querySelectorAll('.js-plotly-plot')[0]._fullData[0].y;
                        const ys = Array.from(d).slice(-20).filter(v => v !== null); return ys.reduce((a, b) => a + b, 0) / ys.length; }""")
                    if recent < 0.01:
                        reached = (time.perf_counter() - start, int(steps.group(1)))
                        break
                page.wait_for_timeout(100)
            page.get_by_role("button", name="Pause").click()
            browser.close()
    finally:
        server.close()
    gaps = [b - a for a, b in zip(updates, updates[1:])]
    rate = 1 / statistics.median(gaps) if gaps else 0
    if reached:
        print(f"live preset: LSTM mean loss of the last 20 steps < 0.01 after {reached[0]:.1f} s wall time "
              f"(step {reached[1]}; target 60 s); page updated {rate:.1f} times/s (median; target >= 2)")
    else:
        print(f"live preset: LSTM not under 0.01 within {limit_s:.0f} s; page updated {rate:.1f} times/s")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--live", action="store_true", help="also time the preset in a real browser")
    args = parser.parse_args()
    for cell in ("lstm", "rnn", "gru"):
        loop_ratio(cell)
    if args.live:
        live_preset()


if __name__ == "__main__":
    main()
