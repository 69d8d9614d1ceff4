"""URL binding for the Loss cliff and Phase diagram pages, with page-private widget keys.

The URL uses the field names (`?seq_len=40`), as everywhere in the app, but the widgets are keyed
`<page>_<field>`: several pages have a `seq_len`, `clip` or `hidden` control with different ranges and
meanings, and Streamlit 1.67 hands a widget created under a key that another page's widget used the
widget's default (seq_len became 2 on the Phase diagram after a visit to Gradient flow). Streamlit also
forgets the state of widgets that are off screen, so each page keeps a copy of its values and puts
them back when it is entered again. A link that arrives with query parameters (typed, shared, or
from another page in the same session) is honoured whenever it differs from what the page itself last
wrote to the address bar.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from core.config import ConfigError
from ui.flow_controls import WEIGHT_SCALES, nearest_option
from ui.url import UrlField, parse_url_value


def widget_key(page: str, name: str) -> str:
    return f"{page}_{name}"


def _memo_key(page: str) -> str:
    return f"_{page}_bound"


def seed(page: str, fields: list[UrlField]) -> list[str]:
    """Before the widgets: set their session-state values when the page is entered or a new link
    arrives. Returns one warning per bad query parameter (its default is used)."""
    memo = st.session_state.get(_memo_key(page))
    names = {f.name for f in fields}
    params = {k: st.query_params.get(k) for k in st.query_params if k in names}
    entering = any(widget_key(page, f.name) not in st.session_state for f in fields)
    from_link = bool(params) and (memo is None or params != memo["url"])
    if not (from_link or entering):
        return []                                   # the widgets hold the state
    values = {f.name: f.default for f in fields}
    warnings = []
    if from_link:
        for field in fields:
            if field.name not in params:
                continue
            try:
                values[field.name] = parse_url_value(field, params[field.name])
            except ConfigError as err:
                shown = "off" if field.default is None else field.to_url(field.default)
                warnings.append(f"URL parameter `{field.name}={params[field.name]}` ignored: {field.name} must be "
                                f"{err.allowed}. Using the default, {shown}.")
    elif memo is not None:
        values.update(memo["values"])
    for name, value in values.items():
        st.session_state[widget_key(page, name)] = value
    return warnings


def current(page: str, fields: list[UrlField]) -> dict:
    """The page's values, by field name."""
    return {f.name: st.session_state[widget_key(page, f.name)] for f in fields}


def sync(page: str, fields: list[UrlField]) -> dict:
    """After the widgets: non-default values go to the URL; the page remembers them. Returns the values."""
    values = current(page, fields)
    wanted = {f.name: f.to_url(values[f.name]) for f in fields if values[f.name] != f.default}
    if {k: st.query_params.get(k) for k in st.query_params} != wanted:
        st.query_params.from_dict(wanted)
    st.session_state[_memo_key(page)] = {"url": wanted, "values": values}
    return values


def aligned_counts(span: int, most: int) -> list[int]:
    """Grid sizes n (2 ≤ n ≤ most) that split `span` slider steps into equal whole steps, so that every
    grid value is also one of the slider's values: n − 1 must divide span."""
    counts = [d + 1 for d in range(1, span + 1) if span % d == 0 and d + 1 <= most]
    return counts or [2]


def round_to(step: float):
    """A snap for a URL value: the nearest multiple of `step` (a slider's step)."""
    return lambda value: round(round(value / step) * step, 10)


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
