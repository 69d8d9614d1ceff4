"""Mean-field theory of a random vanilla RNN: the per-step factor of the gradient norm, and the edge of chaos.

Poole et al. (2016), "Exponential expressivity in deep neural networks through transient chaos"; Schoenholz et al.
(2017), "Deep information propagation"; Chen, Pennington & Schoenholz (2018), arXiv 1806.05394, for recurrent
networks. With a_t = W h_{t−1} + U x_t + b, W's entries iid with variance s²/H (gaussian or Xavier × s; an
orthogonal W × s has the same second moments), U x_t of variance σ² (σ = input scale) and a constant bias b, each
pre-activation is, for large H, a gaussian N(b, q_t) with

    q_{t+1} = s²·E[f(a)²] + σ²,      a ~ N(b, q_t)         (a constant bias shifts the mean, it adds no variance)

and the squared norm of a back-propagated vector is multiplied at step t by χ_t = s²·E[f′(a)²]. The predicted
per-step factor of ‖∂L/∂h‖ is √χ at the fixed point q*, and the edge of chaos is χ = 1. Expectations are taken
in closed form for ReLU and linear units and by Gauss–Hermite quadrature for tanh and the sigmoid, vectorised
over any number of configurations at once.
"""
from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import numpy as np
import torch

NODES, WEIGHTS = np.polynomial.hermite.hermgauss(48)
Z = math.sqrt(2.0) * NODES                     # E[g(z)], z ~ N(0, 1)  =  Σ W · g(Z)
W = WEIGHTS / math.sqrt(math.pi)
APPLIES_TO_INITS = ("gaussian", "orthogonal", "xavier")     # random W with iid-like second moments
FIXED_POINT_STEPS = 400


def ndtr(u: np.ndarray) -> np.ndarray:
    """The standard normal CDF, elementwise."""
    return torch.special.ndtr(torch.from_numpy(np.asarray(u, dtype=np.float64))).numpy()


def _gaussian_expectations(activation: str, mean, q, slope: bool = False):
    """E[f(a)²] and E[f′(a)²] for a ~ N(mean, q), elementwise over arrays of (mean, q); with slope=True also
    dE[f(a)²]/dq = ½E[(f²)″(a)] = E[f′² + f·f″] (Price's theorem), for Newton's method."""
    mean, q = np.broadcast_arrays(np.asarray(mean, dtype=float), np.asarray(q, dtype=float))
    sd = np.sqrt(np.maximum(q, 0.0))
    if activation == "linear":
        out = (mean ** 2 + q, np.ones_like(q), np.ones_like(q))
    elif activation == "relu":
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.where(sd > 0, mean / np.where(sd > 0, sd, 1.0), np.where(mean > 0, 50.0, -50.0))
        cdf = ndtr(u)
        pdf = np.exp(-0.5 * u ** 2) / math.sqrt(2 * math.pi)
        out = ((mean ** 2 + q) * cdf + mean * sd * pdf, cdf, cdf)
    else:
        out = _smooth_expectations(activation, mean, sd, slope)
    return out if slope else out[:2]


# Where tanh and the sigmoid vary: outside ±SATURATION they are constant to double precision (sech⁴ ~ e^{−4|a|}).
SATURATION = {"tanh": 12.0, "sigmoid": 24.0}
GRID_POINTS = 241
WIDE = 0.5          # above this standard deviation Gauss–Hermite nodes are too sparse to resolve f′ near 0


def _activation_terms(activation: str, a: np.ndarray):
    """f², f′² and f′² + f·f″ at the points a."""
    if activation == "tanh":
        f = np.tanh(a)
        df = 1.0 - f ** 2
        d2f = -2.0 * f * df
    elif activation == "sigmoid":
        f = 0.5 * (1.0 + np.tanh(0.5 * a))
        df = f * (1.0 - f)
        d2f = df * (1.0 - 2.0 * f)
    else:
        raise ValueError(f"unknown activation {activation!r}")
    return f ** 2, df ** 2, df ** 2 + f * d2f


