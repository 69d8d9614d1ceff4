"""Norms that are inf or 0 only when their true value is.

A float32 vector whose entries are all normal numbers can still have a float32 norm of 0 or inf: the squares of
entries below ~1e-19 underflow and those above ~1e19 overflow. Norms of float32 tensors are therefore taken in
float64, where those squares fit. A float64 tensor has the same problem further out (squares of entries above
~1.3e154 overflow, below ~1.5e-154 underflow, and torch.linalg.vector_norm squares without rescaling), so where its
plain norm comes out inf, 0 or near the edge of the range, it is taken again scaled by the largest entry:
‖g‖ = m·‖g/m‖, m = max|g_i|. So "exactly 0" means every entry is 0 and "inf" means an entry is.
"""
from __future__ import annotations

import math

import torch

CHUNK_ELEMENTS = 1 << 22        # float64 copies are made this many entries at a time (32 MB)


# A float64 norm at least this far inside the range cannot have lost a square to overflow or underflow.
SAFE_LOW, SAFE_HIGH = 1e-140, 1e140


def vector_norm64(g: torch.Tensor, dim=None) -> torch.Tensor:
    """torch.linalg.vector_norm in float64 over `dim` (all entries when None), rescaled where it would overflow
    or underflow (inf/nan entries give inf/nan, as they should)."""
    out = torch.linalg.vector_norm(g, dim=dim, dtype=torch.float64)
    if g.dtype not in (torch.float64, torch.complex128):
        return out                       # float32 squares always fit in float64
    risky = ~((out > SAFE_LOW) & (out < SAFE_HIGH))
    if not bool(risky.any()):
        return out
    peak = torch.amax(g.abs(), dim=dim) if dim is not None else g.abs().max()
    usable = risky & torch.isfinite(peak) & (peak > 0)
    if bool(usable.any()):
        keep = peak.unsqueeze(-1) if dim is not None else peak
        scaled = torch.linalg.vector_norm(g / torch.where(keep > 0, keep, 1.0), dim=dim, dtype=torch.float64)
        out = torch.where(usable, peak * scaled, out)
    return out


def step_norms(g: torch.Tensor) -> torch.Tensor:
    """2-norms over the last dimension, in float64: (T, B, H) -> (T, B), without a full float64 copy. A complex
    vector counts as its real and imaginary parts."""
    if g.is_complex():
        g = torch.view_as_real(g).flatten(-2)
    out = torch.empty(g.shape[:-1], dtype=torch.float64)
    rows = max(1, CHUNK_ELEMENTS // max(1, g[0].numel())) if g.dim() > 1 and g.shape[0] else 1
    for start in range(0, g.shape[0], rows):
        out[start:start + rows] = vector_norm64(g[start:start + rows], dim=-1)
    return out


def total_norm(tensors) -> float:
    """The 2-norm of all the tensors seen as one vector, in float64 (inf or nan if an entry is)."""
    parts = [vector_norm64(t.detach()) for t in tensors if t is not None]
    if not parts:
        return 0.0
    return float(vector_norm64(torch.stack(parts)))


def clip_gradients(params: list, threshold: float, mode: str) -> tuple[float, float, bool]:
    """Clip the .grad of `params` in place, by total norm (each gradient times threshold/‖g‖) or by value
    (torch's clip_grad_value_).
    Returns (norm before, norm after, whether anything changed), norms in float64. A gradient that is
    not finite is left alone: (inf or nan, the same, False)."""
    grads = [p.grad for p in params if p.grad is not None]
    before = total_norm(grads)
    if not math.isfinite(before):
        return before, before, False
    if mode == "norm":
        if before <= threshold:
            return before, before, False
        # Exactly threshold/‖g‖, the factor in float64: torch's clip_grad_norm_ takes the total norm in float32
        # (inf from entries of ~1e19 on, which makes its factor 0) and divides by ‖g‖ + 1e-6 (a factor 75% too
        # small at ‖g‖ = 3.4e-7).
        factor = threshold / before
        with torch.no_grad():
            for g in grads:
                g.copy_(g.to(torch.float64) * factor)
        return before, total_norm(grads), True
    changed = any(bool((g.abs() > threshold).any()) for g in grads)
    if changed:
        torch.nn.utils.clip_grad_value_(params, threshold)
    return before, total_norm(grads) if changed else before, changed
