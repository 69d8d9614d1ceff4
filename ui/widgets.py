"""Draw a control from its setting's declaration (core/fields.py FieldSpec): the label, the range or the options,
the step, the format and the help all come from the one place the CLI and the URL read them too."""
from __future__ import annotations

import streamlit as st

from core.fields import FieldSpec


def control(container, spec: FieldSpec, key: str, **overrides):
    """The widget `spec` declares, bound to st.session_state[key], in `container` (st, st.sidebar, a column…).
    `overrides` go to the Streamlit call as they are: disabled, on_change, or a page's own label or help; `options`
    replaces the declared options where they are computed at run time (e.g. grid sizes that depend on a range)."""
    kw = {"key": key, "help": spec.ui_help or spec.help, **overrides}
    label = kw.pop("label", spec.label)
    options = kw.pop("options", None)
    if spec.widget in ("selectbox", "radio"):
        if spec.option_labels:
            kw.setdefault("format_func", spec.show)
        if spec.widget == "radio":
            kw.setdefault("horizontal", True)
        return getattr(container, spec.widget)(label, list(spec.choices if options is None else options), **kw)
    if spec.widget == "select_slider":
        return container.select_slider(label, slider_options(spec, key, options), format_func=spec.show, **kw)
    if spec.widget in ("slider", "number_input"):
        if spec.step is not None:
            kw.setdefault("step", spec.step)
        if spec.fmt is not None:
            kw.setdefault("format", spec.fmt)
        return getattr(container, spec.widget)(label, *spec.ui_range(), **kw)
    if spec.widget == "toggle":
        return container.toggle(label, **kw)
    raise ValueError(f"{spec.label or spec.help!r} declares no control")


def slider_options(spec: FieldSpec, key: str, options=None) -> list:
    """A select_slider's values: the declared ones (or `options`), and where they are open (FieldSpec.ui_open) the
    value it holds too, in order, so a value from a link is shown as it is rather than moved."""
    values = list(spec.ui_options if options is None else options)
    current = st.session_state.get(key)
    if spec.ui_open and current is not None and current not in values:
        values = sorted([*values, current])
    return values


def controls(container, specs: dict[str, FieldSpec], key, **overrides) -> None:
    """Several settings in their declared order (e.g. a cell's own); number inputs that follow each other share a
    row, two by two. `key(name)` is a setting's widget key."""
    names = list(specs)
    i = 0
    while i < len(names):
        pair = names[i:i + 2]
        if len(pair) == 2 and all(specs[n].widget == "number_input" for n in pair):
            for column, name in zip(container.columns(2), pair):
                control(column, specs[name], key(name), **overrides)
            i += 2
        else:
            control(container, specs[names[i]], key(names[i]), **overrides)
            i += 1