@functools.cache
def _grid_terms(activation: str) -> tuple[np.ndarray, np.ndarray]:
    """The fixed grid over [−A, A] and f², f′², f′² + f f″ on it (computed once per activation)."""
    limit = SATURATION[activation]
    a = np.linspace(-limit, limit, GRID_POINTS)
    return a, np.stack(_activation_terms(activation, a))


def _wide_rule(activation: str, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """(3, n): E of f², f′², f′² + f f″ by the fixed grid and the saturated tails, for 1-D mean and sd."""
    m, d = mean[:, None], sd[:, None]
    a, terms = _grid_terms(activation)
    weights = np.exp(-0.5 * ((a - m) / d) ** 2) * ((a[1] - a[0]) / (d * math.sqrt(2 * math.pi)))
    weights[:, 0] *= 0.5
    weights[:, -1] *= 0.5
    wide = weights @ terms.T                                                  # (n, 3)
    limit = a[-1]
    tails = ndtr(np.concatenate([(-limit - mean) / sd, (mean - limit) / sd]))
    lower, upper = tails[:len(mean)], tails[len(mean):]
    wide[:, 0] += upper + (lower if activation == "tanh" else 0.0)        # f² → 1 (and tanh² → 1 at −∞)
    return wide.T


def _smooth_expectations(activation: str, mean: np.ndarray, sd: np.ndarray, slope: bool):
    """E of f², f′² (and f′² + f f″) for a ~ N(mean, sd²), tanh or sigmoid: Gauss–Hermite where the
    distribution is narrow; where it is wide, the trapezoid rule on a fixed grid over [−A, A], where f varies,
    plus the exact probability mass of each saturated tail times f's constant value there."""
    wide_mask = sd >= WIDE
    if sd.size > 64:                          # many points: both rules everywhere is faster than masking
        wide_mask = np.ones(sd.shape, dtype=bool)
        narrow = np.stack(_activation_terms(activation, mean[..., None] + sd[..., None] * Z)) @ W
        wide = _wide_rule(activation, mean.ravel(), np.maximum(sd, WIDE).ravel()).reshape((3,) + sd.shape)
        result = np.where(sd >= WIDE, wide, narrow)
        return result[0], result[1], result[2] if slope else None
    result = np.empty((3,) + sd.shape)
    if (~wide_mask).any():
        m, d = mean[~wide_mask], sd[~wide_mask]
        result[:, ~wide_mask] = np.stack(_activation_terms(activation, m[..., None] + d[..., None] * Z)) @ W
    if wide_mask.any():
        result[:, wide_mask] = _wide_rule(activation, mean[wide_mask], sd[wide_mask])
    return result[0], result[1], result[2] if slope else None


def variance_path(activation: str, scale, input_scale, bias, h0_scale, steps: int) -> np.ndarray:
    """q_t for t = 1..steps from the network's own start: h_0 ~ N(0, h0_scale²), so q_1 = s²·h0² + σ²."""
    s2 = np.asarray(scale, dtype=float) ** 2
    sigma2 = np.asarray(input_scale, dtype=float) ** 2
    q = s2 * np.asarray(h0_scale, dtype=float) ** 2 + sigma2
    path = [q]
    for _ in range(steps - 1):
        f2, _ = _gaussian_expectations(activation, bias, q)
        q = s2 * f2 + sigma2
        path.append(q)
    return np.stack(path)


def chi(activation: str, scale, bias, q) -> np.ndarray:
    """χ = s²·E[f′(a)²], a ~ N(bias, q)."""
    return np.asarray(scale, dtype=float) ** 2 * _gaussian_expectations(activation, bias, q)[1]


def fixed_point(activation: str, scale, input_scale, bias, start=1.0, steps: int = 60) -> np.ndarray:
    """The stable variance q* of q ↦ s²E[f(a)²] + σ² reached from `start` (inf where it grows without bound):
    Newton's method on G(q) = s²E[f²] − q + σ², falling back to a plain step where G is not decreasing."""
    s2 = np.asarray(scale, dtype=float) ** 2
    sigma2 = np.asarray(input_scale, dtype=float) ** 2
    shape = np.broadcast(s2, sigma2, np.asarray(bias), np.asarray(start)).shape
    q = np.broadcast_to(np.asarray(start, dtype=float), shape).copy()
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for _ in range(steps):
            f2, _, slope = _gaussian_expectations(activation, bias, q, slope=True)
            plain = s2 * f2 + sigma2
            dg = s2 * slope - 1.0
            newton = q - (plain - q) / dg
            q_next = np.where((dg < -1e-9) & (newton > 0), newton, plain)
            q_next = np.where(np.isfinite(q_next) & (q_next < 1e30), q_next, np.inf)
            if np.all((np.abs(q_next - q) <= 1e-12 * np.maximum(q, 1e-300)) | ~np.isfinite(q_next)):
                return q_next
            q = q_next
    return q


def rate(activation: str, scale: float, input_scale: float, bias: float, h0_scale: float = 0.0) -> float:
    """The predicted per-step factor of ‖∂L/∂h‖, √χ at the fixed point the network's own start leads to
    (q_1 = s²·h0² + σ²: a few plain steps of the variance map, then Newton)."""
    if activation == "linear":
        return float(scale)                              # χ = s² whatever the variance
    if activation == "relu" and bias == 0:
        return float(scale) / math.sqrt(2.0)             # χ = s²·P(a > 0) = s²/2
    q1 = float(variance_path(activation, scale, input_scale, bias, h0_scale, 8)[-1])
    q = float(fixed_point(activation, scale, input_scale, bias, start=q1))
    if not math.isfinite(q):                 # the forward variance grows without bound (ReLU or linear, χ ≥ 1)
        q = 1e16
    return float(math.sqrt(chi(activation, scale, bias, q)))


def edge(activation: str, input_scale, bias, lo: float = 0.01, hi: float = 100.0, refine: int = 44) -> np.ndarray:
    """The weight scale s where χ at the fixed point is exactly 1, for each (input_scale, bias) pair (NaN outside
    [lo, hi]). At the edge s² = 1/E[f′²](q) and q = s²E[f²](q) + σ², so q solves the one-dimensional equation
    H(q) = E[f²]/E[f′²] + σ² − q = 0: bracketed on a log grid of q, then bisection, vectorised over the pairs.
    Where H never changes sign the fixed point runs off to infinity at the edge (ReLU, linear) and the limit
    q → ∞ gives s. No fixed-point iteration is needed."""
    sigma, b = np.broadcast_arrays(np.atleast_1d(np.asarray(input_scale, dtype=float)),
                                   np.atleast_1d(np.asarray(bias, dtype=float)))

    def h(q):
        f2, df2 = _gaussian_expectations(activation, b[..., None] if q.ndim > b.ndim else b, q)
        return f2 / df2 + (sigma[..., None] if q.ndim > sigma.ndim else sigma) ** 2 - q

    grid = np.concatenate([[0.0], np.geomspace(1e-8, 1e8, 49)])
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        values = h(np.broadcast_to(grid, sigma.shape + grid.shape))
        sign_change = (values[:, :-1] > 0) & (values[:, 1:] <= 0)
        at_zero = values[:, 0] == 0                                    # e.g. tanh, no input, no bias: q* = 0
        found = sign_change.any(axis=1)
        j = np.argmax(sign_change, axis=1)
        left, right = grid[j], grid[j + 1]
        for _ in range(refine):
            mid = np.where(left > 0, np.sqrt(left * right), 0.5 * right)
            positive = h(mid) > 0
            left, right = np.where(positive, mid, left), np.where(positive, right, mid)
        q = np.where(at_zero, 0.0, np.where(found, 0.5 * (left + right), 1e16))
        s = 1.0 / np.sqrt(_gaussian_expectations(activation, b, q)[1])
    return np.where((s >= lo) & (s <= hi), s, np.nan)


# ---- the edge of chaos of the network as it is started: critical initialisation --------------------------------
CRITICAL_RANGE = (0.1, 10.0)        # the weight scales the app offers
CRITICAL_GRID = 121                 # log-spaced scales searched for χ = 1
CRITICAL_STEPS = 300                # steps of the variance map from the network's own start
JUMP = 0.02                         # |ln χ| beyond this at a crossing narrowed to 0.1%: χ jumped across 1
JUMP_STEPS = 2000                   # steps the ends of a narrowed crossing are followed


def reached_variance(activation: str, scale, input_scale: float, bias: float, h0_scale: float,
                     steps: int = CRITICAL_STEPS) -> np.ndarray:
    """q_t after `steps` steps of the variance map from the network's own start (q_1 = s²·h0² + σ²), for an array
    of weight scales: the fixed point this network reaches, not any other (the sigmoid can have three); inf where
    the variance grows without bound."""
    s2 = np.asarray(scale, dtype=float) ** 2
    sigma2 = float(input_scale) ** 2
    q = s2 * float(h0_scale) ** 2 + sigma2
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(steps - 1):
            finite = np.isfinite(q) & (q < 1e30)
            f2, _ = _gaussian_expectations(activation, bias, np.where(finite, q, 1.0))
            q_next = np.where(finite, s2 * f2 + sigma2, np.inf)
            settled = np.all((np.abs(q_next - q) <= 1e-13 * q) | ~np.isfinite(q_next))
            q = q_next
            if settled:
                break
    return q


def degenerate(activation: str, input_scale: float, bias: float, h0_scale: float) -> str | None:
    """Why no signal can pass at all, for any weight scale (or None): ReLU units that are all off from the start
    and stay off (no input, a zero state, a bias ≤ 0) have derivative 0 at every step."""
    if activation == "relu" and input_scale == 0 and h0_scale == 0 and bias <= 0:
        return ("Every ReLU stays off (no input, a zero initial state and a bias ≤ 0): f′ = 0 at every step, so the "
                "gradient is exactly 0 one step back whatever the weight scale.")
    return None


@functools.lru_cache(maxsize=512)
def critical(activation: str, input_scale: float, bias: float, h0_scale: float) -> tuple[float | None, str]:
    """The weight scale s in [0.1, 10] where χ = 1 at the variance this network settles to from its own start, and
    '' — or None and one sentence saying why there is none."""
    reason = degenerate(activation, input_scale, bias, h0_scale)
    if reason:
        return None, reason
    if activation == "linear":
        return 1.0, ""                                   # χ = s² whatever the variance
    candidate = float(edge(activation, input_scale, bias, *CRITICAL_RANGE)[0])
    if math.isfinite(candidate) and abs(_reached_log_chi(activation, np.array([candidate]), input_scale, bias,
                                                          h0_scale)[0]) < 1e-3:
        return candidate, ""              # the edge on the fixed point this network reaches (the usual case)
    scales = np.geomspace(*CRITICAL_RANGE, CRITICAL_GRID)
    log_chi = _reached_log_chi(activation, scales, input_scale, bias, h0_scale)
    upward = np.flatnonzero((log_chi[:-1] < 0) & (log_chi[1:] >= 0))
    for i in upward:
        found = _bisect_edge(activation, scales[i], scales[i + 1], input_scale, bias, h0_scale)
        if found is not None:
            return found, ""
    lo_s, hi_s = CRITICAL_RANGE
    if upward.size:
        return None, (f"χ jumps across 1 (the variance settles on another fixed point) instead of passing through "
                      f"it, so no weight scale from {lo_s:g} to {hi_s:g} puts this network at the edge of chaos.")
    side = "below" if np.nanmax(log_chi) < 0 else "above" if np.nanmin(log_chi) >= 0 else "away from"
    where = {"below": "vanishes", "above": "explodes"}.get(side, "does not settle at the edge")
    return None, (f"With this activation, bias and input scale χ stays {side} 1 for every weight scale from {lo_s:g} "
                  f"to {hi_s:g}: the gradient {where} whatever s, so there is no edge of chaos to set.")


def _bisect_edge(activation: str, lo: float, hi: float, input_scale: float, bias: float,
                 h0_scale: float) -> float | None:
    """The s in [lo, hi] where ln χ (at the reached variance) passes 0, or None where it jumps across 0 there: a
    fixed point vanishes, and the network flips between two regimes with no s at the edge. The bracket is narrowed
    to 0.1% only, then both ends are followed for many more steps, so a slow passage near a vanishing fixed point
    is not taken for a crossing."""
    while hi / lo > 1 + 1e-3:
        mid = math.sqrt(lo * hi)
        if _reached_log_chi(activation, np.array([mid]), input_scale, bias, h0_scale)[0] < 0:
            lo = mid
        else:
            hi = mid
    ends = _reached_log_chi(activation, np.array([lo, hi]), input_scale, bias, h0_scale, steps=JUMP_STEPS)
    return math.sqrt(lo * hi) if np.abs(ends).max() < JUMP else None


def _reached_log_chi(activation: str, scales: np.ndarray, input_scale: float, bias: float,
                     h0_scale: float, steps: int = CRITICAL_STEPS) -> np.ndarray:
    q = reached_variance(activation, scales, input_scale, bias, h0_scale, steps)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_chi = np.log(chi(activation, scales, bias, np.where(np.isfinite(q), q, 1e16)))
    return log_chi


NOT_APPLICABLE = ("The edge of chaos is mean-field theory's: it is computed for a vanilla RNN with a random W "
                  "(gaussian, orthogonal or Xavier × s).")


def critical_weight_scale(cfg) -> tuple[float | None, str]:
    """Critical initialisation for an UnrollConfig: the s where this network (its activation, bias, input scale and
    initial state) sits at the edge of chaos, or None and the sentence why it has none."""
    if cfg.cell != "rnn" or cfg.init not in APPLIES_TO_INITS:
        return None, NOT_APPLICABLE
    return critical(cfg.activation, float(cfg.input_scale), float(cfg.bias), float(cfg.h0_scale))


# ---- how far to trust the line: the table benchmarks/bench_meanfield.py measured ----------------------------------
ACCURACY_FILE = Path(__file__).parent / "data" / "meanfield_accuracy.json"
UNTRUSTED_PERCENT = 10.0            # beyond this measured error the note says the line does not hold


@functools.cache
def _accuracy_rows() -> tuple:
    try:
        return tuple(json.loads(ACCURACY_FILE.read_text())["rows"])
    except (OSError, ValueError, KeyError):
        return ()


def measured_accuracy(activation: str, bias: float, input_scale: float, hidden: int) -> str:
    """One sentence: how far the measured factor was from √χ at the nearest setting of the measured table (the same
    activation, the nearest bias and input scale, the nearer of H = 256 and 1024), or '' without a table."""
    rows = [r for r in _accuracy_rows() if r["activation"] == activation]
    if not rows:
        return ""
    near = min(rows, key=lambda r: (abs(r["bias"] - bias), abs(r["input_scale"] - input_scale),
                                    abs(math.log(r["hidden"] / max(hidden, 1)))))
    errors = [abs(e) for e in near["error_percent"] if e is not None]
    if not errors:
        return ""
    scales = near["weight_scales"]
    where = (f"Measured against networks like this one (H = {near['hidden']}, bias {near['bias']:g}, input scale "
             f"{near['input_scale']:g}, T = 200, s from {scales[0]:g} to {scales[-1]:g})")
    smaller = f"; smaller networks scatter more (H = {hidden} here)." if hidden < near["hidden"] else "."
    if max(errors) > UNTRUSTED_PERCENT:
        return (f"{where}: the measured factor was up to {max(errors):.0f}% away from √χ, so the line does not "
                f"describe such a network" + smaller)
    return f"{where}: within {max(errors):.1f}% of the measured factor" + smaller
