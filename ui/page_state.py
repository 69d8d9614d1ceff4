"""One page-state model for every page: page-private widget keys, bound to the URL, remembered per session.

- Widget keys are private to the page (`flow__seq_len`, `training__seq_len`): pages that share a field
  name never see each other's values.
- The URL uses the plain field names (`/gradient-flow?seq_len=300`). A link that arrives (typed, shared, or
  from another page's link) wins: the page takes every value from it and the defaults for the rest, whatever
  the session had before.
- Coming back through the menu (which opens a page without query parameters) restores the page as the
  user left it: Streamlit forgets the state of widgets that were not on screen, so each page keeps a
  copy of its values in the session and puts them back when it is entered again.
- Bad, repeated or unknown query parameters give one warning each; text that came from the URL is shown
  only as inert, truncated text (`ui.url.inert`), never as markdown.

Usage on a page:

    state = PageState("flow", FIELDS)
    warnings = state.begin()          # before the widgets
    st.slider(..., key=state.key("seq_len"))
    values = state.end()              # after the widgets: the URL and the page's memory are updated
"""
from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from core.config import ConfigError
from ui import present
from ui.url import UrlField, dropped_query_warning, inert, parse_url_value

# Query parameters Streamlit itself reads; never reported as unknown.
STREAMLIT_PARAMS = {"embed", "embed_options"}
APP_PARAMS = {present.PARAM, "lesson"}       # read by the app on every page (ui/present.py, ui/lesson_return.py)
MAX_WARNINGS = 6


class PageState:
    """The controls of one page (`page` is a short name used in widget keys). The widget of the first field
    must be drawn on every run of the page."""

    def __init__(self, page: str, fields: list[UrlField], extra_params: tuple[str, ...] = ()):
        self.page = page
        self.fields = fields
        self.by_name = {f.name: f for f in fields}
        self.extra_params = set(extra_params)     # parameters the page reads itself (e.g. `preset`)

    def key(self, name: str) -> str:
        """The widget key of a field on this page."""
        return f"{self.page}__{name}"

    @property
    def _memo_key(self) -> str:
        return f"_page_state_{self.page}"

    def __getitem__(self, name: str):
        return st.session_state[self.key(name)]

    def __setitem__(self, name: str, value) -> None:
        st.session_state[self.key(name)] = value

    def values(self) -> dict:
        return {f.name: st.session_state[self.key(f.name)] for f in self.fields}

    def link_params(self) -> dict[str, list[str]]:
        """This page's query parameters in the current URL (every value, in order)."""
        return {k: st.query_params.get_all(k) for k in st.query_params if k in self.by_name}

    def begin(self, on_link: Callable[[], None] | None = None,
              repair: Callable[[], list[str]] | None = None) -> list[str]:
        """Before the widgets: put the right values into the widget keys. Returns the warnings (inert
        markdown) about the URL. `on_link` runs when a new link was applied; `repair` on every run after it,
        to bring values that are valid one by one but not together back into line (it returns its warnings)."""
        warnings = self._apply(on_link)
        return warnings + repair() if repair is not None else warnings

    def _apply(self, on_link: Callable[[], None] | None) -> list[str]:
        memo = st.session_state.get(self._memo_key)
        params = self.link_params()
        # The first field's widget is drawn on every run of the page, so its key is missing exactly when
        # the page was not on screen in the previous run (Streamlit drops the state of widgets not drawn).
        entering = self.key(self.fields[0].name) not in st.session_state
        # Query parameters are a link only when the page is entered (a new session, the menu, a page link):
        # while the user stays on the page, the address bar is this page's own echo of its widgets, and a
        # rerun that interrupted the previous one may find it a step behind them.
        from_link = bool(params) and entering
        warnings = self._foreign_param_warnings() if entering else []
        if entering and (dropped := dropped_query_warning()) is not None:
            warnings.insert(0, dropped)
        if not entering:
            # Staying on the page: the widgets hold its state, except those hidden in the previous run
            # (e.g. run B's controls while racing was off), which come back from the page's memory.
            remembered = memo["values"] if memo is not None else {}
            for f in self.fields:
                if self.key(f.name) not in st.session_state:
                    st.session_state[self.key(f.name)] = remembered.get(f.name, f.default)
            return warnings
        values = {f.name: f.default for f in self.fields}
        if from_link:
            for name, raw_values in params.items():
                field = self.by_name[name]
                raw = raw_values[-1]
                if len(raw_values) > 1:
                    warnings.append(f"URL parameter {inert(name)} is given {len(raw_values)} times: using the "
                                    f"last one, {inert(raw)}.")
                try:
                    values[name] = parse_url_value(field, raw)
                except ConfigError as err:
                    shown = "off" if field.default is None else field.to_url(field.default)
                    warnings.append(f"URL parameter {inert(f'{name}={raw}')} ignored: {name} must be "
                                    f"{err.allowed}. Using the default, {inert(shown)}.")
        elif memo is not None:
            values.update(memo["values"])
        for name, value in values.items():
            st.session_state[self.key(name)] = value
        if from_link and on_link is not None:
            on_link()
        return _capped(warnings)

    def _foreign_param_warnings(self) -> list[str]:
        unknown = [k for k in st.query_params
                   if k not in self.by_name and k not in self.extra_params and k not in STREAMLIT_PARAMS
                   and k not in APP_PARAMS]
        return [f"URL parameter {inert(k)} is not a setting of this page: ignored." for k in unknown]

    def end(self, extra: dict[str, list[str]] | None = None) -> dict:
        """After the widgets: non-default values go to the URL (anything else is dropped from it) and the
        page remembers its values. `extra`: more parameters the page keeps in its URL (repeatable, e.g. pins).
        Returns the values by field name."""
        values = self.values()
        wanted = {f.name: [f.to_url(values[f.name])] for f in self.fields if values[f.name] != f.default}
        wanted.update({k: [v] for k, v in present.url_params().items()})
        wanted.update({k: list(v) for k, v in (extra or {}).items() if v})
        current = {k: st.query_params.get_all(k) for k in st.query_params}
        if current != wanted:
            st.query_params.from_dict(wanted)
        st.session_state[self._memo_key] = {"url": {k: v[-1] for k, v in wanted.items()}, "values": values}
        return values

    def forget(self) -> None:
        """Back to the defaults on the next run (the "Reset page" of a page)."""
        st.session_state.pop(self._memo_key, None)
        for f in self.fields:
            st.session_state.pop(self.key(f.name), None)


def _capped(warnings: list[str]) -> list[str]:
    if len(warnings) <= MAX_WARNINGS:
        return warnings
    return warnings[:MAX_WARNINGS] + [f"… and {len(warnings) - MAX_WARNINGS} more URL parameters ignored."]
