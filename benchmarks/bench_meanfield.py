"""Mean-field theory against measurement, and what the theory costs.

Run: .venv/bin/python benchmarks/bench_meanfield.py [--seeds 3]
1. The fitted per-step factor of a tanh RNN (gaussian W, T = 200, batch 8, float64; median over seeds) against the
   mean-field √χ, at H = 256 and 1024, s ∈ {0.5, 1, 1.5, 2, 3}, input scale ∈ {0.5, 1}; and the Lyapunov e^λmax.
2. Cost: mean-field factor per configuration (target < 5 ms), the mean-field edge of a 41 × 31 phase grid (target
   < 50 ms), and the Lyapunov exponents as a share of an unroll at the default view (target ≤ 30 %).
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import core  # noqa: E402
from core import meanfield, probe  # noqa: E402
from core.cells import CELLS  # noqa: E402
from core.phase import PhaseConfig, mean_field_edges  # noqa: E402


def timed(fn, repeats=20):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    core.configure_threads()
    print(f"{'H':>5} {'input':>5} {'s':>4} {'measured':>9} {'mean-field':>10} {'error':>7} {'e^λmax':>8}")
    for hidden in (256, 1024):
        for sigma in (0.5, 1.0):
            for s in (0.5, 1.0, 1.5, 2.0, 3.0):
                rates, lyap = [], []
                for seed in range(args.seeds):
                    res = core.unroll(core.UnrollConfig(weight_scale=s, input_scale=sigma, hidden=hidden, seq_len=200,
                                                        batch=8, dtype="float64", seed=seed))
                    rates.append(res.rate)
                    lyap.append(np.exp(res.lyapunov[0]))
                measured, predicted = statistics.median(rates), meanfield.rate("tanh", s, sigma, 0.0)
                print(f"{hidden:5d} {sigma:5.1f} {s:4.1f} {measured:9.4f} {predicted:10.4f} "
                      f"{100 * (measured / predicted - 1):+6.2f}% {statistics.median(lyap):8.4f}", flush=True)
    per_config = timed(lambda: meanfield.rate("tanh", 1.0, 1.0, 0.0))
    grid = PhaseConfig(s_count=41, y_count=31)
    edge = timed(lambda: mean_field_edges(grid), repeats=5)
    cfg = core.UnrollConfig()
    net, x, h0, v = probe.build(cfg)
    trace = CELLS["rnn"].probe(net, x, h0, v, "last")
    lyap = timed(lambda: CELLS["rnn"].lyapunov(net, trace, x, h0))
    unroll = timed(lambda: core.unroll(cfg))
    print(f"mean-field factor per configuration: {per_config * 1e3:.2f} ms (target < 5 ms)")
    print(f"mean-field edge of a 41 x 31 phase grid: {edge * 1e3:.1f} ms (target < 50 ms)")
    print(f"Lyapunov exponents at the default view: {lyap * 1e3:.2f} ms = {100 * lyap / (unroll - lyap):.0f}% of the "
          f"rest of the unroll ({(unroll - lyap) * 1e3:.1f} ms; target <= 30%)")


if __name__ == "__main__":
    main()
