"""Typed internal links: every address to a page of the app is built here, from a config object or from values
checked against that page's own settings, so a link cannot name a parameter the page does not have.

    link(GRADIENT_FLOW, {"activation": "sigmoid", "seq_len": 60})   # 'gradient-flow?activation=sigmoid&seq_len=60'
    link(GRADIENT_FLOW, core.UnrollConfig(cell="lstm"))              # 'gradient-flow?cell=lstm'
    link(PHASE, {"sequence": 3})                                     # LinkError: not a setting of the page

A config object gives its non-default values; a dict gives every value it names (a link with parameters
replaces the page's settings, one without opens the page as the user left it).
"""
from __future__ import annotations

from dataclasses import asdict, is_dataclass
from typing import Any, Mapping
from urllib.parse import urlencode

from core.config import ConfigError
from ui.nav import Page
from ui.page_state import APP_PARAMS
from ui.url import parse_url_value


class LinkError(ValueError):
    """A link names a parameter its page does not have, or a value the page would refuse."""


def _values(config_or_values: Any) -> tuple[dict, bool]:
    """(the values, whether they come from a config object)."""
    if config_or_values is None:
        return {}, False
    if is_dataclass(config_or_values) and not isinstance(config_or_values, type):
        return asdict(config_or_values), True
    if isinstance(config_or_values, Mapping):
        return dict(config_or_values), False
    raise TypeError(f"a link is built from a config object or a dict, not {type(config_or_values).__name__}")


def query(page: Page, config_or_values: Any = None) -> dict[str, str]:
    """The query parameters of a link to `page`, each checked against the page's settings; raises LinkError."""
    values, from_config = _values(config_or_values)
    state = page.state()
    fields = state.by_name if state is not None else {}
    extra = state.extra_params if state is not None else set()
    params = {}
    for name, value in values.items():
        if name in fields:
            field = fields[name]
            raw = "off" if value is None else field.to_url(value) if not isinstance(value, str) else value
            try:
                checked = parse_url_value(field, raw)
            except ConfigError as err:
                raise LinkError(f"link to {page.title}: {name} must be {err.allowed}, not {value!r}") from None
            if from_config and checked == field.default:
                continue
            params[name] = field.to_url(checked)
        elif name in extra or name in APP_PARAMS:
            params[name] = str(value)
        else:
            known = sorted(fields) + sorted(extra)
            raise LinkError(f"link to {page.title}: {name!r} is not a setting of the page"
                            + (f" (it has {', '.join(known)})" if known else " (it has none)"))
    return params


def link(page: Page, config_or_values: Any = None) -> str:
    """The address of `page` with these settings, relative to the app (e.g. for a markdown link)."""
    params = query(page, config_or_values)
    return page.url_path + ("?" + urlencode(params) if params else "")


def page_link(container, page: Page, config_or_values: Any = None, *, label: str | None = None,
              icon: str | None = None, **kwargs) -> None:
    """st.page_link to `page` with these settings (checked as by `link`), drawn in `container`."""
    container.page_link(page.script, label=label or page.title, icon=icon or page.icon,
                        query_params=query(page, config_or_values), **kwargs)
