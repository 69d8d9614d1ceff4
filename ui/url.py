"""Two-way binding between widgets and URL query parameters, with a warning for every bad value.

Streamlit's own `bind="query-params"` silently drops invalid values and clamps out-of-range ones;
this app must instead say which parameter was wrong and what is allowed, then use the default.
Usage on a page (widget keys are the field names):

    fields = [UrlField("weight_scale", 1.0, spec), ...]
    for message in seed_from_url("flow", fields):   # before the widgets are created
        st.warning(message)
    ... create widgets with key=field.name ...
    sync_to_url(fields)                              # after: non-default values go to the URL
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import streamlit as st

from core.config import ConfigError, FieldSpec


@dataclass(frozen=True)
class UrlField:
    name: str                                   # widget key and query-parameter name
    default: Any
    spec: FieldSpec                             # the allowed values (may be narrower than the engine's)
    snap: Callable[[Any], Any] | None = None    # map a valid value onto the widget's options

    def to_url(self, value) -> str:
        if value is None:
            return "off"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float):
            return f"{value:g}"
        return str(value).lower() if self.spec.kind == "choice" else str(value)


def parse_url_value(field: UrlField, raw: str):
    """The checked value of one raw query-parameter string; raises ConfigError."""
    if field.spec.kind == "bool":
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ConfigError(field.name, "true or false", raw)
    value = field.spec.parse(field.name, raw)
    return field.snap(value) if field.snap is not None and value is not None else value


def seed_from_url(page: str, fields: list[UrlField]) -> list[str]:
    """On the first run of `page` in this session, put URL values into session state.
    Returns one warning line per bad parameter (the default is used for it)."""
    flag = f"_url_seeded_{page}"
    if st.session_state.get(flag):
        return []
    st.session_state[flag] = True
    warnings = []
    params = st.query_params
    for field in fields:
        if field.name not in params:
            continue
        raw = params.get(field.name)
        try:
            st.session_state[field.name] = parse_url_value(field, raw)
        except ConfigError as err:
            shown = "off" if field.default is None else field.to_url(field.default)
            warnings.append(f"URL parameter `{field.name}={raw}` ignored: {field.name} must be "
                            f"{err.allowed}. Using the default, {shown}.")
    return warnings


def sync_to_url(fields: list[UrlField]) -> None:
    """Write the current widget values to the URL; values equal to the default are left out."""
    wanted = {}
    for field in fields:
        value = st.session_state.get(field.name, field.default)
        if value != field.default:
            wanted[field.name] = field.to_url(value)
    current = {k: st.query_params.get(k) for k in st.query_params}
    if current != wanted:
        st.query_params.from_dict(wanted)


def show_warnings(warnings: list[str]) -> None:
    for message in warnings:
        st.warning(message, icon=":material/warning:")


def build_or_stop(factory: Callable[[], Any], what: str, before_stop: Callable[[], None] | None = None):
    """factory() (a config constructor); on a ConfigError show one clear line and stop the page."""
    try:
        return factory()
    except ConfigError as err:
        st.error(f"Cannot {what}: {err}.", icon=":material/block:")
        if before_stop is not None:
            before_stop()
        st.stop()
