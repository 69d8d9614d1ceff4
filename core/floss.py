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
    chooses them, for this dtype's precision (_schedule)."""
    q = start_frame(dim, k, dtype).expand(batch, dim, k)
    logs, start = _schedule(lambda q_t, t, end, every_step: _block(step, q_t, t, end, every_step), q, seq_len, dtype)
    if not logs:
        return q.new_full((batch, k), float("nan"))
    return torch.sort(torch.stack(logs).sum(0) / (seq_len - start), dim=-1, descending=True).values


def _schedule(run: Callable, q: torch.Tensor, seq_len: int, dtype: torch.dtype) -> tuple[list, int]:
    """Drive the QR method in blocks from the frame q: run(q, t, end, every_step) pushes the tangent vectors q through
    steps t..end−1 and returns the re-orthonormalised frame and the block's summed log|R_ii|. Each block is as long
    as keeps the tangent vectors' drift (the spread of its log|R_ii|) under e^log_range(dtype), at most
    lyapunov.QR_EVERY steps; a block that still drifted further is done again, from the same frame, with a QR at
    every step; a block ends where the burn-in ends. Returns the blocks after the burn-in, and the burn-in."""
    start = burn_in(seq_len)
    limit = log_range(dtype)
    logs = []
    t, length = 0, 1
    while t < seq_len:
        end = min(t + length, seq_len, start if t < start else seq_len)
        q_next, block = run(q, t, end, False)
        spread = _spread(block)
        if end - t > 1 and not spread <= 1.5 * limit:        # drifted too far apart (or NaN): a QR at every step
            q_next, block = run(q, t, end, True)
            spread = _spread(block)
        if t >= start:
            logs.append(block)
        per_step = spread / (end - t)
        length = int(min(QR_EVERY, max(1, limit // per_step))) if per_step > 0 else QR_EVERY
        q, t = q_next, end
    return logs, start


class _DenseChain(torch.autograd.Function):
    """The QR method along one trajectory's Jacobians of the form J_t = [Σ_j diag(R[t, s, j]) W_j | diag(D[t, s])]
    (block row s of S; W_j the H-row blocks of W_hh acting on h, the state's first H; D on its last H: c of the LSTM,
    h itself when S = 1), from the start frame q0 (S·H, k), in _schedule's blocks; returns Σ log|R_ii| over the
    blocks after the burn-in (k,) (NaN if none).

    Forward: every J_t formed at once, then one product and (every few steps) a QR per step. Backward: one reverse
    loop of one product per step, each QR's gradient taken again from its saved input by torch's own formula; then
    the coefficients' and W's gradients by a few batched products of the per-step gradients G_t and inputs Q_t
    (∂/∂J_t = G_t Q_tᵀ is never formed). Under autograd each step would add graph nodes, and J_t's gradients a
    full-size stack."""

    @staticmethod
    def forward(ctx, R: torch.Tensor, D: torch.Tensor, W: torch.Tensor, q0: torch.Tensor):
        T, S, n, H = R.shape
        d = S * H
        jac = R.new_zeros(T, S, H, d)
        left, blocks = jac[..., :H], W.view(n, H, H)              # Σ_j diag(R[t, s, j]) W_j, block by block
        for j in range(n):
            left.addcmul_(R[:, :, j, :, None], blocks[j])
        torch.diagonal(jac[..., d - H:], dim1=-2, dim2=-1).add_(D)
        jac = jac.view(T, d, d)
        mats = jac.unbind(0)
        inputs: list = [None] * T                                 # each step's tangent vectors before the step
        qrs: dict = {}                                            # step -> (the QR's input, counted in the sums)
        start = burn_in(T)

        def run(q: torch.Tensor, t: int, end: int, every_step: bool) -> tuple[torch.Tensor, torch.Tensor]:
            logs = q0.new_zeros(q0.shape[1])
            for step in range(t, end):
                inputs[step] = q
                q = mats[step] @ q
                if every_step or step == end - 1:
                    qrs[step] = (q, t >= start)
                    q, r = torch.linalg.qr(q)
                    logs += torch.log(torch.diagonal(r).abs())
            return q, logs
        logs, _ = _schedule(run, q0, T, jac.dtype)
        ctx.save_for_backward(R, W, jac, torch.stack(inputs))
        ctx.qrs = qrs
        return torch.stack(logs).sum(0) if logs else q0.new_full((q0.shape[1],), float("nan"))

    @staticmethod
    def backward(ctx, g_sums: torch.Tensor):
        R, W, jac, inputs = ctx.saved_tensors
        T, S, n, H = R.shape
        k = inputs.shape[-1]
        grads: list = [None] * T                                  # ∂/∂(each step's output, before its QR)
        g = torch.zeros_like(inputs[0])                           # the last Q is not used
        transposed = jac.transpose(1, 2).unbind(0)
        for step in range(T - 1, -1, -1):
            if step in ctx.qrs:
                a, counted = ctx.qrs[step]
                with torch.enable_grad():
                    a = a.detach().requires_grad_()
                    q, r = torch.linalg.qr(a)
                    outs, seeds = [q], [g]
                    if counted:
                        outs.append(torch.log(torch.diagonal(r).abs()))
                        seeds.append(g_sums)
                    (g,) = torch.autograd.grad(outs, a, seeds)
            grads[step] = g
            g = transposed[step] @ g
        # ∂/∂J_t = G_t Q_tᵀ, contracted with each way J_t was built
        G = torch.stack(grads).view(T, S, 1, H, k)
        q_h, q_d = inputs[:, :H], inputs[:, S * H - H:]            # what W and what the diagonal act on
        P = torch.matmul(W, q_h).view(T, 1, n, H, k)               # W_j Q_t
        g_R = (G * P).sum(-1)
        g_D = (G[:, :, 0] * q_d.unsqueeze(1)).sum(-1)
        U = (R.unsqueeze(-1) * G).sum(1)                           # (T, n, H, k): Σ_s diag(R[t, s, j]) G_t's block s
        g_W = U.permute(1, 2, 0, 3).reshape(n * H, T * k) @ q_h.permute(0, 2, 1).reshape(T * k, H)
        return g_R, g_D, g_W, None


def _dense_exponents(R: torch.Tensor, D: torch.Tensor, W: torch.Tensor, k: int) -> torch.Tensor:
    """(B, k) exponents, descending, of the Jacobians _DenseChain describes, R (T, B, S, n, H) and D (T, B, S, H) per
    sequence, one trajectory at a time."""
    T, B, S, _, H = R.shape
    q0 = start_frame(S * H, k, R.dtype)
    sums = torch.stack([_DenseChain.apply(R[:, b], D[:, b], W, q0) for b in range(B)])
    return torch.sort(sums / (T - burn_in(T)), dim=-1, descending=True).values


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
    """Form every step's Jacobian at once (the dense cells, while they fit in DENSE_ELEMENTS numbers) and run the QR
    method on them with a hand-written backward pass (_DenseChain), rather than apply the tangent map step by step
    under autograd: a few small calls and graph nodes per step become one product."""
    return cell in W_ROWS and seq_len * sequences * state_size(cell, hidden) ** 2 <= DENSE_ELEMENTS


def _steps(*coefficients: torch.Tensor) -> list:
    """Per-step coefficient tensors (T, B, n) -> one tuple of (B, n, 1) tensors per step. Taken with unbind once:
    indexing a graph tensor step by step makes its backward allocate a full-size zero tensor per step."""
    return list(zip(*(c.unsqueeze(-1).unbind(0) for c in coefficients)))


def _rnn(layer, x: torch.Tensor, k: int, h: torch.Tensor | None = None) -> torch.Tensor:
    """J_t = diag(f′(a_t)) W_hh."""
    h = layer.layer(x)[0] if h is None else h
    deriv = (1 - h * h) if layer.layer.nonlinearity == "tanh" else (h > 0).to(h.dtype)
    w = layer.layer.weight_hh_l0
    if dense_jacobians("rnn", x.shape[0], x.shape[1], h.shape[-1]):
        return _dense_exponents(deriv[:, :, None, None], torch.zeros_like(deriv)[:, :, None], w, k)
    steps = _steps(deriv)
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
        # J_t = [[Σ_j diag(b_c a_j) W_j + diag(a_o) W_o, diag(b_c f)], [Σ_j diag(a_j) W_j, diag(f)]], j = i, f, g
        zero = torch.zeros_like(a_o)
        rows = torch.stack([torch.stack([b_c * a_i, b_c * a_f, b_c * a_g, a_o], dim=-2),
                            torch.stack([a_i, a_f, a_g, zero], dim=-2)], dim=-3)          # (T, B, 2, 4, H)
        return _dense_exponents(rows, torch.stack([b_c * f, f], dim=-2), w, k)
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
    w = layer.layer.weight_hh_l0
    if dense_jacobians("gru", x.shape[0], x.shape[1], hid):
        return _dense_exponents(c_all.view(*c_all.shape[:2], 1, 3, hid), z[:, :, None], w, k)
    steps = _steps(c_all, z)

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


# Cost model of one flossing term (forward and backward): at every step a product with W_hh, a QR of a dim × k
# matrix every few steps and their gradients, a few small calls whose fixed cost dominates at the lab's sizes.
# Fitted (2026-12-07, one thread, K 16, one sequence, forward and backward) on the stepped path at H 128–256 (rnn 76
# and 163 µs a step, gru 200 at H 128, lstm 320 and 697) with a tenth added; the dense path (lstm H 64: 120 µs a step,
# rnn 50) comes out under it. benchmarks/bench_learning.py --cost prints the estimate beside the measurement.
STEP_OVERHEAD = {"rnn": 25e-6, "gru": 45e-6, "lstm": 75e-6}   # seconds per time step and sequence, forward only
BACKWARD_FACTOR = 2.7            # forward and backward against forward only (measured 2.5-2.7)
FLOSS_FLOP_RATE = 45e9           # the per-step products (K columns) and QRs, forward and backward
PROBE_FLOP_RATE = 6e9            # the exponents alone (no gradient, a probe step's 5): BLAS runs 5 columns slowly
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
    return Budget(memory, seq_len * sequences * overhead + flops / (FLOSS_FLOP_RATE if backward else PROBE_FLOP_RATE))
