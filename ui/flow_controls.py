"""Sidebar controls of the Gradient flow page, each bound to a URL query parameter."""
from __future__ import annotations

from types import SimpleNamespace

import streamlit as st
from streamlit.errors import StreamlitAPIException

from core import meanfield
from core.cells import CELLS
from core.config import (  # noqa: F401 (the sliders' values, which other pages and the tests import from here)
    CLIP_VALUES,
    HIDDEN_SIZES,
    UI_MAX_BATCH,
    UI_MAX_INPUT_SCALE,
    UI_MAX_SEED,
    UI_MAX_SEQ_LEN,
    UNROLL_FIELDS,
    WEIGHT_SCALES,
    FieldSpec,
    UnrollConfig,
)
from ui.page_state import PageState
from ui.url import UrlField, nearest_option, url_field
from ui.widgets import control, controls

DEFAULTS = UnrollConfig()
# Every network setting, with the range, snapping, label and help its declaration gives (core/config.py UNROLL_FIELDS,
# a cell's own in core/cells/).
FIELDS = [url_field(name, getattr(DEFAULTS, name), spec) for name, spec in UNROLL_FIELDS.items()]
# The tabs under the main chart; the open one is in the URL too (?view=spectrum). The page opens on Saturation:
# it shows something at every setting (Clipping shows one bar while clipping is off, its default).
TAB_LABELS = ["Clipping", "Spectrum", "Saturation", "Sweep"]
VIEW_FIELD = UrlField("view", "Saturation",
                      FieldSpec("choice", "Which chart tab is open.", tuple(t.lower() for t in TAB_LABELS)),
                      snap=lambda slug: TAB_LABELS[[t.lower() for t in TAB_LABELS].index(slug)])
# The main chart's y axis: the same decades for every setting (so two settings compare by eye), or fitted.
FIXED_Y_DECADES = (-40.0, 40.0)
Y_AXIS_FIELD = UrlField("y_axis", "fixed", FieldSpec(
    "choice", "The main chart's y axis: fixed from 1e-40 to 1e40 for every setting, or fitted to the curves.",
    ("fixed", "fitted"), widget="radio", label="Y axis", option_labels={"fixed": "fixed (1e-40 to 1e40)"}))
FIELD_BY_NAME = {f.name: f for f in FIELDS}
PAGE_FIELDS = [VIEW_FIELD, Y_AXIS_FIELD]       # the page's own settings, not the network's
STATE = PageState("flow", FIELDS + PAGE_FIELDS, extra_params=("pin",))
PINS_KEY = "flow_pins"               # the pinned curves, as pin codes (see pin_code below)
# The page's results fragment (app_pages/gradient_flow.py): a control that changes nothing else in the sidebar
# reruns only it, not the whole page (the cell, activation, initialisation, input scale, bias and clipping change
# which controls are shown or enabled, or the critical-initialisation button, so they rerun the page).
RESULTS = "flow_results"


def _results_only() -> None:
    try:
        st.rerun(RESULTS)
    except StreamlitAPIException:        # not drawn yet: the full rerun Streamlit does anyway
        pass


LIGHT = {"on_change": _results_only}


def _control(container, name: str, **overrides):
    return control(container, UNROLL_FIELDS[name], STATE.key(name), **overrides)


