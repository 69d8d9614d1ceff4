"""The Loss cliff's controls: fields bound to URL query parameters, and the sidebar drawn from the settings'
declarations (core/cliff.py CLIFF_FIELDS)."""
from __future__ import annotations

import streamlit as st

from core.cliff import CLIFF_FIELDS, CliffConfig
from core.config import FieldSpec
from ui.page_state import PageState
from ui.url import UrlField, url_field
from ui.widgets import control, controls

PAGE = "cliff"
DEFAULTS = CliffConfig()
SHOW = {"grad": "gradient norm", "loss": "loss"}
# The page's own setting (not the experiment's): what colours the surface.
SHOW_SPEC = FieldSpec("choice", "Colour the surface by the gradient norm (log) or the loss.", tuple(SHOW),
                      widget="radio", label="Colour the surface by", option_labels=SHOW,
                      ui_help="Gradient norm (log colour) shows the wall as a bright ridge; the loss shows the jump "
                              "in E across it.")
# Each field accepts what its control offers, a URL value outside it gets a warning naming the allowed range
# (the learning rate accepts any valid rate: it joins the slider's).
FIELDS = ([url_field(name, getattr(DEFAULTS, name), spec) for name, spec in CLIFF_FIELDS.items()]
          + [UrlField("show", "grad", SHOW_SPEC)])
STATE = PageState(PAGE, FIELDS)


def _control(container, name: str, **overrides):
    return control(container, CLIFF_FIELDS[name], STATE.key(name), **overrides)


def cliff_controls(sb) -> None:
    """The sidebar: the start and the step, the surface, the network, the colouring."""
    sb.header("Start and step")
    controls(sb, {name: CLIFF_FIELDS[name] for name in ("w0", "b0")}, STATE.key)
    _control(sb, "lr")
    _control(sb, "steps")
    _control(sb, "clip")
    sb.header("Surface")
    c1, c2 = sb.columns(2)
    for column, name in ((c1, "w_min"), (c2, "w_max"), (c1, "b_min"), (c2, "b_max")):
        _control(column, name)
    _control(sb, "resolution")
    _control(sb, "seq_len")
    with sb.expander("Network"):
        _control(st, "x0")
        _control(st, "target")
    control(sb, SHOW_SPEC, STATE.key("show"))
