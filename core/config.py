"""Validated configuration for one unroll, and the field table shared by the CLI, the URL and the UI.

Every field has one `FieldSpec`: its kind, its allowed values and a help line. `UnrollConfig`
checks itself against the table in `__post_init__`, so a bad value gets the same one-line message
whether it came from a flag, a query parameter or a widget.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from .budget import check, unroll_cost
from .cells import ACTIVATIONS, CELLS, INITS
from .errors import ConfigError


@dataclass(frozen=True)
class FieldSpec:
    kind: str                   # "choice", "int", "float" or "optional_float" (None = off)
    help: str
    choices: tuple = ()
    lo: float = -math.inf
    hi: float = math.inf
    lo_open: bool = False       # True: the lower end is excluded (e.g. a threshold > 0)

    def allowed(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        what = "an integer" if self.kind == "int" else "a number"
        lo = f"greater than {self.lo:g}" if self.lo_open else f"from {self.lo:g}"
        rng = f"{what} {lo} to {self.hi:g}" if not self.lo_open else f"{what} {lo} and at most {self.hi:g}"
        return rng + (" (or 'off')" if self.kind == "optional_float" else "")

    def parse(self, name: str, raw: Any) -> Any:
        """Turn a raw value (a string from a flag or URL, or a Python value) into a checked value."""
        if self.kind == "choice":
            value = str(raw).strip().lower() if raw is not None else raw
            if value not in self.choices:
                raise ConfigError(name, self.allowed(), raw)
            return value
        if self.kind == "optional_float" and (raw is None or str(raw).strip().lower() in ("off", "none", "")):
            return None
        if isinstance(raw, (bool, np.bool_)):          # True is not 1 here (nor is NumPy's)
            raise ConfigError(name, self.allowed(), raw)
        try:
            number = self._number(raw)
        except (TypeError, ValueError, OverflowError):  # OverflowError: an int too big for a float, e.g. 10**400
            raise ConfigError(name, self.allowed(), raw) from None
        too_low = number <= self.lo if self.lo_open else number < self.lo   # exact for big ints too
        if too_low or number > self.hi:
            raise ConfigError(name, self.allowed(), raw)
        return number

    def _number(self, raw: Any):
        """raw as this field's int or float; ValueError when it is not one (an int is never passed through a
        float, so a huge one is compared exactly)."""
        if isinstance(raw, (int, np.integer)):
            return int(raw) if self.kind == "int" else float(raw)
        number = float(raw)                             # a string, a float, a NumPy float
        if not math.isfinite(number) or (self.kind == "int" and number != int(number)):
            raise ValueError(raw)
        return int(number) if self.kind == "int" else number


UNROLL_FIELDS: dict[str, FieldSpec] = {
    "cell": FieldSpec("choice", "Recurrent cell: " + "; ".join(f"{c.name} = {c.label}" for c in CELLS.values()) + ".",
                      tuple(CELLS)),
    "activation": FieldSpec("choice", "Nonlinearity f of the vanilla RNN (gated cells use their own).",
                            ACTIVATIONS),
    "init": FieldSpec("choice", "Recurrent matrix W: gaussian N(0, s²/H) (spectral radius ≈ s), "
                      "orthogonal × s, identity × s, or Xavier/Glorot × s.", INITS),
    "weight_scale": FieldSpec("float", "Scale s of the recurrent matrix.", lo=0.01, hi=100.0),
    "seq_len": FieldSpec("int", "Sequence length T (number of unrolled steps).", lo=1, hi=10_000),
    "hidden": FieldSpec("int", "Hidden size H.", lo=1, hi=1024),
    "batch": FieldSpec("int", "Sequences per batch; the curve is averaged over them.", lo=1, hi=256),
    "input_scale": FieldSpec("float", "Standard deviation of the N(0, 1) inputs x_t (0: no input).",
                             lo=0.0, hi=100.0),
    "seed": FieldSpec("int", "Random seed for weights and inputs.", lo=0, hi=2**31 - 1),
    "clip": FieldSpec("optional_float", "Gradient-clipping threshold (off, or a positive value).",
                      lo=0.0, hi=1e9, lo_open=True),
    "clip_mode": FieldSpec("choice", "Clip the total gradient norm, or each gradient entry.",
                           ("norm", "value")),
    "dtype": FieldSpec("choice", "Floating-point precision (float64 overflows much later).",
                       ("float32", "float64")),
    "loss_on": FieldSpec("choice", "Put the loss on the last step only, or on every step.",
                         ("last", "all")),
    "bias": FieldSpec("float", "Constant value of every bias (0 by default).", lo=-10.0, hi=10.0),
    "h0_scale": FieldSpec("float", "Standard deviation of the initial state h_0 (0: zero state).",
                          lo=0.0, hi=10.0),
    "layers": FieldSpec("int", "Stacked layers: layer l's states are layer l + 1's inputs; the loss reads the top "
                        "layer (vanilla RNN, LSTM and GRU).", lo=1, hi=4),
    "r_min": FieldSpec("float", "LRU: smallest |λ| of the ring initialisation.", lo=0.0, hi=1.0),
    "r_max": FieldSpec("float", "LRU: largest |λ| of the ring initialisation (at least r_min).", lo=0.0, hi=1.0),
    "max_phase": FieldSpec("float", "LRU: the eigenvalues' phases are drawn from [0, max_phase].", lo=0.0,
                           hi=6.2832),
    "lru_norm": FieldSpec("choice", "LRU: scale each input by γ_j = √(1 − |λ_j|²) (on) or not (off).", ("on", "off")),
}


@dataclass(frozen=True)
class UnrollConfig:
    """One gradient-flow experiment: a randomly initialised network unrolled for seq_len steps."""
    cell: str = "rnn"              # a name in core.cells.CELLS: rnn | lstm | gru | …
    activation: str = "tanh"       # tanh | sigmoid | relu | linear (vanilla RNN only)
    init: str = "gaussian"         # recurrent matrix: gaussian | orthogonal | identity | xavier
    weight_scale: float = 1.0      # s: gaussian N(0, s²/H) has spectral radius ≈ s
    seq_len: int = 100             # T
    hidden: int = 64               # H
    batch: int = 8                 # curve is the per-sequence norm averaged over the batch
    input_scale: float = 1.0       # x_t ~ N(0, input_scale²); 0 means no input
    seed: int = 0
    clip: float | None = None      # clipping threshold, None = off
    clip_mode: str = "norm"        # norm | value
    dtype: str = "float32"
    loss_on: str = "last"          # last: only ∂L/∂h_T is seeded; all: a loss on every step
    bias: float = 0.0
    h0_scale: float = 0.0
    layers: int = 1                # stacked layers (rnn, lstm, gru); grad_norm is the top layer's
    r_min: float = 0.9             # LRU only (Orvieto et al. 2023's long-range setting)
    r_max: float = 0.999
    max_phase: float = 6.28        # ≈ 2π (the sliders step by 0.01)
    lru_norm: str = "on"

    def __post_init__(self):
        for f in fields(self):
            checked = UNROLL_FIELDS[f.name].parse(f.name, getattr(self, f.name))
            object.__setattr__(self, f.name, checked)
        if self.r_max < self.r_min:
            raise ConfigError("r_max", f"at least r_min ({self.r_min:g})", self.r_max)
        if self.layers > 1 and not CELLS[self.cell].stacks:
            raise ConfigError("layers", f"1 for the {self.cell} cell (stacked layers: "
                              f"{', '.join(n for n, c in CELLS.items() if c.stacks)})", self.layers)
        check("unroll", unroll_cost(self.cell, self.seq_len, self.batch, self.hidden, self.dtype, self.layers),
              "the sequence length T, the batch or the hidden size")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_mapping(cls, values: dict) -> "UnrollConfig":
        """Build from raw strings or values (CLI, URL); unknown keys are ignored."""
        return cls(**{k: v for k, v in values.items() if k in UNROLL_FIELDS})
