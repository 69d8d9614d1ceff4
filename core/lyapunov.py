"""Lyapunov exponents of the forward dynamics, along the trajectory the network actually took.

The standard QR method (Benettin et al. 1980; for recurrent networks e.g. Engelken, Wolf & Abbott 2023): push an
orthonormal set of m tangent vectors through the step Jacobians J_t = ∂state_t/∂state_{t−1} of the first sequence,
re-orthonormalise them every few steps with a QR decomposition, and average log|R_ii| over the steps after a
burn-in. The exponents come out in nats per step, largest first. The largest is the growth rate of a generic
perturbation; a back-propagated gradient is pushed through the transposed Jacobians of the same steps, so for a
random network ln(per-step factor of ‖∂L/∂h‖) ≈ λ_max (and mean-field theory predicts both: ln √χ).
Each cell supplies its tangent map (core/cells/<cell>.py, `CellSpec.tangents`); diagonal cells (LRU, minGRU) have
their exponents in closed form.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

TOP = 5                     # exponents reported
QR_EVERY = 10               # most steps between re-orthonormalisations
LOG_RANGE = 12.0            # the tangent vectors may drift apart by about e^12 between two QRs


def burn_in(seq_len: int) -> int:
    """Steps discarded before averaging: a quarter of the sequence, at most 100."""
    return min(seq_len // 4, 100)


def qr_exponents(tangent_step: Callable[[int, np.ndarray], np.ndarray], seq_len: int, dim: int,
                 top: int = TOP, seed: int = 0) -> np.ndarray:
    """Largest `top` exponents of the product of the Jacobians applied by tangent_step(t, Q) = J_t Q,
    t = 0..seq_len−1, by the QR method in float64 NumPy (small matrices: NumPy's per-call cost is a fraction of
    torch's); NaN when the sequence is too short or the state blew up.

    Between two QRs the largest and smallest directions drift apart by e^(n·(λ_1 − λ_m)) over n steps; once that
    nears 1/eps of float64 the smallest exponents are lost. So the steps go in blocks of up to QR_EVERY, each as
    long as keeps the drift at the spread just measured under e^LOG_RANGE, and a block whose drift still came out
    over e^(1.5·LOG_RANGE) is done again with a QR at every step. A block ends exactly at the end of the burn-in,
    so the average runs over the same steps whatever the block lengths."""
    m = min(top, dim)
    start = burn_in(seq_len)
    if seq_len - start < 2:
        return np.full(m, np.nan)
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((dim, m)))
    sums = np.zeros(m)
    t, length = 0, 1
    with np.errstate(all="ignore"):
        while t < seq_len:
            end = min(t + length, seq_len, start if t < start else seq_len)
            q_next, logs = _block(tangent_step, q, t, end)
            if end - t > 1 and logs.max() - logs.min() > 1.5 * LOG_RANGE:
                q_next, logs = _block(tangent_step, q, t, end, every_step=True)
            if not np.isfinite(logs).all():
                return np.full(m, np.nan)        # a blown-up or collapsed state: no exponent is defined
            if t >= start:
                sums += logs
            spread = (logs.max() - logs.min()) / (end - t)
            length = int(min(QR_EVERY, max(1, LOG_RANGE // spread))) if spread > 0 else QR_EVERY
            q, t = q_next, end
    return np.sort(sums / (seq_len - start))[::-1].copy()


def _block(tangent_step, q: np.ndarray, start: int, end: int, every_step: bool = False):
    """Push Q through steps start..end−1; return the re-orthonormalised Q and the summed log|R_ii|."""
    logs = np.zeros(q.shape[1])
    for t in range(start, end):
        q = tangent_step(t, q)
        if every_step or t == end - 1:
            q, r = np.linalg.qr(q)
            logs += np.log(np.abs(np.diagonal(r)))
    return q, logs


def diagonal_exponents(log_multipliers: torch.Tensor, top: int = TOP) -> np.ndarray:
    """A diagonal Jacobian diag(d_t) has exponents mean_t log|d_t,j|: log_multipliers is (T, H) of log|d_t,j|
    (or (H,) when constant); the `top` largest after the burn-in, descending."""
    means = log_multipliers if log_multipliers.dim() == 1 else log_multipliers[burn_in(len(log_multipliers)):].mean(0)
    return np.sort(means.to(torch.float64).numpy())[::-1][:top].copy()
