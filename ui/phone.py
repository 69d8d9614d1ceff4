"""A page's main controls above its chart on a phone.

On a narrow screen (≤ 640 px) Streamlit's sidebar is an overlay over the page: every slider move would be open,
drag, close, without seeing the chart move. `compact_row` draws the few controls a student moves most in a row
above the chart instead. It is drawn on every screen and hidden by CSS on wider ones (the sidebar is beside the
chart there), so a hidden row is neither seen, nor reached by Tab, nor read by a screen reader.

The row's widgets have keys of their own and share the page's state (ui/page_state.py): each run puts the page's
value into them, and moving one writes it back to the page's field (the sidebar's widget shows it on the same
run). A select slider offers coarser stops than the sidebar's: a phone's ~330 px track cannot place 81 values
(a 4 px step is finer than a finger), so it offers stops at least `MIN_STEP_PX` apart, plus the current value
when the sidebar set one between them.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import streamlit as st

from ui.page_state import PageState

ROW_KEY = "phone_controls"
NARROW_PX = 640                  # Streamlit's own breakpoint: at or below it the sidebar covers the page
MIN_STEP_PX = 24                 # a select slider's stops are at least this far apart on a 340 px track
SUFFIX = "__phone"

CSS = f"""
<style>
@media (min-width: {NARROW_PX + 1}px) {{
  .st-key-{ROW_KEY}, [data-testid="stLayoutWrapper"]:has(> .st-key-{ROW_KEY}) {{ display: none !important; }} }}
.st-key-{ROW_KEY} {{ gap: 0.25rem; }}
.st-key-{ROW_KEY} [data-testid="stWidgetLabel"] p {{ font-size: 0.9rem; }}
</style>
"""


@dataclass(frozen=True)
class Compact:
    """One control of the row: the page field it sets, its label, and either a select slider's stops
    (`stops`) or a select box's options (`choices`)."""
    name: str
    label: str
    stops: Sequence | None = None
    choices: Sequence | None = None
    format: Callable = str
    disabled: bool = False
    help: str | None = None
    pair: bool = False            # select boxes side by side (each a share of the row)


def phone_key(state: PageState, name: str) -> str:
    return state.key(name) + SUFFIX


def _write_back(state: PageState, name: str) -> None:
    state[name] = st.session_state[phone_key(state, name)]


def _options(control: Compact, value) -> list:
    if control.stops is None:
        return list(control.choices)
    return sorted(set(control.stops) | {value})


def compact_row(state: PageState, controls: list[Compact]) -> None:
    """The row (hidden on wide screens), in the page where it is called."""
    st.html(CSS)
    with st.container(key=ROW_KEY):
        pairs = [c for c in controls if c.pair]
        if pairs:
            with st.container(horizontal=True):
                for control in pairs:
                    _draw(state, control)
        for control in controls:
            if not control.pair:
                _draw(state, control)


def _draw(state: PageState, control: Compact) -> None:
    key = phone_key(state, control.name)
    value = state[control.name]
    options = _options(control, value)
    st.session_state[key] = value             # the page's value, whichever widget set it
    common = dict(key=key, format_func=control.format, disabled=control.disabled, help=control.help,
                  on_change=_write_back, args=(state, control.name))
    if control.stops is not None:
        st.select_slider(control.label, options, **common)
    else:
        st.selectbox(control.label, options, **common)


# ---- Gradient flow: cell and activation, weight scale, sequence length --------------------------------------
SEQ_LEN_STOPS = [2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000]


def flow_row() -> None:
    """Gradient flow's row: the four settings its lesson is about, over the chart."""
    from core.cells import CELLS
    from core.config import UNROLL_FIELDS
    from ui.flow_controls import STATE, WEIGHT_SCALES
    spec = CELLS[STATE["cell"]]

    def choices(name: str) -> dict:           # its declared options and their labels (core/config.py)
        field = UNROLL_FIELDS[name]
        return dict(choices=list(field.choices), format=lambda v: field.option_labels.get(v, v),
                    help=field.ui_help or field.help)
    compact_row(STATE, [
        Compact("cell", "Cell", **choices("cell"), pair=True),
        Compact("activation", "Activation f", **choices("activation"), disabled=not spec.uses_activation, pair=True),
        Compact("weight_scale", "Weight scale", stops=WEIGHT_SCALES[::8], format=lambda v: f"{v:g}",
                disabled="weight_scale" not in spec.uses,
                help="Log-spaced from 0.1 to 10, five stops a decade here; the sidebar (» at the top left) has "
                     "forty."),
        Compact("seq_len", "Sequence length", stops=SEQ_LEN_STOPS,
                help="How many steps the network runs; the sidebar (» at the top left) sets any length."),
    ])
