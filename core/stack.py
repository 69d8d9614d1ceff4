"""Stacked layers of the vanilla RNN, LSTM or GRU: ‖∂L/∂h^l_t‖ for every layer l and step t in one backward pass.

Layer l's state sequence is layer l + 1's input; the loss reads the top layer (the same unit readout as one layer).
The stack runs on core/inspect.py's machinery (the one that unrolls a user's torch.nn.RNN/LSTM/GRU): torch's fused
forward kernel per layer, then one hand-written reverse loop per layer, top layer first, whose gradient on the
layer's input is the direct term of the layer below; so each state gets the total derivative (through the layer's
own recurrence and through the layers above), and every weight its gradient (for the clipping factor) from one
batched product per weight afterwards.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .cells import Network, Trace, derivative_from_output
from .inspect import Architecture, _lyapunov, backprop


@dataclass
class StackTrace:
    """The top layer's Trace (what the one-layer result fields describe) and every layer's gradients."""
    top: Trace
    g: list                        # per layer, bottom first: (T, B, H) ∂L/∂h^l_t
    gc: list | None                # LSTM: per layer, ∂L/∂c^l_t
    states: list                   # per layer: (T, B, H) states h^l_t (detached)
    lyapunov: np.ndarray           # exponents of the joint forward dynamics of the stack (sequence 0)


def architecture(cell: str, activation: str, layers: int, hidden: int) -> Architecture:
    return Architecture(kind=cell, num_layers=layers, input_size=hidden, hidden_size=hidden, proj_size=0,
                        bidirectional=False, nonlinearity=activation if cell == "rnn" else "sigmoid/tanh gates")


def _torch_layout(net: Network) -> dict[str, Any]:
    """The layer's weights in torch.nn's names."""
    p = {name: t.detach() for name, t in net.params.items()}
    w: dict[str, Any]
    if net.cell == "rnn":
        w = {"weight_ih": p["w_ih"], "weight_hh": p["w_hh"], "bias_ih": p["b"], "bias_hh": torch.zeros_like(p["b"])}
    else:
        w = dict(p)
    w["weight_hr"] = None
    return w


# Network.params names -> torch.nn names (the vanilla RNN's one bias b is bias_ih; its bias_hh is zero)
TORCH_NAME = {"w_ih": "weight_ih", "w_hh": "weight_hh", "b": "bias_ih"}


def probe(nets: list, x: torch.Tensor, h0s: list, v: torch.Tensor, loss_on: str, lyapunov: bool) -> StackTrace:
    """Unroll `nets` (bottom first) on x (T, B, H) from initial states h0s, L = Σ v·h^top_T (or Σ_t)."""
    T, B, H = x.shape
    cell = nets[0].cell
    arch = architecture(cell, nets[0].activation, len(nets), H)
    top_seed = torch.zeros(T, B, H, dtype=x.dtype)              # ∂L/∂h^top_t, direct
    if loss_on == "last":
        top_seed[-1] = v
    else:
        top_seed[:] = v
    initial = (torch.stack([h0.detach() for h0 in h0s]), None)
    runs = backprop(arch, [_torch_layout(net) for net in nets], x.detach(), top_seed, initial, weight_grads=True)
    with torch.no_grad():
        g = [run.g for run in runs]
        gc = [run.gc for run in runs] if cell == "lstm" else None
        hs = [run.h for run in runs]
        top_record = runs[-1].record[:, 0]
        saturation = (derivative_from_output(nets[-1].activation, top_record).abs() if cell == "rnn"
                      else top_record.clone())
        if cell == "rnn":
            saturation[~torch.isfinite(top_record)] = float("nan")
        param_grads = [(run.param_grads or {})[TORCH_NAME.get(name, name)] for net, run in zip(nets, runs)
                       for name in net.params]                  # every layer's, in Network order
        top = Trace(hs[-1], g[-1], gc[-1] if gc else None, saturation, param_grads)
    finite = all(bool(torch.isfinite(h).all()) for h in hs)
    exponents = np.asarray(_lyapunov(arch, runs, x), dtype=float) if lyapunov and finite else np.array([])
    return StackTrace(top, g, gc, hs, exponents)
