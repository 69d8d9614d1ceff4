"""A stacked unroll (core/stack.py: the hand-written backward of core/inspect.py) against the layers' plain torch
forward + backward.

Run: .venv/bin/python benchmarks/bench_layers.py [T H batch repeats]
For each cell and depth: core.unroll at `layers` (every layer's curve, the weight gradients, the stack's Lyapunov
exponents), its probe alone, and one plain forward + backward of torch.nn.RNN/LSTM/GRU with num_layers = layers
of the same shape (the fused kernels); at one layer the cell's own probe. Medians, alternating, one thread.
"""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import core  # noqa: E402
from core import stack  # noqa: E402
from core.probe import build_stack  # noqa: E402
from harness.timing import median_times  # noqa: E402

MODULES = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}


def main(seq_len=100, hidden=64, batch=8, repeats=5):
    core.runtime.configure_threads()
    print(f"T {seq_len}, H {hidden}, batch {batch}, float32; seconds (median of {repeats})")
    print(f"{'cell':5s} {'layers':>6s} {'unroll':>8s} {'probe':>8s} {'torch':>8s} {'probe/torch':>11s}")
    for cell, module in MODULES.items():
        for layers in (1, 2, 3, 4):
            cfg = core.UnrollConfig(cell=cell, layers=layers, seq_len=seq_len, hidden=hidden, batch=batch)
            nets, x, h0s, v = build_stack(cfg)
            if layers == 1:
                probe = lambda: core.cells.CELLS[cell].probe(nets[0], x, h0s[0], v, "last")  # noqa: E731
            else:
                probe = lambda: stack.probe(nets, x, h0s, v, "last", lyapunov=False)  # noqa: E731
            plain = module(hidden, hidden, num_layers=layers)

            def fwd_bwd():
                (plain(x)[0][-1] @ v).sum().backward()
            unroll, probed, fused = median_times([lambda: core.unroll(cfg), probe, fwd_bwd], repeats, alternate=True)
            print(f"{cell:5s} {layers:6d} {unroll:8.3f} {probed:8.3f} {fused:8.3f} {probed / fused:11.2f}")


if __name__ == "__main__":
    main(*[int(a) for a in sys.argv[1:]])
