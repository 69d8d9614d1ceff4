"""Ratio of core.unroll to a plain torch.nn.RNN forward + backward of the same shape, same process.

Run: .venv/bin/python benchmarks/bench_unroll.py
Targets (issue #2): <= 1.1 at batch 32, H 128, T 1000; <= 1.3 at batch 1, H 64, T 1000.
For scale it also times the naive method (one backward pass per distance) on a shorter sequence.
"""
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import core  # noqa: E402


def best_of(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def interleaved(fn_a, fn_b, repeats):
    """Median times of two functions measured alternately, so drift in machine load hits both."""
    fn_a(), fn_b()
    a, b = [], []
    for _ in range(repeats):
        for fn, out in ((fn_a, a), (fn_b, b)):
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
    return statistics.median(a), statistics.median(b)


def plain_rnn(batch, hidden, seq_len):
    """What a tutorial does: nn.RNN forward with autograd, loss on the last step, backward."""
    torch.manual_seed(0)
    rnn = torch.nn.RNN(hidden, hidden)
    x = torch.randn(seq_len, batch, hidden)
    v = torch.randn(hidden)

    def run():
        out, _ = rnn(x)
        (out[-1] @ v).sum().backward()
    return run


def naive_per_distance(batch, hidden, seq_len):
    """One backward pass per distance (quadratic in T): the approach the engine avoids."""
    torch.manual_seed(0)
    cell = torch.nn.RNNCell(hidden, hidden)
    x = torch.randn(seq_len, batch, hidden)
    v = torch.randn(hidden)

    def run():
        h = torch.zeros(batch, hidden)
        states = []
        for t in range(seq_len):
            h = cell(x[t], h)
            states.append(h)
        loss = (h @ v).sum()
        for s in states:
            torch.autograd.grad(loss, s, retain_graph=True)
    return run


def main():
    torch.set_num_threads(max(1, torch.get_num_threads()))
    rows = []
    for batch, hidden, seq_len, target in [(32, 128, 1000, 1.1), (1, 64, 1000, 1.3), (8, 64, 100, None)]:
        cfg = core.UnrollConfig(batch=batch, hidden=hidden, seq_len=seq_len)
        engine, plain = interleaved(lambda: core.unroll(cfg), plain_rnn(batch, hidden, seq_len), 15)
        ratio = engine / plain
        verdict = "" if target is None else (" ok" if ratio <= target else f" ABOVE TARGET {target}")
        rows.append(f"unroll vs nn.RNN fwd+bwd  batch {batch:3d} H {hidden:4d} T {seq_len:5d}: "
                    f"engine {engine * 1e3:7.1f} ms, plain {plain * 1e3:7.1f} ms, ratio {ratio:.2f}"
                    + (f" (target <= {target})" if target else "") + verdict)
        print(rows[-1], flush=True)
    naive = best_of(naive_per_distance(8, 64, 300), 1)
    engine = best_of(lambda: core.unroll(core.UnrollConfig(batch=8, hidden=64, seq_len=300)), 3)
    print(f"naive one-backward-per-distance at T 300: {naive * 1e3:.0f} ms, engine {engine * 1e3:.1f} ms, "
          f"naive/engine {naive / engine:.0f}x")


if __name__ == "__main__":
    main()
