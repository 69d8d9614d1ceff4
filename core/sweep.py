"""The Gradient flow curve for every weight scale of a grid at once: the data of the page's "Sweep" view.

For the vanilla RNN every scale is one slice of one batched unroll (the phase diagram's batching, with each
slice's W exactly as core.unroll draws it: same seed, same W0 × s, inputs and readout), so the curves are
core.unroll's own. The LSTM and GRU scale every block of W_hh, which
one batched product cannot share; they run one probe per scale. Cells without a weight scale (LRU, minGRU)
have nothing to sweep.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from . import budget, meanfield
from .cells import ACTIVATION_FN, CELLS, GAMMA, derivative_from_output
from .config import UnrollConfig
from .deadline import within_deadline
from .errors import ConfigError
from .norms import step_norms
from .probe import build
from .theory import fit_rate, spectrum


@dataclass
class SweepResult:
    config: UnrollConfig            # the page's settings; its weight scale is the starting frame
    scales: np.ndarray              # (S,) the grid
    distance: np.ndarray            # (T,)
    grad_norm: np.ndarray           # (S, T) ‖∂L/∂h_{T−k}‖ averaged over the batch; NaN behind a blown-up state
    rate: np.ndarray                # (S,) fitted per-step factor (NaN where there is no fit)
    overflow: np.ndarray            # (S,) bool: the forward pass or the gradient stopped being finite
    theory: np.ndarray | None       # (S, T) the theory line (mean-field (√χ)^k from the measured start), or None
    theory_rate: np.ndarray | None  # (S,) √χ
    theory_label: str
    bound: np.ndarray | None        # (S, T) Pascanu's (λ1·s·γ)^k from the measured start (vanilla RNN)

    @property
    def start(self) -> int:
        """The frame of the page's own weight scale (the nearest grid value)."""
        return int(np.argmin(np.abs(np.log(self.scales) - np.log(self.config.weight_scale))))


def sweepable(cell: str) -> bool:
    return "weight_scale" in CELLS[cell].uses


def sweep_cost(cfg: UnrollConfig, scales: int) -> budget.Budget:
    if cfg.cell == "rnn":
        return budget.phase_cost(cfg.seq_len, scales, 1, cfg.batch, cfg.hidden, cfg.dtype)
    one = budget.unroll_cost(cfg.cell, cfg.seq_len, cfg.batch, cfg.hidden, cfg.dtype)
    return budget.Budget(one.memory_bytes + scales * cfg.seq_len * 8, scales * one.seconds)


def weight_scale_sweep(cfg: UnrollConfig, scales) -> SweepResult:
    """The curves of `cfg` at every weight scale in `scales` (everything else as in cfg)."""
    if not sweepable(cfg.cell):
        raise ConfigError("cell", "a cell with a weight scale (Vanilla RNN, LSTM, GRU)", cfg.cell)
    if cfg.layers != 1:           # the sweep's batched curves are of one layer
        raise ConfigError("layers", "1 for the weight-scale sweep (it unrolls one layer)", cfg.layers)
    scales = np.asarray(scales, dtype=float)
    budget.check("weight-scale sweep", sweep_cost(cfg, len(scales)),
                 "the sequence length T, the batch or the hidden size")
    distance = np.arange(cfg.seq_len)
    with torch.no_grad():
        if cfg.cell == "rnn":
            norms, bad = _rnn_curves(cfg, scales)
        else:
            norms, bad = _gated_curves(cfg, scales)
    grad_norm = norms[:, ::-1].copy()                          # index = distance
    grad_norm[bad, 1:] = np.nan                                # as in unroll: nothing is defined behind it
    overflow = bad | ~np.isfinite(grad_norm).all(axis=1)
    rate = np.array([np.nan if (r := fit_rate(distance, row)) is None else r for row in grad_norm])
    theory = theory_rate = bound = None
    label = ""
    k = distance.astype(float)
    start = grad_norm[:, :1]
    if cfg.cell == "rnn":
        gamma = GAMMA[cfg.activation]
        lambda1 = spectrum(build(replace(cfg, weight_scale=1.0))[0].recurrent_block).lambda1
        with np.errstate(over="ignore", invalid="ignore"):
            bound = start * np.power.outer(lambda1 * gamma * scales, k)
            if cfg.init in meanfield.APPLIES_TO_INITS:
                theory_rate = np.array([meanfield.rate(cfg.activation, s, cfg.input_scale, cfg.bias, cfg.h0_scale)
                                        for s in scales])
                theory = start * np.power.outer(theory_rate, k)
                label = "mean-field (√χ)^k"
    return SweepResult(cfg, scales, distance, grad_norm, rate, overflow, theory, theory_rate, label, bound)


def _rnn_curves(cfg: UnrollConfig, scales: np.ndarray):
    """One batched unroll: slice i has W_i exactly as core.unroll draws it at scale i (same seed: the same
    W0, inputs and readout), so in float32 too the curves are unroll's own, not merely alike."""
    nets = [build(replace(cfg, weight_scale=float(s))) for s in scales]
    _, x, h0, v = nets[0]
    w = torch.stack([net.params["w_hh"] for net, *_ in nets])                     # (S, H, H)
    p = nets[0][0].params
    n, T = len(scales), cfg.seq_len
    act = ACTIVATION_FN[cfg.activation]
    drive = (x.reshape(-1, cfg.hidden) @ p["w_ih"].T + p["b"]).view(T, 1, cfg.batch, cfg.hidden)
    h = h0.expand(n, -1, -1)
    deriv = torch.empty(T, n, cfg.batch, cfg.hidden, dtype=x.dtype)
    finite = torch.empty(T, n, dtype=torch.bool)
    for t in within_deadline(range(T)):
        h = act(torch.baddbmm(drive[t], h, w.transpose(1, 2)))                 # f(W_i h + U x_t + b)
        deriv[t] = derivative_from_output(cfg.activation, h)
        finite[t] = torch.isfinite(h.abs().amax(dim=(1, 2)))
    norms = torch.empty(n, T, dtype=torch.float64)
    g = v.expand(n, cfg.batch, -1).clone()
    for t in within_deadline(range(T - 1, -1, -1)):
        norms[:, t] = step_norms(g).mean(dim=1)
        if t:
            g = torch.bmm(g * deriv[t], w)                                      # g_{t−1} = (g_t ⊙ f′(a_t)) W
            if cfg.loss_on == "all":
                g += v
    return norms.numpy(), (~finite).any(dim=0).numpy()


def _gated_curves(cfg: UnrollConfig, scales: np.ndarray):
    spec = CELLS[cfg.cell]
    norms = np.empty((len(scales), cfg.seq_len))
    bad = np.zeros(len(scales), dtype=bool)
    for i, s in enumerate(scales):
        net, x, h0, v = build(replace(cfg, weight_scale=float(s)))
        trace = spec.probe(net, x, h0, v, cfg.loss_on)
        norms[i] = step_norms(trace.g).mean(dim=1).numpy()
        bad[i] = not bool(torch.isfinite(trace.h.abs().amax()))
    return norms, bad
