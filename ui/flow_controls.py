"""Sidebar controls of the Gradient flow page, each bound to a URL query parameter."""
from __future__ import annotations

from dataclasses import replace

import streamlit as st

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
    "cell": {"rnn": "Vanilla RNN", "lstm": "LSTM", "gru": "GRU"},
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
]
# The tabs under the main chart; the open one is in the URL too (?view=spectrum).
TAB_LABELS = ["Clipping", "Spectrum", "Saturation"]
VIEW_FIELD = UrlField("view", TAB_LABELS[0],
                      FieldSpec("choice", "Which chart tab is open.", tuple(t.lower() for t in TAB_LABELS)),
                      snap=lambda slug: TAB_LABELS[[t.lower() for t in TAB_LABELS].index(slug)])
FIELD_BY_NAME = {f.name: f for f in FIELDS}
STATE = PageState("flow", FIELDS + [VIEW_FIELD])


def _help(name: str) -> str:
    return UNROLL_FIELDS[name].help


def _select(container, label, name, **kw):
    options = list(LABELS[name]) if name in LABELS else list(UNROLL_FIELDS[name].choices)
    return container.selectbox(label, options, key=STATE.key(name), help=_help(name),
                               format_func=lambda v: LABELS.get(name, {}).get(v, v), **kw)


def flow_controls() -> list[str]:
    """Draw the sidebar (values in STATE); return the warnings about the URL."""
    warnings = STATE.begin()
    key = STATE.key
    sb = st.sidebar
    sb.header("Network")
    _select(sb, "Cell", "cell")
    gated = STATE["cell"] != "rnn"
    _select(sb, "Activation f", "activation", disabled=gated)
    _select(sb, "Recurrent initialisation", "init")
    sb.select_slider("Weight scale s", WEIGHT_SCALES, key=key("weight_scale"), format_func=lambda v: f"{v:g}",
                     help=_help("weight_scale") + " Log-spaced from 0.1 to 10.")
    sb.slider("Sequence length T", 1, UI_MAX_SEQ_LEN, key=key("seq_len"), help=_help("seq_len"))
    sb.select_slider("Hidden size H", HIDDEN_SIZES, key=key("hidden"), help=_help("hidden"))
    sb.slider("Batch", 1, UI_MAX_BATCH, key=key("batch"), help=_help("batch"))
    sb.slider("Input scale", 0.0, UI_MAX_INPUT_SCALE, step=0.05, key=key("input_scale"), help=_help("input_scale"))
    sb.number_input("Seed", 0, UI_MAX_SEED, step=1, key=key("seed"), help=_help("seed"))
    sb.header("Clipping")
    sb.select_slider("Threshold", [None] + CLIP_VALUES, key=key("clip"),
                     format_func=lambda v: "off" if v is None else f"{v:g}",
                     help=_help("clip") + " Slide left to the end to switch clipping off.")
    sb.radio("Mode", list(LABELS["clip_mode"]), key=key("clip_mode"), horizontal=True,
             format_func=LABELS["clip_mode"].get, help=_help("clip_mode"), disabled=STATE["clip"] is None)
    with sb.expander("Advanced"):
        st.radio("Loss on", list(LABELS["loss_on"]), key=key("loss_on"), format_func=LABELS["loss_on"].get,
                 help=_help("loss_on"), horizontal=True)
        st.radio("Precision", ["float32", "float64"], key=key("dtype"), help=_help("dtype"), horizontal=True)
        st.slider("Bias b", -5.0, 5.0, step=0.1, key=key("bias"), help=_help("bias"))
        st.slider("Initial state scale", 0.0, 5.0, step=0.1, key=key("h0_scale"), help=_help("h0_scale"))
    return warnings


def config_values() -> dict:
    """The network settings (every field but the open tab)."""
    return {f.name: STATE[f.name] for f in FIELDS}