def flow_controls() -> list[str]:
    """Draw the sidebar (values in STATE); return the warnings about the URL."""
    entering = STATE.key(FIELDS[0].name) not in st.session_state
    warnings = STATE.begin()
    if entering and len(st.query_params):           # a link: its pins (or none) are the comparison it shows
        warnings += _pins_from_link()
    key = STATE.key
    sb = st.sidebar
    sb.header("Network")
    _control(sb, "cell")
    spec = CELLS[STATE["cell"]]
    _control(sb, "activation", disabled=not spec.uses_activation)
    _control(sb, "init", disabled="init" not in spec.uses)
    _control(sb, "weight_scale", disabled="weight_scale" not in spec.uses, **LIGHT)
    edge, why_not = critical_scale(STATE["cell"], STATE["init"], STATE["activation"], STATE["input_scale"],
                                   STATE["bias"], STATE["h0_scale"])
    sb.button("Critical initialisation", icon=":material/balance:", on_click=set_critical, args=(edge,),
              disabled=edge is None, width="stretch",
              help=(f"Set s to the edge of chaos of this network: where mean-field χ = 1 at the variance it settles "
                    f"to from its own start (activation, bias, input scale, initial state): s = {edge:.3g} (the "
                    "nearest slider value is used). There the gradient neither vanishes nor explodes, step after "
                    "step." if edge is not None else why_not))
    controls(sb, {name: UNROLL_FIELDS[name] for name in spec.settings}, key, **LIGHT)   # the cell's own
    _control(sb, "seq_len", **LIGHT)
    _control(sb, "hidden", **LIGHT)
    _control(sb, "batch", **LIGHT)
    _control(sb, "layers", disabled=not spec.stacks, **LIGHT)
    _control(sb, "input_scale")
    _control(sb, "seed", **LIGHT)
    control(sb, Y_AXIS_FIELD.spec, key("y_axis"), **LIGHT)
    sb.header("Clipping")
    _control(sb, "clip")
    _control(sb, "clip_mode", disabled=STATE["clip"] is None)
    with sb.expander("Advanced"):
        _control(st, "loss_on", **LIGHT)
        _control(st, "dtype", **LIGHT)
        _control(st, "bias")
        _control(st, "h0_scale", **LIGHT)
    return warnings


def critical_scale(cell: str, init: str, activation: str, input_scale: float, bias: float,
                   h0_scale: float) -> tuple[float | None, str]:
    """The weight scale at this network's edge of chaos, or None and why it has none (core.meanfield)."""
    cfg = SimpleNamespace(cell=cell, init=init, activation=activation, input_scale=input_scale, bias=bias,
                          h0_scale=h0_scale)
    return meanfield.critical_weight_scale(cfg)


def set_critical(edge: float) -> None:
    STATE["weight_scale"] = nearest_option(WEIGHT_SCALES)(edge)


def config_values() -> dict:
    """The network settings (every field but the open tab)."""
    return {f.name: STATE[f.name] for f in FIELDS}


# ---- pinned curves: each one is its settings, so a link reproduces the comparison ----------------------
PIN_PARAM = "pin"
MAX_PINS = 5


def pin_code(cfg: UnrollConfig) -> str:
    """The settings that differ from the defaults, 'activation:relu,weight_scale:2' ('default' if none)."""
    parts = [f"{f.name}:{f.to_url(getattr(cfg, f.name))}" for f in FIELDS if getattr(cfg, f.name) != f.default]
    return ",".join(parts) or "default"


def pin_config(code: str) -> UnrollConfig:
    """The network a pin code names; ConfigError (naming the field and its range) for anything else."""
    from core.errors import ConfigError
    from ui.url import parse_url_value
    values = {}
    if code.strip() != "default":
        for part in code.split(","):
            name, sep, raw = part.partition(":")
            if not sep or name not in FIELD_BY_NAME:
                raise ConfigError("pin", "settings written as name:value separated by commas", code)
            values[name] = parse_url_value(FIELD_BY_NAME[name], raw)
    return UnrollConfig(**values)


def _pins_from_link() -> list[str]:
    from core.errors import ConfigError
    from ui.url import inert
    pins, warnings = [], []
    for code in st.query_params.get_all(PIN_PARAM)[-MAX_PINS:]:
        try:
            pin_config(code)
        except ConfigError as err:
            warnings.append(f"URL parameter {inert('pin=' + code)} ignored: {err.field} must be {err.allowed}.")
        else:
            if code not in pins:
                pins.append(code)
    st.session_state[PINS_KEY] = pins
    return warnings[:3]


def reset_page() -> None:
    """Every setting of the page back to its default, the pins gone, the default tab open."""
    for f in FIELDS + PAGE_FIELDS:
        STATE[f.name] = f.default
    st.session_state[PINS_KEY] = []
