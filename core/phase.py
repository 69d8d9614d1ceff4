"""Phase diagram of gradient flow: the measured per-step factor of the vanilla RNN over a grid of
weight scale × a second control (input scale, sequence length or activation).

Batched: every grid cell shares the same random draws as `core.unroll` with the same seed (the
recurrent matrix is s·W0, the inputs are a·z), so all cells advance together as one tensor
computation: one (cells·batch × H) @ (H × H) product per step forward and one per step backward.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np
import torch

from . import meanfield
from .budget import Budget, check, phase_cost
from .cells import ACTIVATIONS, GAMMA
from .config import UI_MAX_INPUT_SCALE, UNROLL_FIELDS, ConfigError, FieldSpec, UnrollConfig
from .deadline import within_deadline
from .fields import Setting
from .probe import DTYPES, build
from .theory import spectrum

Y_AXES = ("input_scale", "seq_len", "activation")
Y_LABELS = {"input_scale": "input scale", "seq_len": "sequence length", "activation": "activation"}

# The page's controls (ui/phase_controls.py) offer, and its URL accepts, only grids whose every cell opens as the
# same configuration on the Gradient flow page: its weight scales, its hidden sizes, input scales in steps of its
# slider's. Every maximum fits the phase-diagram budget with the others at their defaults (core/budget.py): the grid
# keeps a T × cells × batch × H derivative tensor, so T, H and the batch stop at 1,000, 256 and 32, and the
# sequence-length axis (every row padded to the longest T) at 30 rows. The grid sizes the page offers are computed
# from the ranges (ui/phase_state.py): the declarations give their label and help.
PHASE_FIELDS: dict[str, FieldSpec] = {
    "y_axis": FieldSpec("choice", "The second control, on the y axis.", Y_AXES, widget="radio",
                        label="Second control (y axis)", option_labels=Y_LABELS),
    "s_min": replace(UNROLL_FIELDS["weight_scale"], help="Smallest weight scale (x axis, log-spaced).",
                     label="s from", ui_help=None),
    "s_max": replace(UNROLL_FIELDS["weight_scale"], help="Largest weight scale (greater than s_min).",
                     label="s to", ui_help=None),
    "s_count": FieldSpec("int", "Number of weight scales.", lo=2, hi=100, widget="select_slider",
                         label="Weight scales (columns)",
                         ui_help="Number of log-spaced weight scales. Only counts that put every column on a value "
                                 "of the Gradient flow page's weight-scale slider are offered."),
    # the y range and rows: their controls depend on the y axis (Y_SETTINGS below)
    "y_min": FieldSpec("float", "Smallest y value (input scale or sequence length).", lo=0.0, hi=2000.0),
    "y_max": FieldSpec("float", "Largest y value (greater than y_min).", lo=0.0, hi=2000.0),
    "y_count": FieldSpec("int", "Number of y values (ignored for activation).", lo=2, hi=100),
    "activation": replace(UNROLL_FIELDS["activation"], label="Activation", option_labels={}),
    "init": replace(UNROLL_FIELDS["init"], label="Initialisation", option_labels={}),
    "input_scale": replace(UNROLL_FIELDS["input_scale"], help="Input scale when it is not the y axis."),
    "seq_len": replace(UNROLL_FIELDS["seq_len"], lo=2, hi=2000, ui_hi=1000,
                       help="Sequence length T when it is not the y axis."),
    "hidden": replace(UNROLL_FIELDS["hidden"], hi=512,
                      ui_options=tuple(h for h in UNROLL_FIELDS["hidden"].ui_options if h <= 256)),
    "batch": replace(UNROLL_FIELDS["batch"], hi=64, ui_hi=32),
    "seed": UNROLL_FIELDS["seed"],
    "dtype": replace(UNROLL_FIELDS["dtype"], widget="", label=""),      # the command line's only
}

# Each y axis's own range and rows (the activation axis has none): its default, its limits (lo, hi: PhaseConfig
# checks them) and its controls. A page keeps one set per axis and shows the chosen axis's.
_INPUT_STEP = UNROLL_FIELDS["input_scale"].step        # every row on a value of the Gradient flow page's slider
Y_SETTINGS: dict[str, dict[str, Setting]] = {
    "input_scale": {
        "y_min": Setting(0.0, replace(PHASE_FIELDS["y_min"], hi=5.0, widget="number_input", label="input scale from",
                                      step=_INPUT_STEP, ui_hi=UI_MAX_INPUT_SCALE,
                                      ui_help="Smallest input scale (bottom row).")),
        "y_max": Setting(3.0, replace(PHASE_FIELDS["y_max"], hi=5.0, widget="number_input", label="input scale to",
                                      step=_INPUT_STEP, ui_hi=UI_MAX_INPUT_SCALE,
                                      ui_help="Largest input scale (top row).")),
        "y_count": Setting(31, replace(PHASE_FIELDS["y_count"], widget="select_slider", label="Rows",
                                       ui_help="Evenly spaced input scales; only counts that land on multiples of "
                                               f"{_INPUT_STEP:g} are offered.")),      # the counts: computed
    },
    "seq_len": {
        "y_min": Setting(10.0, replace(PHASE_FIELDS["y_min"], lo=2.0, widget="number_input", label="T from",
                                       step=10.0, fmt="%.0f", ui_hi=PHASE_FIELDS["seq_len"].ui_hi,
                                       ui_help="Shortest sequence length (bottom row).")),
        "y_max": Setting(1000.0, replace(PHASE_FIELDS["y_max"], lo=2.0, widget="number_input", label="T to",
                                         step=10.0, fmt="%.0f", ui_hi=PHASE_FIELDS["seq_len"].ui_hi,
                                         ui_help="Longest sequence length (top row).")),
        "y_count": Setting(21, replace(PHASE_FIELDS["y_count"], widget="slider", label="Rows", ui_hi=30,
                                       ui_help="Log-spaced sequence lengths (rounded to whole steps; duplicates "
                                               "merged).")),
    },
}
Y_LIMITS = {axis: (own["y_min"].spec.lo, own["y_min"].spec.hi) for axis, own in Y_SETTINGS.items()}


@dataclass(frozen=True)
class PhaseConfig:
    """A grid of vanilla-RNN unrolls: weight scale (x) against `y_axis`."""
    y_axis: str = "input_scale"
    s_min: float = 0.1
    s_max: float = 10.0
    s_count: int = 41              # 10^(k/20): every value is also on the Gradient flow slider
    y_min: float = 0.0
    y_max: float = 3.0
    y_count: int = 31              # input scales 0, 0.1, …, 3
    activation: str = "tanh"       # when the y axis is not the activation
    init: str = "gaussian"
    input_scale: float = 1.0       # when the y axis is not the input scale
    seq_len: int = 100             # when the y axis is not the sequence length
    hidden: int = 64
    batch: int = 4                 # sequences averaged per cell (few: the whole grid stays interactive)
    seed: int = 0
    dtype: str = "float32"

    def __post_init__(self):
        for f in fields(self):
            object.__setattr__(self, f.name, PHASE_FIELDS[f.name].parse(f.name, getattr(self, f.name)))
        if self.s_max <= self.s_min:
            raise ConfigError("s_max", f"greater than s_min ({self.s_min:g})", self.s_max)
        if self.y_axis in Y_LIMITS:
            lo, hi = Y_LIMITS[self.y_axis]
            for name in ("y_min", "y_max"):
                value = getattr(self, name)
                if not lo <= value <= hi:
                    raise ConfigError(name, f"a number from {lo:g} to {hi:g} when y_axis is {self.y_axis}", value)
            if self.y_max <= self.y_min:
                raise ConfigError("y_max", f"greater than y_min ({self.y_min:g})", self.y_max)
        check("phase diagram", self.cost(), "the number of grid points, the batch, the hidden size or T")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_mapping(cls, values: dict) -> "PhaseConfig":
        return cls(**{k: v for k, v in values.items() if k in PHASE_FIELDS})

    @property
    def weight_scales(self) -> np.ndarray:
        return np.geomspace(self.s_min, self.s_max, self.s_count)

    @property
    def y_values(self) -> list:
        if self.y_axis == "activation":
            return list(ACTIVATIONS)
        if self.y_axis == "seq_len":
            values = np.unique(np.round(np.geomspace(max(self.y_min, 2), self.y_max, self.y_count)).astype(int))
            return [int(v) for v in values]
        return [round(float(v), 6) for v in np.linspace(self.y_min, self.y_max, self.y_count)]

    @property
    def max_seq_len(self) -> int:
        return max(self.y_values) if self.y_axis == "seq_len" else self.seq_len

    def cost(self) -> Budget:
        """The activation axis runs one batched grid per activation, one after another."""
        by_activation = self.y_axis == "activation"
        groups = len(ACTIVATIONS) if by_activation else 1
        cells = self.s_count * (1 if by_activation else len(self.y_values))
        return phase_cost(self.max_seq_len, cells, groups, self.batch, self.hidden, self.dtype)

    def cell_config(self, s: float, y) -> UnrollConfig:
        """The single-configuration unroll that a grid cell stands for."""
        kw: dict[str, Any] = dict(activation=self.activation, init=self.init, weight_scale=float(s),
                  input_scale=self.input_scale, seq_len=self.seq_len, hidden=self.hidden,
                  batch=self.batch, seed=self.seed, dtype=self.dtype)
        kw[self.y_axis] = y
        return UnrollConfig(**kw)


@dataclass
class PhaseResult:
    config: PhaseConfig
    weight_scale: np.ndarray       # (nx,)
    y: list                        # (ny,) numbers, or activation names
    rate: np.ndarray               # (ny, nx) fitted per-step factor (NaN where it cannot be fitted)
    overflow: np.ndarray           # (ny, nx) bool: the numbers stopped being finite
    theory_edge: np.ndarray        # (ny,) weight scale where λ1·γ = 1 (Pascanu: sufficient for vanishing)
    radius_edge: float             # weight scale where the spectral radius of s·W0 is 1
    lambda1_at_1: float            # λ1 of W0 (s = 1)
    mean_field_edge: np.ndarray    # (ny,) weight scale where mean-field χ = 1 (NaN: none, or no random W)

    def to_json_dict(self) -> dict:
        def clean(a):
            return [[float(v) if np.isfinite(v) else None for v in row] for row in a]
        return {"config": self.config.to_dict(), "weight_scale": self.weight_scale.tolist(), "y": self.y,
                "y_axis": self.config.y_axis, "rate": clean(self.rate), "overflow": self.overflow.tolist(),
                "theory_edge": [float(v) for v in self.theory_edge], "radius_edge": self.radius_edge,
                "mean_field_edge": [float(v) if np.isfinite(v) else None for v in self.mean_field_edge],
                "lambda1_at_1": self.lambda1_at_1}


def _batched_curves(w0, u_z, b, v, scales, input_scales, seq_lens, activation, dtype):
    """Mean-over-batch ‖∂L/∂h_t‖ for every cell: returns (T_max, cells) in time order, plus a
    per-cell flag for non-finite states. Cell g has recurrent matrix scales[g]·w0, inputs
    input_scales[g]·z and its loss at step seq_lens[g]. Elementwise work is done in place: at this
    size memory traffic, not the matrix products, is what costs."""
    f_ = {"tanh": torch.tanh_, "sigmoid": torch.sigmoid_, "relu": torch.relu_, "linear": lambda a: a}[activation]
    t_max, batch, hidden = u_z.shape
    cells = scales.shape[0]
    s = scales.view(cells, 1, 1)
    a = input_scales.view(cells, 1, 1)
    h = torch.zeros(cells, batch, hidden, dtype=dtype)
    hw = torch.empty(cells * batch, hidden, dtype=dtype)
    deriv = torch.empty(t_max, cells, batch, hidden, dtype=dtype)
    finite = torch.empty(t_max, cells, dtype=torch.bool)
    for t in within_deadline(range(t_max)):
        torch.mm(h.view(-1, hidden), w0.T, out=hw)
        h = torch.addcmul(b, u_z[t], a)                          # b + a·(U z_t), shape (cells, B, H)
        h.addcmul_(hw.view(cells, batch, hidden), s)             # + s·(W0 h_{t−1})
        f_(h)
        _derivative_into(activation, h, deriv[t])
        finite[t] = torch.isfinite(h.view(cells, -1).sum(dim=1))
    within = torch.arange(t_max).unsqueeze(1) < seq_lens.unsqueeze(0)         # steps before each cell's T
    bad = (~finite & within).any(dim=0)
    norms = torch.zeros(t_max, cells, dtype=torch.float64)
    g = torch.zeros(cells, batch, hidden, dtype=dtype)
    delta = torch.empty_like(g)
    same_end = bool((seq_lens == t_max).all())
    if same_end:
        g += v
    ends = seq_lens.view(cells, 1, 1)
    for t in within_deadline(range(t_max - 1, -1, -1)):
        if not same_end:
            g.add_((ends == t + 1).to(dtype) * v)                 # the loss of cells whose T is t + 1
        # in float64, as in unroll: a float32 norm is 0 or inf for entries below ~1e-19 or above ~1e19
        norms[t] = torch.linalg.vector_norm(g, dim=-1, dtype=torch.float64).mean(dim=1)
        if t:
            torch.mul(g, deriv[t], out=delta)
            torch.mm(delta.view(-1, hidden), w0, out=g.view(-1, hidden))
            g.mul_(s)
    return norms, bad


def _derivative_into(activation: str, h: torch.Tensor, out: torch.Tensor) -> None:
    """f'(a) from h = f(a), written into `out` (see cells.derivative_from_output)."""
    if activation == "tanh":
        torch.addcmul(torch.ones((), dtype=h.dtype), h, h, value=-1.0, out=out)
    elif activation == "sigmoid":
        torch.addcmul(h, h, h, value=-1.0, out=out)
    elif activation == "relu":
        torch.gt(h, 0, out=out) if out.dtype == torch.bool else out.copy_(h > 0)
    else:
        out.fill_(1.0)


