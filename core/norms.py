"""Norms of float32 tensors, taken in float64.

A float32 vector whose entries are all normal numbers can still have a float32 norm of 0 or inf: the
squares of entries below ~1e-19 underflow and those above ~1e19 overflow. Every norm the app shows
is therefore computed in float64, so "exactly 0" means every entry is 0 and "inf" means an entry is.
"""
from __future__ import annotations

import math

import torch

CHUNK_ELEMENTS = 1 << 22        # float64 copies are made this many entries at a time (32 MB)


def step_norms(g: torch.Tensor) -> torch.Tensor:
    """2-norms over the last dimension, in float64: (T, B, H) -> (T, B), without a full float64 copy. A complex
    vector counts as its real and imaginary parts."""
    if g.is_complex():
        g = torch.view_as_real(g).flatten(-2)
    out = torch.empty(g.shape[:-1], dtype=torch.float64)
    rows = max(1, CHUNK_ELEMENTS // max(1, g[0].numel())) if g.dim() > 1 and g.shape[0] else 1
    for start in range(0, g.shape[0], rows):
        out[start:start + rows] = torch.linalg.vector_norm(g[start:start + rows], dim=-1, dtype=torch.float64)
    return out


def total_norm(tensors) -> float:
    """The 2-norm of all the tensors seen as one vector, in float64 (inf or nan if an entry is)."""
    parts = [torch.linalg.vector_norm(t.detach(), dtype=torch.float64) for t in tensors if t is not None]
    if not parts:
        return 0.0
    return float(torch.linalg.vector_norm(torch.stack(parts)))


def clip_gradients(params: list, threshold: float, mode: str) -> tuple[float, float, bool]:
    """Clip the .grad of `params` in place with torch's own clipping, by total norm or by value.
    Returns (norm before, norm after, whether anything changed), norms in float64. A gradient that is
    not finite is left alone: (inf or nan, the same, False)."""
    grads = [p.grad for p in params if p.grad is not None]
    before = total_norm(grads)
    if not math.isfinite(before):
        return before, before, False
    if mode == "norm":
        if before <= threshold:
            return before, before, False
        # torch's clip_grad_norm_ would take the total norm in float32 (inf from entries of ~1e19 on,
        # which makes its factor 0); hand it the float64 norm instead.
        torch.nn.utils.clip_grads_with_norm_(params, threshold, torch.tensor(before, dtype=torch.float64))
        return before, total_norm(grads), True
    changed = any(bool((g.abs() > threshold).any()) for g in grads)
    if changed:
        torch.nn.utils.clip_grad_value_(params, threshold)
    return before, total_norm(grads) if changed else before, changed
