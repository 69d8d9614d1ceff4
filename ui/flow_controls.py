"""Sidebar controls of the Gradient flow page, each bound to a URL query parameter."""
from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import streamlit as st
from streamlit.errors import StreamlitAPIException

from core import meanfield
from core.cells import CELLS
from core.config import UNROLL_FIELDS, FieldSpec, UnrollConfig
from ui.page_state import PageState
from ui.url import UrlField, nearest_option, round_to

DEFAULTS = UnrollConfig()
# Log-spaced weight scales 10^(i/40), i = −40..40: 0.1 … 10 with 1.0 exactly in the middle.
WEIGHT_SCALES = [float(f"{10 ** (i / 40):.3g}") for i in range(-40, 41)]
HIDDEN_SIZES = [8, 16, 32, 64, 128, 256, 512]
CLIP_VALUES = [float(f"{10 ** (i / 4):.3g}") for i in range(-8, 13)]   # 0.01 … 1000
UI_MAX_SEQ_LEN = 2000
UI_MAX_BATCH = 64
UI_MAX_INPUT_SCALE = 5.0
UI_MAX_SEED = 999_999           # plenty of seeds, and a range people can read

LABELS = {
    "cell": {name: spec.label for name, spec in CELLS.items()},
    "activation": {"tanh": "tanh", "sigmoid": "logistic sigmoid", "relu": "ReLU", "linear": "linear (none)"},
    "init": {"gaussian": "Gaussian N(0, s²/H)", "orthogonal": "orthogonal × s", "identity": "identity × s",
             "xavier": "Xavier/Glorot × s"},
    "clip_mode": {"norm": "by norm", "value": "by value"},
    "loss_on": {"last": "last step only", "all": "every step"},
}


FIELDS = [
    UrlField("cell", DEFAULTS.cell, UNROLL_FIELDS["cell"]),
    UrlField("activation", DEFAULTS.activation, UNROLL_FIELDS["activation"]),
    UrlField("init", DEFAULTS.init, UNROLL_FIELDS["init"]),
    UrlField("weight_scale", DEFAULTS.weight_scale,
             replace(UNROLL_FIELDS["weight_scale"], lo=0.1, hi=10.0), nearest_option(WEIGHT_SCALES)),
    UrlField("seq_len", DEFAULTS.seq_len, replace(UNROLL_FIELDS["seq_len"], hi=UI_MAX_SEQ_LEN)),
    UrlField("hidden", DEFAULTS.hidden, replace(UNROLL_FIELDS["hidden"], lo=HIDDEN_SIZES[0], hi=HIDDEN_SIZES[-1]),
             nearest_option(HIDDEN_SIZES)),
    UrlField("batch", DEFAULTS.batch, replace(UNROLL_FIELDS["batch"], hi=UI_MAX_BATCH)),
    UrlField("layers", DEFAULTS.layers, UNROLL_FIELDS["layers"]),
    UrlField("input_scale", DEFAULTS.input_scale, replace(UNROLL_FIELDS["input_scale"], hi=UI_MAX_INPUT_SCALE),
             round_to(0.05)),
    UrlField("seed", DEFAULTS.seed, replace(UNROLL_FIELDS["seed"], hi=UI_MAX_SEED)),
    UrlField("clip", DEFAULTS.clip, replace(UNROLL_FIELDS["clip"], lo=CLIP_VALUES[0], hi=CLIP_VALUES[-1],
                                            lo_open=False), nearest_option(CLIP_VALUES)),
    UrlField("clip_mode", DEFAULTS.clip_mode, UNROLL_FIELDS["clip_mode"]),
    UrlField("dtype", DEFAULTS.dtype, UNROLL_FIELDS["dtype"]),
    UrlField("loss_on", DEFAULTS.loss_on, UNROLL_FIELDS["loss_on"]),
    UrlField("bias", DEFAULTS.bias, UNROLL_FIELDS["bias"], round_to(0.1)),
    UrlField("h0_scale", DEFAULTS.h0_scale, replace(UNROLL_FIELDS["h0_scale"], hi=5.0), round_to(0.1)),
    UrlField("r_min", DEFAULTS.r_min, UNROLL_FIELDS["r_min"], round_to(0.001)),
    UrlField("r_max", DEFAULTS.r_max, UNROLL_FIELDS["r_max"], round_to(0.001)),
    UrlField("max_phase", DEFAULTS.max_phase, UNROLL_FIELDS["max_phase"], round_to(0.01)),
    UrlField("lru_norm", DEFAULTS.lru_norm, UNROLL_FIELDS["lru_norm"]),
]
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
    ("fixed", "fitted")))
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


def _help(name: str) -> str:
    return UNROLL_FIELDS[name].help