def _fit_rates(norms: torch.Tensor, seq_lens: torch.Tensor) -> np.ndarray:
    """Least-squares slope of log‖g‖ against distance per cell (the same fit as theory.fit_rate)."""
    t_max = norms.shape[0]
    t = torch.arange(t_max, dtype=torch.float64).unsqueeze(1)
    k = (seq_lens.to(torch.float64).unsqueeze(0) - 1) - t         # distance from each cell's last step
    ok = (k >= 0) & torch.isfinite(norms) & (norms > 0)
    y = torch.where(ok, torch.log(torch.where(ok, norms, torch.ones_like(norms))), torch.zeros_like(norms))
    kk = torch.where(ok, k, torch.zeros_like(k))
    n = ok.sum(0).to(torch.float64)
    k_mean = kk.sum(0) / n.clamp(min=1)
    y_mean = y.sum(0) / n.clamp(min=1)
    cov = (torch.where(ok, (kk - k_mean) * (y - y_mean), torch.zeros_like(y))).sum(0)
    var = (torch.where(ok, (kk - k_mean) ** 2, torch.zeros_like(y))).sum(0)
    rate = torch.exp(cov / var)
    rate[(n < 2) | (var == 0)] = float("nan")
    return rate.numpy()


def phase_diagram(cfg: PhaseConfig) -> PhaseResult:
    """Measure the per-step gradient factor for every grid cell, batched."""
    dtype = DTYPES[cfg.dtype]
    t_max = cfg.max_seq_len
    base = UnrollConfig(init=cfg.init, weight_scale=1.0, input_scale=1.0, seq_len=t_max, hidden=cfg.hidden,
                        batch=cfg.batch, seed=cfg.seed, dtype=cfg.dtype, activation=cfg.activation)
    net, z, _, v = build(base)           # the same draws as core.unroll with this seed
    w0, b = net.params["w_hh"], net.params["b"]
    with torch.no_grad():
        u_z = (z.reshape(-1, cfg.hidden) @ net.params["w_ih"].T).view(t_max, cfg.batch, cfg.hidden)
    xs = torch.tensor(cfg.weight_scales, dtype=dtype)
    ys = cfg.y_values
    rate = np.full((len(ys), len(xs)), np.nan)
    overflow = np.zeros((len(ys), len(xs)), dtype=bool)
    with torch.no_grad():
        if cfg.y_axis == "activation":
            groups: list[tuple[int | None, str, torch.Tensor, torch.Tensor, torch.Tensor]] = [
                (i, act, xs, torch.full_like(xs, cfg.input_scale), torch.full((len(xs),), cfg.seq_len))
                for i, act in enumerate(ys)]
        else:
            grid_s = xs.repeat(len(ys))
            grid_y = torch.tensor(ys, dtype=torch.float64).repeat_interleave(len(xs))
            a = grid_y.to(dtype) if cfg.y_axis == "input_scale" else torch.full_like(grid_s, cfg.input_scale)
            lens = grid_y.long() if cfg.y_axis == "seq_len" else torch.full((len(grid_s),), cfg.seq_len)
            groups = [(None, cfg.activation, grid_s, a, lens)]
        for row, act, s, a, lens in groups:
            norms, bad = _batched_curves(w0, u_z, b, v, s, a, lens, act, dtype)
            fitted = _fit_rates(norms, lens)
            fitted[bad.numpy()] = np.nan          # as in unroll: no gradient behind a blown-up state
            nonfinite = bad.numpy() | ~torch.isfinite(norms).all(0).numpy()
            if row is None:
                rate[:] = fitted.reshape(len(ys), len(xs))
                overflow[:] = nonfinite.reshape(len(ys), len(xs))
            else:
                rate[row], overflow[row] = fitted, nonfinite
    spec = spectrum(w0)
    acts = ys if cfg.y_axis == "activation" else [cfg.activation] * len(ys)
    theory_edge = np.array([1.0 / (GAMMA[act] * spec.lambda1) for act in acts])
    return PhaseResult(cfg, cfg.weight_scales, ys, rate, overflow, theory_edge,
                       1.0 / spec.spectral_radius, spec.lambda1, mean_field_edges(cfg))


