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
QR_EVERY = 10               # steps between re-orthonormalisations (float64 holds e^{10·λ} easily)


def burn_in(seq_len: int) -> int:
    """Steps discarded before averaging: a quarter of the sequence, at most 100."""
    return min(seq_len // 4, 100)


def qr_exponents(tangent_step: Callable[[int, np.ndarray], np.ndarray], seq_len: int, dim: int,
                 top: int = TOP, seed: int = 0) -> np.ndarray:
    """Largest `top` exponents of the product of the Jacobians applied by tangent_step(t, Q) = J_t Q,
    t = 0..seq_len−1, by the QR method in float64 NumPy (small matrices: NumPy's per-call cost is a fraction of
    torch's); NaN when the sequence is too short or the state blew up."""
    m = min(top, dim)
    start = burn_in(seq_len)
    if seq_len - start < 2:
        return np.full(m, np.nan)
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((dim, m)))
    sums = np.zeros(m)
    counted, last = 0, 0
    with np.errstate(all="ignore"):
        for t in range(seq_len):
            q = tangent_step(t, q)
            if (t + 1) % QR_EVERY == 0 or t == seq_len - 1:
                q, r = np.linalg.qr(q)
                logs = np.log(np.abs(np.diagonal(r)))
                if not np.isfinite(logs).all():
                    return np.full(m, np.nan)        # a blown-up or collapsed state: no exponent is defined
                if last >= start:
                    sums += logs
                    counted += t + 1 - last
                last = t + 1
    return np.sort(sums / max(counted, 1))[::-1].copy()


def diagonal_exponents(log_multipliers: torch.Tensor, top: int = TOP) -> np.ndarray:
    """A diagonal Jacobian diag(d_t) has exponents mean_t log|d_t,j|: log_multipliers is (T, H) of log|d_t,j|
    (or (H,) when constant); the `top` largest after the burn-in, descending."""
    values = log_multipliers if log_multipliers.dim() == 1 else log_multipliers[burn_in(len(log_multipliers)):].mean(0)
    values = values.to(torch.float64).numpy()
    return np.sort(values)[::-1][:top].copy()
