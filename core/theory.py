"""What theory predicts for the curve, and how the measured curve is read.

Pascanu, Mikolov & Bengio (2013), "On the difficulty of training recurrent neural networks",
arXiv 1211.5063: with λ1 the largest singular value of W and γ = sup|f'|,
‖∂h_T/∂h_t‖ ≤ (λ1·γ)^(T−t).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

# The regime rule reads the measured curve itself, the number the headline states: its value at the largest
# distance over its value at distance 0.
REGIME_FACTOR = 10.0
REGIME_RULE = (f"exploding if the numbers overflowed or the gradient at the largest distance is more than "
               f"{REGIME_FACTOR:g}× its final-step value; vanishing if it is less than 1/{REGIME_FACTOR:g} of it "
               f"(or exactly 0); stable otherwise")


@dataclass(frozen=True)
class Spectrum:
    eigenvalues: np.ndarray        # complex, the recurrent matrix's eigenvalues
    singular_values: np.ndarray    # descending
    lambda1: float                 # largest singular value (spectral norm)
    spectral_radius: float         # largest |eigenvalue|


def spectrum(w: torch.Tensor) -> Spectrum:
    """Eigenvalues and singular values of a square matrix, in float64."""
    if w is None:                              # a cell without a recurrent matrix (minGRU)
        nan = float("nan")
        return Spectrum(np.array([], complex), np.array([]), nan, nan)
    w64 = w.detach().to(torch.complex128 if w.is_complex() else torch.float64)
    if not torch.isfinite(w64).all():
        nan = float("nan")
        return Spectrum(np.array([], complex), np.array([]), nan, nan)
    eig = torch.linalg.eigvals(w64).numpy()
    sv = torch.linalg.svdvals(w64).numpy()
    return Spectrum(eig, sv, float(sv[0]), float(np.abs(eig).max()))


def pascanu_bound(grad_norm_at_0: float, lambda1: float, gamma: float, distance: np.ndarray) -> np.ndarray:
    """(λ1·γ)^k scaled to the measured value at distance 0, computed in log space (may be inf)."""
    factor = lambda1 * gamma
    if not (math.isfinite(grad_norm_at_0) and grad_norm_at_0 > 0 and factor > 0):
        return np.full(distance.shape, np.nan)
    with np.errstate(over="ignore"):
        return np.exp(np.log(grad_norm_at_0) + distance * np.log(factor))


def fit_rate(distance: np.ndarray, grad_norm: np.ndarray) -> float | None:
    """Per-step factor r of the least-squares line log‖g_k‖ ≈ c + k·log r over finite, positive points."""
    ok = np.isfinite(grad_norm) & (grad_norm > 0)
    if ok.sum() < 2:
        return None
    slope = np.polyfit(distance[ok].astype(float), np.log(grad_norm[ok]), 1)[0]
    return float(np.exp(slope))


def classify_regime(end_to_start: float, non_finite: bool, reached_zero: bool) -> str:
    """vanishing | stable | exploding, by REGIME_RULE, from the measured end-to-start ratio."""
    if non_finite:
        return "exploding"
    if reached_zero or end_to_start == 0:
        return "vanishing"
    if not math.isfinite(end_to_start):
        return "stable"                          # a curve of one point, or one that starts at 0
    if end_to_start > REGIME_FACTOR:
        return "exploding"
    if end_to_start < 1 / REGIME_FACTOR:
        return "vanishing"
    return "stable"
