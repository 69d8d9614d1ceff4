"""core.inspect against one plain forward + backward of the same torch module, measured in one process.

    .venv/bin/python benchmarks/bench_inspect.py [--repeats N]

The baseline is what a user runs anyway: module(x), the app's loss on the top layer's last output, and
loss.backward() into the module's parameters. core.inspect computes ‖∂L/∂h_t‖ for every layer, direction and step
(and its Lyapunov exponents, saturation and diagnosis). Targets: ≤ 2× at B 8, H 256, T 256, 2 layers; ≤ 3×
bidirectional. Prints the median seconds of each and the ratio, and a second baseline with subnormal numbers
flushed to zero (torch.set_flush_denormal): the far steps' gradients of a vanishing network are subnormal in float32,
which slows the plain backward pass several-fold on x86; core.inspect keeps them (the curve shows them), so the
ratio against the flushed baseline is the stricter one. "curves only" is the forward and backward pass alone (what
the per-step curves cost, without the Lyapunov loop).
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import core  # noqa: E402
from core.inspect import _norm_curve, _weights, architecture_of, backprop, inspect  # noqa: E402
from harness.timing import median_times  # noqa: E402

CASES = [  # (label, module factory, target)
    ("LSTM 2 layers", lambda: torch.nn.LSTM(256, 256, 2), 2.0),
    ("LSTM 2 layers bidirectional", lambda: torch.nn.LSTM(256, 256, 2, bidirectional=True), 3.0),
    ("GRU 2 layers", lambda: torch.nn.GRU(256, 256, 2), 2.0),
    ("RNN tanh 2 layers", lambda: torch.nn.RNN(256, 256, 2), 2.0),
    ("LSTM 2 layers proj 128", lambda: torch.nn.LSTM(256, 256, 2, proj_size=128), 2.0),
]
T, B = 256, 8


def plain(module, x, v, flush=False):
    def run():
        torch.set_flush_denormal(flush)
        try:
            out, _ = module(x)
            (out[-1] @ v).sum().backward()
            module.zero_grad(set_to_none=True)
        finally:
            torch.set_flush_denormal(False)
    return run


def curves_only(module, x, v):
    """The part of core.inspect that makes the curves: the forward pass and the hand-written backward pass (no
    Lyapunov loop, saturation or diagnosis), as inspect runs them (the forward pass in the module's dtype, the
    backward pass summed in float64)."""
    arch = architecture_of(module)
    weights = [_weights(module, arch, layer, reverse, x.dtype, "cpu") for layer in range(arch.num_layers)
               for reverse in ([False, True] if arch.bidirectional else [False])]
    seed = torch.zeros(x.shape[0], x.shape[1], v.numel(), dtype=torch.float64)
    seed[-1] = v.double()

    def run():
        for r in backprop(arch, weights, x, seed, backward_dtype=torch.float64):
            _norm_curve(r.g)
    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", default="", help="run the cases whose label contains this text")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="cpu: this process's CPU time (one thread), steadier than wall time on a busy machine")
    args = parser.parse_args()
    core.configure_threads()
    warnings.filterwarnings("ignore", message="LSTM with projections is not supported with oneDNN")
    torch.manual_seed(0)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    print(f"T {T}, batch {B}, {torch.get_num_threads()} torch thread(s); median of {args.repeats}, {args.clock} time")
    print(f"{'module':<30} {'plain fwd+bwd':>14} {'flushed':>10} {'core.inspect':>13} {'curves only':>12} "
          f"{'ratio':>6} {'vs flushed':>10} {'curves vs flushed':>18} {'target':>7}")
    for label, make, target in [case for case in CASES if args.only in case[0]]:
        module = make()
        x = torch.randn(T, B, module.input_size)
        width = (module.proj_size or module.hidden_size) * (2 if module.bidirectional else 1)
        v = torch.randn(width)
        v /= v.norm()
        base, flushed, ours, curves = median_times([plain(module, x, v), plain(module, x, v, flush=True),
                                                    lambda: inspect(module, x, readout=v), curves_only(module, x, v)],
                                                   args.repeats, clock=clock)
        print(f"{label:<30} {base * 1e3:11.1f} ms {flushed * 1e3:7.1f} ms {ours * 1e3:10.1f} ms {curves * 1e3:9.1f} ms "
              f"{ours / base:6.2f} {ours / flushed:10.2f} {curves / flushed:18.2f} {target:7.1f}")


if __name__ == "__main__":
    main()
