"""The Phase diagram's controls: fields bound to URL query parameters, the y axes' own ranges, grid sizes that
land on the Gradient flow page's slider values, and the link that opens a cell on that page. Every control is
declared in core/phase.py (PHASE_FIELDS, and each y axis's range and rows in Y_SETTINGS)."""
from __future__ import annotations

import numpy as np

from core.config import FieldSpec
from core.phase import PHASE_FIELDS, Y_AXES, Y_LABELS, Y_SETTINGS, PhaseConfig  # noqa: F401 (Y_LABELS: the page's)
from ui.flow_controls import UI_MAX_INPUT_SCALE, WEIGHT_SCALES  # noqa: F401 (UI_MAX_INPUT_SCALE: the tests')
from ui.page_state import PageState
from ui.url import nearest_option, url_field

PAGE = "phase"
DEFAULTS = PhaseConfig()
SHOWN = ["y_axis", "s_min", "s_max", "s_count", "y_min", "y_max", "y_count", "activation", "init",
         "input_scale", "seq_len", "hidden", "batch", "seed"]
NETWORK = ["activation", "init", "input_scale", "seq_len", "hidden", "batch", "seed"]   # but the one on the y axis
Y_NAMES = ("y_min", "y_max", "y_count")
# Every cell must open as the same configuration on the Gradient flow page, so the controls offer what its sliders
# offer, and so does the URL (core/phase.py PHASE_FIELDS). The y range and rows are checked against the chosen
# axis's controls after the link is read (ui/phase_state.py).
FIELDS = [url_field(name, getattr(DEFAULTS, name), PHASE_FIELDS[name]) for name in SHOWN]
STATE = PageState(PAGE, FIELDS)

MAX_CELLS_PER_AXIS = PHASE_FIELDS["s_count"].hi
UI_MAX_SEQ_LEN = PHASE_FIELDS["seq_len"].ui_range()[1]
INPUT_STEP = Y_SETTINGS["input_scale"]["y_min"].spec.step          # rows on the input-scale slider's values
UI_MAX_SEQ_LEN_ROWS = Y_SETTINGS["seq_len"]["y_count"].spec.ui_range()[1]
UI_Y_LIMITS = {axis: own["y_min"].spec.ui_range() for axis, own in Y_SETTINGS.items()}
# Each y axis has its own sensible range and rows, and keeps what the user chose for it in this session.
Y_DEFAULTS = {axis: tuple(Y_SETTINGS[axis][n].default if axis in Y_SETTINGS else getattr(DEFAULTS, n)
                          for n in Y_NAMES) for axis in Y_AXES}
AXIS_MEMORY = "_phase_axis_values"


def y_controls(y_axis: str) -> dict[str, FieldSpec]:
    """The declarations of the y range's and rows' controls on this axis ({} for the activation axis)."""
    return {name: setting.spec for name, setting in Y_SETTINGS.get(y_axis, {}).items()}


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
