"""Stacked layers of the vanilla RNN, LSTM or GRU: ‖∂L/∂h^l_t‖ for every layer l and step t in one backward pass.

Layer l's state sequence is layer l + 1's input; the loss reads the top layer (the same unit readout as one layer).
The stack is unrolled step by step under autograd with core/inspect.py's cell steps (the ones that unroll a user's
torch.nn.RNN/LSTM/GRU), and torch.autograd.grad takes the total derivative on every state of every layer (through
the layer's own recurrence and through the layers above) and on every weight (for the clipping factor) at once.
One layer keeps the cells' own hand-written probes (core/cells/<cell>.py), which are several times faster.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .cells import Network, Trace, derivative_from_output
from .deadline import within_deadline
from .inspect import Architecture, _gru_direction, _lstm_direction, _lyapunov, _rnn_direction, _sigmoid_first


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


def _torch_layout(net: Network) -> tuple[dict[str, Any], list]:
    """The layer's weights as leaves that want a gradient, in torch.nn's names; and the leaves in Network order."""
    leaves = {name: t.detach().clone().requires_grad_() for name, t in net.params.items()}
    w: dict[str, Any]
    if net.cell == "rnn":
        w = {"weight_ih": leaves["w_ih"], "weight_hh": leaves["w_hh"], "bias_ih": leaves["b"],
             "bias_hh": torch.zeros_like(leaves["b"])}
    else:
        w = dict(leaves)
    w["weight_hr"] = None
    return w, list(leaves.values())


def probe(nets: list, x: torch.Tensor, h0s: list, v: torch.Tensor, loss_on: str, lyapunov: bool) -> StackTrace:
    """Unroll `nets` (bottom first) on x (T, B, H) from initial states h0s, L = Σ v·h^top_T (or Σ_t)."""
    T, B, H = x.shape
    cell = nets[0].cell
    arch = architecture(cell, nets[0].activation, len(nets), H)
    inp = x
    states: list[tuple] = []
    params: list[torch.Tensor] = []
    records: list = []
    with torch.enable_grad():
        for net, h0 in zip(nets, h0s):
            w, leaves = _torch_layout(net)
            params += leaves
            order = within_deadline(range(T))
            flat = inp.reshape(T * B, -1)
            record: list = []
            cs = None
            if cell == "lstm":
                xw = torch.addmm(_sigmoid_first(w["bias_ih"] + w["bias_hh"], H), flat,
                                 _sigmoid_first(w["weight_ih"], H).T).view(T, B, -1)
                hs, cs = _lstm_direction(xw.unbind(0), w, order, h0, torch.zeros_like(h0), record)
            elif cell == "gru":
                xw = torch.addmm(w["bias_ih"], flat, w["weight_ih"].T).view(T, B, -1)
                hs = _gru_direction(xw.unbind(0), w, order, h0, record)
            else:
                xw = torch.addmm(w["bias_ih"] + w["bias_hh"], flat, w["weight_ih"].T).view(T, B, -1)
                hs = _rnn_direction(xw.unbind(0), w, order, h0, net.activation, record)
            states.append((len(states), "forward", hs, cs, w, inp, record))
            records.append(record)
            inp = torch.stack(hs)
        loss = (inp[-1] @ v).sum() if loss_on == "last" else (inp @ v).sum()
        wanted = [s for _, _, hs, cs, *_ in states for s in hs + (cs or [])]
        grads = torch.autograd.grad(loss, wanted + params, allow_unused=True, materialize_grads=True)
    with torch.no_grad():
        g: list[torch.Tensor] = []
        gc: list[torch.Tensor] | None = [] if cell == "lstm" else None
        at = 0
        for _, _, hs, cs, *_ in states:
            g.append(torch.stack(grads[at:at + T]))
            at += T
            if cs is not None and gc is not None:
                gc.append(torch.stack(grads[at:at + T]))
                at += T
        hs_detached = [torch.stack(hs).detach() for _, _, hs, *_ in states]
        top_record = torch.stack(records[-1])[:, 0]
        saturation = (derivative_from_output(nets[-1].activation, top_record).abs() if cell == "rnn"
                      else top_record.clone())
        if cell == "rnn":
            saturation[~torch.isfinite(top_record)] = float("nan")
        top = Trace(hs_detached[-1], g[-1], gc[-1] if gc else None, saturation, [p.detach() for p in grads[at:]])
    finite = all(bool(torch.isfinite(h).all()) for h in hs_detached)
    exponents = np.array([])
    if lyapunov and finite:
        detached = [(layer, d, hs, cs, {k: (t.detach() if t is not None else None) for k, t in w.items()},
                     inp.detach(), rec) for layer, d, hs, cs, w, inp, rec in states]
        exponents = np.asarray(_lyapunov(arch, detached, x), dtype=float)
    return StackTrace(top, g, gc, hs_detached, exponents)