def _select(container, label, name, **kw):
    options = list(LABELS[name]) if name in LABELS else list(UNROLL_FIELDS[name].choices)
    return container.selectbox(label, options, key=STATE.key(name), help=_help(name),
                               format_func=lambda v: LABELS.get(name, {}).get(v, v), **kw)


def flow_controls() -> list[str]:
    """Draw the sidebar (values in STATE); return the warnings about the URL."""
    entering = STATE.key(FIELDS[0].name) not in st.session_state
    warnings = STATE.begin()
    if entering and len(st.query_params):           # a link: its pins (or none) are the comparison it shows
        warnings += _pins_from_link()
    key = STATE.key
    sb = st.sidebar
    sb.header("Network")
    _select(sb, "Cell", "cell")
    spec = CELLS[STATE["cell"]]
    _select(sb, "Activation f", "activation", disabled=not spec.uses_activation)
    _select(sb, "Recurrent initialisation", "init", disabled="init" not in spec.uses)
    sb.select_slider("Weight scale s", WEIGHT_SCALES, key=key("weight_scale"), format_func=lambda v: f"{v:g}",
                     disabled="weight_scale" not in spec.uses, **LIGHT,
                     help=_help("weight_scale") + " Log-spaced from 0.1 to 10.")
    edge, why_not = critical_scale(STATE["cell"], STATE["init"], STATE["activation"], STATE["input_scale"],
                                   STATE["bias"], STATE["h0_scale"])
    sb.button("Critical initialisation", icon=":material/balance:", on_click=set_critical, args=(edge,),
              disabled=edge is None, width="stretch",
              help=(f"Set s to the edge of chaos of this network: where mean-field χ = 1 at the variance it settles "
                    f"to from its own start (activation, bias, input scale, initial state): s = {edge:.3g} (the "
                    "nearest slider value is used). There the gradient neither vanishes nor explodes, step after "
                    "step." if edge is not None else why_not))
    if "r_min" in spec.uses:
        c1, c2 = sb.columns(2)
        c1.number_input("r min", 0.0, 1.0, step=0.01, format="%.3f", key=key("r_min"), help=_help("r_min"),
                        **LIGHT)
        c2.number_input("r max", 0.0, 1.0, step=0.001, format="%.3f", key=key("r_max"), help=_help("r_max"),
                        **LIGHT)
        sb.slider("Max phase", 0.0, 6.28, step=0.01, key=key("max_phase"), help=_help("max_phase"), **LIGHT)
        sb.radio("Normalisation γ", ["on", "off"], key=key("lru_norm"), horizontal=True, help=_help("lru_norm"),
                 **LIGHT)
    sb.slider("Sequence length T", 1, UI_MAX_SEQ_LEN, key=key("seq_len"), help=_help("seq_len"), **LIGHT)
    sb.select_slider("Hidden size H", HIDDEN_SIZES, key=key("hidden"), help=_help("hidden"), **LIGHT)
    sb.slider("Batch", 1, UI_MAX_BATCH, key=key("batch"), help=_help("batch"), **LIGHT)
    sb.slider("Layers", 1, int(UNROLL_FIELDS["layers"].hi), key=key("layers"), help=_help("layers"), **LIGHT)
    sb.slider("Input scale", 0.0, UI_MAX_INPUT_SCALE, step=0.05, key=key("input_scale"), help=_help("input_scale"))
    sb.number_input("Seed", 0, UI_MAX_SEED, step=1, key=key("seed"), help=_help("seed"), **LIGHT)
    sb.radio("Y axis", list(Y_AXIS_FIELD.spec.choices), key=key("y_axis"), horizontal=True,
             format_func={"fixed": "fixed (1e-40 to 1e40)", "fitted": "fitted"}.get, help=Y_AXIS_FIELD.spec.help,
             **LIGHT)
    sb.header("Clipping")
    sb.select_slider("Threshold", [None] + CLIP_VALUES, key=key("clip"),
                     format_func=lambda v: "off" if v is None else f"{v:g}",
                     help=_help("clip") + " Slide left to the end to switch clipping off.")
    sb.radio("Mode", list(LABELS["clip_mode"]), key=key("clip_mode"), horizontal=True,
             format_func=LABELS["clip_mode"].get, help=_help("clip_mode"), disabled=STATE["clip"] is None)
    with sb.expander("Advanced"):
        st.radio("Loss on", list(LABELS["loss_on"]), key=key("loss_on"), format_func=LABELS["loss_on"].get,
                 help=_help("loss_on"), horizontal=True, **LIGHT)
        st.radio("Precision", ["float32", "float64"], key=key("dtype"), help=_help("dtype"), horizontal=True, **LIGHT)
        st.slider("Bias b", -5.0, 5.0, step=0.1, key=key("bias"), help=_help("bias"))
        st.slider("Initial state scale", 0.0, 5.0, step=0.1, key=key("h0_scale"), help=_help("h0_scale"), **LIGHT)
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