def mean_field_edges(cfg: PhaseConfig) -> np.ndarray:
    """Per row, the weight scale where mean-field χ = 1 (the edge of chaos), vectorised over the rows; NaN where
    the recurrent matrix is not random or χ never reaches 1 in [0.01, 100]. Sequence length does not move it."""
    rows = len(cfg.y_values)
    if cfg.init not in meanfield.APPLIES_TO_INITS:
        return np.full(rows, np.nan)
    if cfg.y_axis == "input_scale":
        return meanfield.edge(cfg.activation, np.asarray(cfg.y_values, dtype=float), 0.0)
    if cfg.y_axis == "activation":
        return np.array([meanfield.edge(act, cfg.input_scale, 0.0)[0] for act in cfg.y_values])
    return np.repeat(meanfield.edge(cfg.activation, cfg.input_scale, 0.0), rows)


def measured_edge(result: PhaseResult) -> np.ndarray:
    """Per row, the weight scale where the measured factor crosses 1: log(factor) interpolated
    linearly in log(s) between neighbouring cells (exact for a linear network); NaN if it never does."""
    edges = np.full(len(result.y), np.nan)
    logs = np.log(result.weight_scale)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_rate = np.log(result.rate)
    for i, row in enumerate(log_rate):
        for j in range(len(row) - 1):
            r0, r1 = row[j], row[j + 1]
            if np.isfinite(r0) and np.isfinite(r1) and r0 * r1 <= 0 and r0 != r1:
                frac = -r0 / (r1 - r0)
                edges[i] = math.exp(logs[j] + frac * (logs[j + 1] - logs[j]))
                break
    return edges
