"""Gradient flossing (Engelken 2023, "Gradient Flossing: Improving Gradient Descent through Dynamic Control of
Jacobians", NeurIPS; arXiv 2312.17306): push the top K Lyapunov exponents of the forward dynamics towards 0 by
adding their sum of squares to the loss, so that perturbations, and the gradients pushed back through the same
Jacobians, neither shrink nor grow along the trajectory.

The exponents are those of core/lyapunov.py, computed the same way but under autograd, along the training batch's
own trajectory (its first FLOSS_SEQUENCES sequences, each on its own): K orthonormal tangent vectors are pushed
through the step Jacobians J_t = ∂state_t/∂state_{t−1} of the trained layer, re-orthonormalised every few steps by
torch.linalg.qr (whose gradient torch knows; see qr_exponents), and λ_i = mean over the steps after the burn-in of
log|R_ii|. The
flossing term is TrainConfig.floss_weight (default 1) × Σ_i λ_i², averaged over the sequences: the exponents are
in nats per step, so K = 16 exponents of −0.2 add 0.64 at weight 1, the size of a chance-level cross-entropy. The
diagonal cells (LRU, minGRU) have their exponents in closed form, as in core/lyapunov.py.

Each supported cell has one tangent builder here, keyed by its registry name; a cell without one cannot be
flossed (TrainConfig says so).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from .budget import Budget
from .cells.base import linear_scan
from .cells.layers import TrainLayer
from .lyapunov import LOG_RANGE, QR_EVERY, burn_in

FLOSS_SEQUENCES = 1              # the batch's sequences whose trajectories are flossed: the first, as core/lyapunov.py
                                 # (each more costs as much again: the fixed cost of the QRs dominates)
DENSE_ELEMENTS = 2**22           # numbers in all steps' Jacobians (T × sequences × dim²) up to which they are formed
                                 # at once (16 MB in float32)
REPORT_K = 5                     # exponents recorded on probe steps when flossing is off (as core/lyapunov.TOP)


def start_frame(dim: int, k: int, dtype: torch.dtype) -> torch.Tensor:
    """The orthonormal tangent vectors the QR method starts from: the same as core/lyapunov.qr_exponents (seed 0)."""
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((dim, k)))
    return torch.from_numpy(q).to(dtype)


def qr_exponents(step: Callable[[int, torch.Tensor], torch.Tensor], seq_len: int, batch: int, dim: int,
                 k: int, dtype: torch.dtype) -> torch.Tensor:
    """(batch, k) exponents, descending, of the Jacobian products applied by step(t, Q) = J_t Q for Q (batch, dim, k),
    differentiable.

    The QR runs every few steps, not at every step: the product of the R factors of a block's single QR has the
    same diagonal as that of a QR at each of its steps (the exponents and their gradient are the same function of
    the weights), while each QR and its backward cost a dozen small calls. The blocks are chosen as core/lyapunov.py
    chooses them, for this dtype's precision: each as long as keeps the tangent vectors' drift (the spread of the
    block's log|R_ii|) under e^log_range(dtype), at most lyapunov.QR_EVERY steps; a block that still drifted further
    is done again with a QR at every step; a block ends where the burn-in ends."""
    q = start_frame(dim, k, dtype).expand(batch, dim, k)
    start = burn_in(seq_len)
    limit = log_range(dtype)
    logs = []
    t, length = 0, 1
    while t < seq_len:
        end = min(t + length, seq_len, start if t < start else seq_len)
        q_next, block = _block(step, q, t, end)
        spread = _spread(block)
        if end - t > 1 and not spread <= 1.5 * limit:        # drifted too far apart (or NaN): a QR at every step
            q_next, block = _block(step, q, t, end, every_step=True)
            spread = _spread(block)
        if t >= start:
            logs.append(block)
        per_step = spread / (end - t)
        length = int(min(QR_EVERY, max(1, limit // per_step))) if per_step > 0 else QR_EVERY
        q, t = q_next, end
    if not logs:
        return q.new_full((batch, k), float("nan"))
    return torch.sort(torch.stack(logs).sum(0) / (seq_len - start), dim=-1, descending=True).values


def _spread(block: torch.Tensor) -> float:
    """The largest drift apart of the tangent vectors over a block, in nats (NaN if they blew up)."""
    block = block.detach()
    return float((block.max(-1).values - block.min(-1).values).max())


def log_range(dtype: torch.dtype) -> float:
    """How far apart (in nats) the tangent vectors may drift between two QRs: core/lyapunov.py's LOG_RANGE in
    float64; in float32 (eps 1.2e-7) e^4, so the smallest direction keeps ~5 significant digits."""
    return LOG_RANGE if dtype == torch.float64 else 4.0


def _block(step, q: torch.Tensor, start: int, end: int, every_step: bool = False):
    """Push Q through steps start..end−1; the re-orthonormalised Q and the summed log|R_ii|, (batch, k)."""
    diagonals = []
    for t in range(start, end):
        q = step(t, q)
        if every_step or t == end - 1:
            q, r = torch.linalg.qr(q)
            diagonals.append(torch.diagonal(r, dim1=-2, dim2=-1))
    logs = torch.log(torch.stack(diagonals).abs())
    return q, logs.sum(0) if len(diagonals) > 1 else logs[0]


def _top(values: torch.Tensor, k: int) -> torch.Tensor:
    return torch.sort(values, dim=-1, descending=True).values[..., :k]


def _times(w: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """W Q for every sequence's Q (batch, dim, k). One sequence (what training flosses) as a plain matrix product:
    a broadcast `w @ q` is a batched product whose backward sums W's gradient over the batch, a third slower."""
    return (w @ q[0]).unsqueeze(0) if q.shape[0] == 1 else w @ q


def dense_jacobians(cell: str, seq_len: int, sequences: int, hidden: int) -> bool:
    """Form every step's Jacobian at once (the LSTM, while they fit in DENSE_ELEMENTS numbers), rather than apply
    the tangent map step by step: a dozen small calls per step become one."""
    return cell == "lstm" and seq_len * sequences * state_size(cell, hidden) ** 2 <= DENSE_ELEMENTS


def _dense_step(jac: torch.Tensor) -> Callable:
    """step(t, Q) = J_t Q for Jacobians jac (T, B, dim, dim), taken with unbind once (see _steps)."""
    if jac.shape[1] == 1:
        mats = jac[:, 0].unbind(0)
        return lambda t, q: (mats[t] @ q[0]).unsqueeze(0)
    mats = jac.unbind(0)
    return lambda t, q: mats[t] @ q


def _steps(*coefficients: torch.Tensor) -> list:
    """Per-step coefficient tensors (T, B, n) -> one tuple of (B, n, 1) tensors per step. Taken with unbind once:
    indexing a graph tensor step by step makes its backward allocate a full-size zero tensor per step."""
    return list(zip(*(c.unsqueeze(-1).unbind(0) for c in coefficients)))


def _rnn(layer, x: torch.Tensor, k: int, h: torch.Tensor | None = None) -> torch.Tensor:
    """J_t = diag(f′(a_t)) W_hh."""
    h = layer.layer(x)[0] if h is None else h
    steps = _steps((1 - h * h) if layer.layer.nonlinearity == "tanh" else (h > 0).to(h.dtype))
    w = layer.layer.weight_hh_l0
    return qr_exponents(lambda t, q: steps[t][0] * _times(w, q), x.shape[0], x.shape[1], w.shape[1], k, x.dtype)


class _CellScan(torch.autograd.Function):
    """c_t = f_t ⊙ c_{t−1} + d_t from c_{−1} = 0 along dim 0, in log2(T) vectorised passes both ways
    (core/cells/base.linear_scan) rather than a few autograd calls per step."""

    @staticmethod
    def forward(ctx, f, d):
        c = linear_scan(d.detach().clone(), f.detach())
        ctx.save_for_backward(f, c)
        return c

    @staticmethod
    def backward(ctx, grad):
        f, c = ctx.saved_tensors
        # ∂/∂d_t = grad_t + f_{t+1} ⊙ ∂/∂d_{t+1}; ∂/∂f_t = ∂/∂d_t ⊙ c_{t−1}
        grad_d = linear_scan(grad.clone(), torch.cat([f[1:], torch.zeros_like(f[:1])]), reverse=True)
        return grad_d * torch.cat([torch.zeros_like(c[:1]), c[:-1]]), grad_d


def _gates(layer, x: torch.Tensor, h: torch.Tensor):
    """Every step's pre-activations from the input and the previous state (zero before the first step)."""
    h_prev = torch.cat([torch.zeros_like(h[:1]), h[:-1]])
    lay = layer.layer
    return h_prev, x @ lay.weight_ih_l0.T + lay.bias_ih_l0, h_prev @ lay.weight_hh_l0.T + lay.bias_hh_l0


def _lstm(layer, x: torch.Tensor, k: int, h: torch.Tensor | None = None) -> torch.Tensor:
    """The Jacobian of (h_t, c_t) with respect to (h_{t−1}, c_{t−1}), as core/cells/lstm.py's tangent map."""
    h = layer.layer(x)[0] if h is None else h
    hid = h.shape[-1]
    _, gi, gh = _gates(layer, x, h)
    pre = gi + gh
    i, f, o = (torch.sigmoid(pre[..., j * hid:(j + 1) * hid]) for j in (0, 1, 3))
    g = torch.tanh(pre[..., 2 * hid:3 * hid])
    c = _CellScan.apply(f, i * g)
    c_before = torch.cat([torch.zeros_like(c[:1]), c[:-1]])
    tanh_c = torch.tanh(c)
    a_f, a_i, a_g = f * (1 - f) * c_before, i * (1 - i) * g, i * (1 - g * g)
    a_o, b_c = o * (1 - o) * tanh_c, o * (1 - tanh_c * tanh_c)
    w = layer.layer.weight_hh_l0
    if dense_jacobians("lstm", x.shape[0], x.shape[1], hid):
        # J_t = [[diag(a_o) W_o + diag(b_c) C_t, diag(b_c f)], [C_t, diag(f)]], C_t = Σ_{i,f,g} diag(a_gate) W_gate:
        # every step's Jacobian in a few batched calls, so the sequential part is one product (and a QR) per step
        # J_t = Σ_blocks diag(r_t,block) M_block with M = [W_i 0; W_f 0; W_g 0; W_o 0; 0 I] (5H × 2H): one product
        zero = torch.zeros_like(a_o)
        rows = torch.stack([torch.stack([b_c * a_i, b_c * a_f, b_c * a_g, a_o, b_c * f], dim=-2),
                            torch.stack([a_i, a_f, a_g, zero, f], dim=-2)], dim=-3)          # (T, B, 2, 5, H)
        eye = torch.eye(hid, dtype=w.dtype)
        blocks = torch.cat([torch.cat([w, w.new_zeros(4 * hid, hid)], dim=1),
                            torch.cat([torch.zeros_like(eye), eye], dim=1)]).view(5, hid, 2 * hid)
        jac = torch.einsum("tbsjh,jhk->tbshk", rows, blocks).reshape(*rows.shape[:2], 2 * hid, 2 * hid)
        return qr_exponents(_dense_step(jac), x.shape[0], x.shape[1], 2 * hid, k, x.dtype)
    # the coefficients of dz = W_hh dh in dc_t, gate by gate (i, f, g, o): one product per step, not four
    a_z = torch.cat([a_i, a_f, a_g, torch.zeros_like(a_o)], dim=-1)
    steps = _steps(a_z, f, a_o, b_c)

    def step(t, q):
        c_z, c_f, c_o, c_b = steps[t]
        dz = _times(w, q[:, :hid])                                            # (batch, 4H, k)
        dc_new = c_f * q[:, hid:] + (c_z * dz).view(dz.shape[0], 4, hid, -1).sum(1)
        dh_new = c_o * dz[:, 3 * hid:] + c_b * dc_new
        return torch.cat([dh_new, dc_new], dim=1)
    return qr_exponents(step, x.shape[0], x.shape[1], 2 * hid, k, x.dtype)


def _gru(layer, x: torch.Tensor, k: int, h: torch.Tensor | None = None) -> torch.Tensor:
    """∂h_t/∂h_{t−1} of torch's GRU, as core/cells/gru.py's tangent map."""
    h = layer.layer(x)[0] if h is None else h
    hid = h.shape[-1]
    h_prev, gi, gh = _gates(layer, x, h)
    r = torch.sigmoid(gi[..., :hid] + gh[..., :hid])
    z = torch.sigmoid(gi[..., hid:2 * hid] + gh[..., hid:2 * hid])
    n = torch.tanh(gi[..., 2 * hid:] + r * gh[..., 2 * hid:])
    a_r, a_z, a_n, d = r * (1 - r) * gh[..., 2 * hid:], z * (1 - z), 1 - n * n, h_prev - n
    # dh_t = Σ over the gate blocks of c ⊙ (W_hh dh) + z ⊙ dh, with the blocks' coefficients (r, z, n):
    keep = 1 - z
    c_all = torch.cat([keep * a_n * a_r, d * a_z, keep * a_n * r], dim=-1)
    steps = _steps(c_all, z)
    w = layer.layer.weight_hh_l0

    def step(t, q):
        c, z_t = steps[t]
        dz_all = c * _times(w, q)                                           # (batch, 3H, k)
        return dz_all.view(dz_all.shape[0], 3, hid, -1).sum(1) + z_t * q
    return qr_exponents(step, x.shape[0], x.shape[1], hid, k, x.dtype)


def _mingru(layer, x: torch.Tensor, k: int, h=None) -> torch.Tensor:
    """diag(1 − z_t): λ_j = mean over the steps after the burn-in of ln(1 − z_t,j)."""
    keep_log = torch.nn.functional.logsigmoid(-layer.gate(x))           # ln(1 − σ(a)), exact for large a
    return _top(keep_log[burn_in(x.shape[0]):].mean(0), k)


def _lru(layer, x: torch.Tensor, k: int, h=None) -> torch.Tensor:
    """diag(Λ) at every step: λ_j = ln|λ_j| = −exp(ν_j), the same for every sequence."""
    return _top(-torch.exp(layer.nu_log), k).expand(x.shape[1], k)


# cell name -> (state size per hidden unit, exponents(layer, x (T, B, D), k, states or None) -> (B, k) descending)
FLOSS: dict[str, tuple[int, Callable[[TrainLayer, torch.Tensor, int, torch.Tensor | None], torch.Tensor]]] = {
    "rnn": (1, _rnn), "lstm": (2, _lstm), "gru": (1, _gru), "mingru": (1, _mingru), "lru": (1, _lru)}


SHARES_STATES = ("rnn", "lstm", "gru")     # cells whose layer outputs are the states the exponents follow


def state_size(cell: str, hidden: int) -> int:
    """The dimension of the state whose exponents are computed (the LSTM's is (h, c): 2H)."""
    return FLOSS[cell][0] * hidden


def exponents(cell: str, layer: TrainLayer, x: torch.Tensor, k: int,
              states: torch.Tensor | None = None) -> torch.Tensor:
    """Top k exponents (nats per step, descending) along each sequence of x (T, B, D): (B, k), under autograd.
    `states`: the layer's outputs (T, B, H) on x if the caller has them (a training step's forward, whose backward
    then carries the flossing term's gradient too); otherwise the layer runs again."""
    return FLOSS[cell][1](layer, x, k, states)


def penalty(lyap: torch.Tensor) -> torch.Tensor:
    """Σ_i λ_i², averaged over the sequences."""
    return (lyap * lyap).sum(-1).mean()


# Cost model of one flossing term (forward and backward), checked against measurements by
# benchmarks/bench_learning.py (the cost section): at every step a product with W_hh, a QR of a dim × k matrix and
# their gradients, a dozen small calls whose fixed cost dominates at the lab's sizes.
STEP_OVERHEAD = {"rnn": 100e-6, "gru": 150e-6, "lstm": 200e-6}   # seconds per time step and sequence, forward only
BACKWARD_FACTOR = 2.7            # forward and backward against forward only (measured 2.5-2.7)
FLOSS_FLOP_RATE = 6e9            # small batched products and QRs run below the fused kernels' rate
W_ROWS = {"rnn": 1, "lstm": 4, "gru": 3}   # H-row blocks of W_hh in the tangent's product


def cost(cell: str, seq_len: int, hidden: int, k: int, sequences: int, backward: bool = True) -> Budget:
    """Memory and time of one flossing term for `sequences` trajectories (backward=False: the exponents alone,
    without autograd, as recorded on probe steps: a third of the work)."""
    passes = 3 if backward else 1
    if cell not in W_ROWS:                       # diagonal cells: closed form, elementwise over (T, B, H)
        return Budget(16 * seq_len * sequences * hidden, 1e-3 + passes * seq_len * 2e-6)
    overhead = STEP_OVERHEAD[cell] * (BACKWARD_FACTOR if backward else 1)
    dim = state_size(cell, hidden)
    flops = passes * seq_len * sequences * (2 * W_ROWS[cell] * hidden * hidden * k + 4 * dim * k * k)
    memory = (4 * seq_len * sequences * (6 * dim * k + 4 * W_ROWS[cell] * hidden * k + 12 * hidden) if backward
              else 4 * sequences * (2 * dim * k + 12 * seq_len * hidden))
    if backward and dense_jacobians(cell, seq_len, sequences, hidden):    # the Jacobians, their parts and gradients
        memory += 6 * 4 * seq_len * sequences * dim * dim
    return Budget(memory, seq_len * sequences * overhead + flops / FLOSS_FLOP_RATE)
