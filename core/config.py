"""Validated configuration for one unroll, and the field table shared by the CLI, the URL and the UI.

Every field has one `FieldSpec` (core/fields.py): its kind, its allowed values, a help line and its control on
the Gradient flow page. `UnrollConfig` checks itself against the table in `__post_init__`, so a bad value gets
the same one-line message whether it came from a flag, a query parameter or a widget. A cell's own settings are
declared by the cell (core/cells/) and join the table and the dataclass from the registry.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from .budget import check, unroll_cost
from .cells import ACTIVATIONS, CELL_SETTINGS, CELLS, INITS, check_cell_settings
from .errors import ConfigError  # noqa: F401 (where the configs' users import it from)
from .fields import FieldSpec, add_settings

# The pages' controls (what they offer is also what their URLs accept; the CLI and the API accept the whole range).
# Log-spaced weight scales 10^(i/40), i = −40..40: 0.1 … 10 with 1.0 exactly in the middle.
WEIGHT_SCALES = [float(f"{10 ** (i / 40):.3g}") for i in range(-40, 41)]
HIDDEN_SIZES = [8, 16, 32, 64, 128, 256, 512]
CLIP_VALUES = [float(f"{10 ** (i / 4):.3g}") for i in range(-8, 13)]   # 0.01 … 1000
UI_MAX_SEQ_LEN = 2000
UI_MAX_BATCH = 64
UI_MAX_INPUT_SCALE = 5.0
UI_MAX_SEED = 999_999           # plenty of seeds, and a range people can read

WEIGHT_SCALE_HELP = "Scale s of the recurrent matrix."
CLIP_HELP = "Gradient-clipping threshold (off, or a positive value)."

UNROLL_FIELDS: dict[str, FieldSpec] = {
    "cell": FieldSpec("choice", "Recurrent cell: " + "; ".join(f"{c.name} = {c.label}" for c in CELLS.values()) + ".",
                      tuple(CELLS), widget="selectbox", label="Cell",
                      option_labels={name: c.label for name, c in CELLS.items()}),
    "activation": FieldSpec("choice", "Nonlinearity f of the vanilla RNN (gated cells use their own).",
                            ACTIVATIONS, widget="selectbox", label="Activation f",
                            option_labels={"sigmoid": "logistic sigmoid", "relu": "ReLU", "linear": "linear (none)"}),
    "init": FieldSpec("choice", "Recurrent matrix W: gaussian N(0, s²/H) (spectral radius ≈ s), "
                      "orthogonal × s, identity × s, or Xavier/Glorot × s.", INITS,
                      widget="selectbox", label="Recurrent initialisation",
                      option_labels={"gaussian": "Gaussian N(0, s²/H)", "orthogonal": "orthogonal × s",
                                     "identity": "identity × s", "xavier": "Xavier/Glorot × s"}),
    "weight_scale": FieldSpec("float", WEIGHT_SCALE_HELP, lo=0.01, hi=100.0, widget="select_slider",
                              label="Weight scale s", ui_options=tuple(WEIGHT_SCALES),
                              ui_help=WEIGHT_SCALE_HELP + " Log-spaced from 0.1 to 10."),
    "seq_len": FieldSpec("int", "Sequence length T (number of unrolled steps).", lo=1, hi=10_000,
                         widget="slider", label="Sequence length T", ui_hi=UI_MAX_SEQ_LEN),
    "hidden": FieldSpec("int", "Hidden size H.", lo=1, hi=1024, widget="select_slider", label="Hidden size H",
                        ui_options=tuple(HIDDEN_SIZES)),
    "batch": FieldSpec("int", "Sequences per batch; the curve is averaged over them.", lo=1, hi=256,
                       widget="slider", label="Batch", ui_hi=UI_MAX_BATCH),
    "input_scale": FieldSpec("float", "Standard deviation of the N(0, 1) inputs x_t (0: no input).",
                             lo=0.0, hi=100.0, widget="slider", label="Input scale", step=0.05,
                             ui_hi=UI_MAX_INPUT_SCALE),
    "seed": FieldSpec("int", "Random seed for weights and inputs.", lo=0, hi=2**31 - 1,
                      widget="number_input", label="Seed", step=1, ui_hi=UI_MAX_SEED),
    "clip": FieldSpec("optional_float", CLIP_HELP, lo=0.0, hi=1e9, lo_open=True, widget="select_slider",
                      label="Threshold", ui_options=(None, *CLIP_VALUES),
                      ui_help=CLIP_HELP + " Slide left to the end to switch clipping off."),
    "clip_mode": FieldSpec("choice", "Clip the total gradient norm, or each gradient entry.",
                           ("norm", "value"), widget="radio", label="Mode",
                           option_labels={"norm": "by norm", "value": "by value"}),
    "dtype": FieldSpec("choice", "Floating-point precision (float64 overflows much later).",
                       ("float32", "float64"), widget="radio", label="Precision"),
    "loss_on": FieldSpec("choice", "Put the loss on the last step only, or on every step.",
                         ("last", "all"), widget="radio", label="Loss on",
                         option_labels={"last": "last step only", "all": "every step"}),
    "bias": FieldSpec("float", "Constant value of every bias (0 by default).", lo=-10.0, hi=10.0,
                      widget="slider", label="Bias b", step=0.1, ui_lo=-5.0, ui_hi=5.0),
    "h0_scale": FieldSpec("float", "Standard deviation of the initial state h_0 (0: zero state).",
                          lo=0.0, hi=10.0, widget="slider", label="Initial state scale", step=0.1, ui_hi=5.0),
    "layers": FieldSpec("int", "Stacked layers: layer l's states are layer l + 1's inputs; the loss reads the top "
                        "layer (vanilla RNN, LSTM and GRU).", lo=1, hi=4, widget="slider", label="Layers", step=1),
    **{name: s.spec for name, s in CELL_SETTINGS.items()},      # each cell's own (e.g. the LRU's, core/cells/lru.py)
}


@dataclass(frozen=True)
@add_settings(CELL_SETTINGS)
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
    # ...and every cell's own settings (core/cells: CELL_SETTINGS), e.g. the LRU's r_min, r_max, max_phase, lru_norm

    def __post_init__(self):
        for f in fields(self):
            checked = UNROLL_FIELDS[f.name].parse(f.name, getattr(self, f.name))
            object.__setattr__(self, f.name, checked)
        check_cell_settings(self)
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
