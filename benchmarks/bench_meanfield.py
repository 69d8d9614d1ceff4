"""Mean-field theory against measurement, and what the theory costs.

Run: .venv/bin/python benchmarks/bench_meanfield.py [--seeds 1] [--write]
1. The fitted per-step factor of a vanilla RNN (gaussian W, T = 200, batch 8, float64; median over seeds) against
   the mean-field √χ, for every activation, biases −3, 0 and 3, input scales 0.5 and 1, at H = 256 and 1024,
   s ∈ {0.5, 1, 1.5, 2, 3}; with --write the table goes to core/data/meanfield_accuracy.json, which the app's
   theory note reads (how far to trust the line for the setting on screen) and the README quotes.
2. Cost: mean-field factor per configuration (target < 5 ms), the mean-field edge of a 41 × 31 phase grid (target
   < 50 ms), and the Lyapunov exponents as a share of an unroll at the default view (target ≤ 30 %).
"""
import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import core  # noqa: E402
from core import meanfield, probe  # noqa: E402
from core.cells import CELLS  # noqa: E402
from core.phase import PhaseConfig, mean_field_edges  # noqa: E402
from harness.timing import median_time  # noqa: E402

ACTIVATIONS = ("tanh", "sigmoid", "relu", "linear")
BIASES = (-3.0, 0.0, 3.0)
INPUT_SCALES = (0.5, 1.0)
SCALES = (0.5, 1.0, 1.5, 2.0, 3.0)
HIDDEN = (256, 1024)


def accuracy_rows(seeds: int) -> list[dict]:
    """One row per (activation, bias, input scale, H): the measured/mean-field error at each s (percent)."""
    rows = []
    print(f"{'f':>8} {'bias':>5} {'input':>5} {'H':>5}  errors at s = {', '.join(f'{s:g}' for s in SCALES)} (%)")
    for activation in ACTIVATIONS:
        for bias in BIASES:
            for sigma in INPUT_SCALES:
                for hidden in HIDDEN:
                    errors = []
                    for s in SCALES:
                        rates = [core.unroll(core.UnrollConfig(activation=activation, bias=bias, weight_scale=s,
                                                               input_scale=sigma, hidden=hidden, seq_len=200, batch=8,
                                                               dtype="float64", seed=seed)).rate
                                 for seed in range(seeds)]
                        rates = [r for r in rates if r is not None]
                        predicted = meanfield.rate(activation, s, sigma, bias)
                        errors.append(round(100 * (statistics.median(rates) / predicted - 1), 2)
                                      if rates and predicted > 0 else None)
                    rows.append({"activation": activation, "bias": bias, "input_scale": sigma, "hidden": hidden,
                                 "weight_scales": list(SCALES), "error_percent": errors})
                    shown = ", ".join("—" if e is None else f"{e:+.2f}" for e in errors)
                    print(f"{activation:>8} {bias:5.1f} {sigma:5.1f} {hidden:5d}  {shown}", flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--write", action="store_true", help="write core/data/meanfield_accuracy.json")
    args = parser.parse_args()
    core.configure_threads()
    rows = accuracy_rows(args.seeds)
    if args.write:
        meanfield.ACCURACY_FILE.parent.mkdir(exist_ok=True)
        meanfield.ACCURACY_FILE.write_text(json.dumps({"measured_with": "benchmarks/bench_meanfield.py --write",
                                                       "seq_len": 200, "batch": 8, "seeds": args.seeds,
                                                       "rows": rows}, indent=1) + "\n")
    per_config = median_time(lambda: meanfield.rate("tanh", 1.0, 1.0, 0.0), 20)
    grid = PhaseConfig(s_count=41, y_count=31)
    edge = median_time(lambda: mean_field_edges(grid), 5)
    cfg = core.UnrollConfig()
    net, x, h0, v = probe.build(cfg)
    trace = CELLS["rnn"].probe(net, x, h0, v, "last")
    lyap = median_time(lambda: CELLS["rnn"].lyapunov(net, trace, x, h0), 20)
    unroll = median_time(lambda: core.unroll(cfg), 20)
    print(f"mean-field factor per configuration: {per_config * 1e3:.2f} ms (target < 5 ms)")
    print(f"mean-field edge of a 41 x 31 phase grid: {edge * 1e3:.1f} ms (target < 50 ms)")
    print(f"Lyapunov exponents at the default view: {lyap * 1e3:.2f} ms = {100 * lyap / (unroll - lyap):.0f}% of the "
          f"rest of the unroll ({(unroll - lyap) * 1e3:.1f} ms; target <= 30%)")


if __name__ == "__main__":
    main()
