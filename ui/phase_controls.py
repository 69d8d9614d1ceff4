"""The Phase diagram's controls: fields bound to URL query parameters, the y axes' own ranges, grid sizes that
land on the Gradient flow page's slider values, and the link that opens a cell on that page."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from core.phase import PHASE_FIELDS, PhaseConfig
from ui.flow_controls import HIDDEN_SIZES, UI_MAX_INPUT_SCALE, UI_MAX_SEED, WEIGHT_SCALES
from ui.page_state import PageState
from ui.url import UrlField, nearest_option, round_to

PAGE = "phase"
DEFAULTS = PhaseConfig()
INPUT_STEP = 0.05          # the Gradient flow page's input-scale slider step
MAX_CELLS_PER_AXIS = 100
# Every slider's maximum fits the phase-diagram budget with the others at their defaults (core/budget.py): the grid
# keeps a T × cells × batch × H derivative tensor, so T, H and the batch stop at 1,000, 256 and 32, and the
# sequence-length axis (every row padded to the longest T) at 30 rows.
UI_MAX_SEQ_LEN = 1000
UI_MAX_BATCH = 32
UI_MAX_SEQ_LEN_ROWS = 30
PHASE_HIDDEN_SIZES = [h for h in HIDDEN_SIZES if h <= 256]
UI_Y_LIMITS = {"input_scale": (0.0, UI_MAX_INPUT_SCALE), "seq_len": (2.0, float(UI_MAX_SEQ_LEN))}
Y_LABELS = {"input_scale": "input scale", "seq_len": "sequence length", "activation": "activation"}
# Each y axis has its own sensible range and rows, and keeps what the user chose for it in this session.
Y_DEFAULTS = {"input_scale": (0.0, 3.0, 31), "seq_len": (10.0, 1000.0, 21), "activation": (0.0, 3.0, 31)}
AXIS_MEMORY = "_phase_axis_values"


# Every cell must open as the same configuration on the Gradient flow page, so the controls offer what
# its sliders offer: weight scales 10^(i/40) from 0.1 to 10, its hidden sizes, input scales in steps of 0.05.
UI_SPECS = {
    "s_min": (replace(PHASE_FIELDS["s_min"], lo=WEIGHT_SCALES[0], hi=WEIGHT_SCALES[-1]), nearest_option(WEIGHT_SCALES)),
    "s_max": (replace(PHASE_FIELDS["s_max"], lo=WEIGHT_SCALES[0], hi=WEIGHT_SCALES[-1]), nearest_option(WEIGHT_SCALES)),
    "hidden": (replace(PHASE_FIELDS["hidden"], lo=PHASE_HIDDEN_SIZES[0], hi=PHASE_HIDDEN_SIZES[-1]),
               nearest_option(PHASE_HIDDEN_SIZES)),
    "seq_len": (replace(PHASE_FIELDS["seq_len"], hi=UI_MAX_SEQ_LEN), None),
    "batch": (replace(PHASE_FIELDS["batch"], hi=UI_MAX_BATCH), None),
    "input_scale": (replace(PHASE_FIELDS["input_scale"], hi=UI_MAX_INPUT_SCALE), round_to(INPUT_STEP)),
    "seed": (replace(PHASE_FIELDS["seed"], hi=UI_MAX_SEED), None),
}
SHOWN = ["y_axis", "s_min", "s_max", "s_count", "y_min", "y_max", "y_count", "activation", "init",
         "input_scale", "seq_len", "hidden", "batch", "seed"]
FIELDS = [UrlField(name, getattr(DEFAULTS, name), *UI_SPECS.get(name, (PHASE_FIELDS[name], None))) for name in SHOWN]
STATE = PageState(PAGE, FIELDS)
Y_NAMES = ("y_min", "y_max", "y_count")


def aligned_counts(span: int, most: int) -> list[int]:
    """Grid sizes n (2 ≤ n ≤ most) that split `span` slider steps into equal whole steps, so that every
    grid value is also one of the slider's values: n − 1 must divide span."""
    counts = [d + 1 for d in range(1, span + 1) if span % d == 0 and d + 1 <= most]
    return counts or [2]


def nearest(options: list, value):
    return min(options, key=lambda o: abs(o - value))


def nearest_cell(res, x: float, y: float) -> tuple[int, int]:
    """Row and column of the phase-diagram cell nearest a clicked point (log distance on log axes)."""
    j = int(np.argmin(np.abs(np.log(res.weight_scale) - np.log(x))))
    if res.config.y_axis == "activation":          # rows drawn at 0, 1, 2, 3
        return int(np.clip(round(y), 0, len(res.y) - 1)), j
    ys = np.asarray(res.y, dtype=float)
    if res.config.y_axis == "seq_len":
        return int(np.argmin(np.abs(np.log(ys) - np.log(max(y, 1e-9))))), j
    return int(np.argmin(np.abs(ys - y))), j


def phase_link_params(cfg, s: float, y) -> dict:
    """Query parameters that open one phase-diagram cell on the Gradient flow page, written as that
    page's own slider values (its weight scales are 10^(i/40) to three digits)."""
    cell = cfg.cell_config(s, y)
    return {"weight_scale": f"{nearest_option(WEIGHT_SCALES)(cell.weight_scale):g}",
            "input_scale": f"{cell.input_scale:g}", "seq_len": str(cell.seq_len), "activation": cell.activation,
            "init": cell.init, "hidden": str(cell.hidden), "batch": str(cell.batch), "seed": str(cell.seed)}
