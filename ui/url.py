"""URL fields: how one control is written in and read from a query parameter, and how text that came
from the URL is shown.

Streamlit's own `bind="query-params"` silently drops invalid values and clamps out-of-range ones;
this app must instead say which parameter was wrong and what is allowed, then use the default. The
binding itself (page-private keys, links, memory) is `ui.page_state.PageState`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
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


def nearest_option(options):
    """A snap onto the nearest of a slider's (positive) options, by ratio."""
    def snap(value):
        return min(options, key=lambda o: abs(np.log(o) - np.log(value)))
    return snap


def round_to(step: float):
    """A snap onto the nearest multiple of `step` (a slider's step)."""
    return lambda value: round(round(value / step) * step, 10)


def url_field(name: str, default, spec: FieldSpec) -> UrlField:
    """The URL field of a setting drawn by its declared control: it accepts what the control offers (FieldSpec.for_ui)
    and snaps a value onto the control's options, its step or its displayed precision."""
    return UrlField(name, default, spec.for_ui(), _snap(spec))


def _snap(spec: FieldSpec):
    if spec.ui_open:                                       # a value off the options joins them, unchanged
        return None
    numbers = [o for o in spec.ui_options if o is not None]
    if numbers:
        if min(numbers) > 0:
            return nearest_option(numbers)
        return lambda value: min(numbers, key=lambda o: abs(o - value))   # 0 is an option (e.g. off)
    if spec.kind == "float" and spec.fmt is not None:      # a typed number: to the digits it is shown with
        return round_to(10 ** -int(spec.fmt.rstrip("f").split(".")[1]))
    # A slider's step is its grid; a number input's is only how far its arrows move, and it keeps any value typed
    # in (e.g. the Loss cliff's start point, which a click on the surface sets to three decimals).
    if spec.kind == "float" and spec.step is not None and spec.widget != "number_input":
        return round_to(spec.step)
    return None


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


INERT_LIMIT = 40          # characters of a URL value shown back to the user


def visible(c: str) -> str:
    """A character as shown back: itself if printable, else a visible escape (\\u202e): control characters,
    right-to-left overrides and isolates (which would reverse the text around them), zero-width spaces and
    joiners (which would hide a difference), line breaks."""
    if c.isprintable():
        return c
    return f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}"


def inert(text, limit: int = INERT_LIMIT) -> str:
    """User-supplied text as a markdown code span: shown literally (no link, image, emphasis, emoji,
    formula or HTML can come out of it), on one line, every non-printable character as a visible escape
    (visible()), truncated to `limit` characters. The fence is one backtick longer than the longest run of
    backticks in the text, so the text cannot close it."""
    shown = "".join(visible(c) for c in str(text)[:4 * limit])
    if len(shown) > limit:
        shown = shown[:limit] + "…"
    run = best = 0
    for c in shown:
        run = run + 1 if c == "`" else 0
        best = max(best, run)
    fence = "`" * (best + 1)
    return f"{fence} {shown} {fence}"


def dropped_query_warning() -> str | None:
    """A warning when Streamlit ignored this run's whole query string (more than 1,000 parameters, or more than
    512 Ki characters: every setting of the link is lost, silently), else None."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx
    from streamlit.runtime.state.query_params import (
        CLIENT_STATE_QUERY_STRING_MAX_FIELDS,
        CLIENT_STATE_QUERY_STRING_MAX_LENGTH,
        sanitize_query_string,
    )
    ctx = get_script_run_ctx()
    raw = getattr(ctx, "query_string", "") or ""
    if not isinstance(raw, str) or not raw or sanitize_query_string(raw):
        return None
    fields = raw.count("&") + 1
    what = (f"{fields:,} parameters (the limit is {CLIENT_STATE_QUERY_STRING_MAX_FIELDS:,})"
            if fields > CLIENT_STATE_QUERY_STRING_MAX_FIELDS else
            f"{len(raw):,} characters (the limit is {CLIENT_STATE_QUERY_STRING_MAX_LENGTH:,})")
    return (f"This link's address has {what}, so none of its settings could be read: the page shows its "
            "defaults. Shorten the link (copy it again from the page's Copy link).")


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


def student_link(query: dict[str, str] | None = None) -> str:
    """The address of this view for students: every setting of the page, without presentation mode (a teacher
    presenting hands out the normal view). `query`: the parameters (default: the address bar's)."""
    from urllib.parse import urlencode

    from ui.present import PARAM
    if query is None:
        pairs = [(k, v) for k in st.query_params for v in st.query_params.get_all(k)]
    else:
        pairs = list(query.items())
    text = urlencode([(k, v) for k, v in pairs if k != PARAM])
    base = (st.context.url or "").split("?")[0]
    return base + ("?" + text if text else "")


def copy_link_popover(query: dict[str, str] | None = None) -> None:
    """"Copy link for students": the address of exactly this view, presentation mode left out."""
    with st.popover("Copy link for students", icon=":material/link:",
                    help="The address of exactly this view (every setting, the open tab, the pinned curves), "
                         "without presentation mode."):
        st.code(student_link(query), language=None, wrap_lines=True)
        st.markdown("Use the copy icon at the right of the box, then paste it to your students.")


def share_bar(on_reset) -> None:
    """Under a page: the link to exactly this view (with a copy button) and a reset. Call after the page's
    STATE.end(), so the link holds this run's settings."""
    with st.container(horizontal=True, vertical_alignment="center"):
        copy_link_popover()
        st.button("Reset page", icon=":material/restart_alt:", on_click=on_reset,
                  help="Every setting of this page back to its default, and no pinned curves.")
        st.caption("The address bar holds every setting: copy it to share exactly this view.")
