"""The Phase diagram's page state beyond its fields: each y axis keeps its own range and rows, and values that
are valid one by one but not together (a range that does not fit the axis, grid sizes off the Gradient flow
page's slider values) are repaired, with a warning, before the widgets are drawn."""
from __future__ import annotations

import streamlit as st

from ui.flow_controls import WEIGHT_SCALES
from ui.phase_controls import (
    AXIS_MEMORY,
    INPUT_STEP,
    MAX_CELLS_PER_AXIS,
    STATE,
    UI_MAX_SEQ_LEN_ROWS,
    UI_Y_LIMITS,
    Y_DEFAULTS,
    Y_NAMES,
    aligned_counts,
    nearest,
)
from ui.url import inert, round_to

AXIS_SHOWN = "_phase_axis_shown"           # the y axis of the last run, for switch_y_axis


def begin() -> list[str]:
    """Before the widgets (PageState.begin with the axis's defaults for a link and the repairs); the warnings."""
    warnings = STATE.begin(on_link=axis_defaults_for_link, repair=repair)
    st.session_state[AXIS_SHOWN] = STATE["y_axis"]
    return warnings


def switch_y_axis() -> None:
    """The y axis changed: keep the old axis's range and rows, bring back the new one's (or its defaults)."""
    memory = st.session_state.setdefault(AXIS_MEMORY, {})
    old_axis = st.session_state.get(AXIS_SHOWN)
    if old_axis is not None:
        memory[old_axis] = tuple(STATE[n] for n in Y_NAMES)
    new_axis = STATE["y_axis"]
    for name, value in zip(Y_NAMES, memory.get(new_axis, Y_DEFAULTS[new_axis])):
        STATE[name] = value


def axis_defaults_for_link() -> None:
    """A link that names a y axis but not its range or rows gets that axis's defaults for them."""
    given = STATE.link_params()
    for name, value in zip(Y_NAMES, Y_DEFAULTS[STATE["y_axis"]]):
        if name not in given:
            STATE[name] = value


def s_count_options() -> list[int]:
    """Column counts that keep every column on a value of the Gradient flow page's weight-scale slider."""
    s_span = WEIGHT_SCALES.index(STATE["s_max"]) - WEIGHT_SCALES.index(STATE["s_min"])
    return aligned_counts(s_span, MAX_CELLS_PER_AXIS) if s_span > 0 else [STATE["s_count"]]


def y_count_options() -> list[int]:
    """Row counts of the input-scale axis that keep every row on a multiple of the input-scale slider's step."""
    y_span = round((STATE["y_max"] - STATE["y_min"]) / INPUT_STEP)
    return aligned_counts(y_span, MAX_CELLS_PER_AXIS) if y_span > 0 else [STATE["y_count"]]


def repair() -> list[str]:
    """Bring the y range, the rows and the columns into line with the y axis; the warnings about a link's values."""
    warnings = _fit_y_range()
    STATE["s_count"] = nearest(s_count_options(), STATE["s_count"])
    y_axis = STATE["y_axis"]
    if y_axis == "seq_len" and STATE["y_count"] > UI_MAX_SEQ_LEN_ROWS:
        warnings.append(f"URL parameter {inert('y_count=' + str(STATE['y_count']))} ignored: with "
                        f"y_axis=seq_len it must be an integer from 2 to {UI_MAX_SEQ_LEN_ROWS}. "
                        f"Using {UI_MAX_SEQ_LEN_ROWS}.")
        STATE["y_count"] = UI_MAX_SEQ_LEN_ROWS
    if y_axis == "input_scale":
        STATE["y_count"] = nearest(y_count_options(), STATE["y_count"])
    return warnings


def _fit_y_range() -> list[str]:
    """A y range (from a link) that does not fit the axis falls back to the axis's default range."""
    y_axis = STATE["y_axis"]
    if y_axis not in UI_Y_LIMITS:
        return []
    lo, hi = UI_Y_LIMITS[y_axis]
    bad = [n for n in ("y_min", "y_max") if not lo <= STATE[n] <= hi]
    warnings = [f"URL parameter {inert(f'{n}={STATE[n]:g}')} ignored: with y_axis={y_axis} it must be a "
                f"number from {lo:g} to {hi:g}. Using the default range." for n in bad]
    if bad:
        for name, value in zip(Y_NAMES, Y_DEFAULTS[y_axis]):
            STATE[name] = value
    if y_axis == "input_scale":
        for n in ("y_min", "y_max"):
            STATE[n] = round_to(INPUT_STEP)(STATE[n])
    return warnings
