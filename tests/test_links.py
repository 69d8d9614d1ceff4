"""Typed links (ui/links.py): every link of the Why, Lesson and Home pages opens its view without a URL warning,
and a link cannot name a parameter its page does not have."""
import importlib
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.conftest import open_page
from ui import nav
from ui.lesson_return import link_params
from ui.lesson_steps import STEPS
from ui.links import LinkError, link
from ui.url import parse_url_value

why = importlib.import_module("app_pages.why")
home = importlib.import_module("app_pages.home")

LINKS = ([(page, values) for links in why.LINKS.values() for page, _, values in links]
         + [(step.link[0], {**step.link[2], **link_params(n)}) for n, step in enumerate(STEPS, 1)]
         + [(nav.GRADIENT_FLOW, values) for _, values, _ in home.TRY_FIRST]
         + [(page, {}) for page in nav.PAGES]
         + [(nav.LESSON, {"step": n}) for n in range(1, len(STEPS) + 1)])       # "Back to the lesson, step n"
LINKS = list({link(page, values): (page, values) for page, values in LINKS}.values())     # each address once


def test_link_raises_for_a_parameter_the_page_does_not_have():
    with pytest.raises(LinkError, match="not a setting"):
        link(nav.GRADIENT_FLOW, {"sequence_length": 60})
    with pytest.raises(LinkError, match="not a setting"):
        link(nav.WHY, {"step": 2})
    with pytest.raises(LinkError, match="weight_scale must be"):
        link(nav.GRADIENT_FLOW, {"weight_scale": 1000})


def test_link_from_a_config_object_names_its_non_default_values():
    import core
    assert link(nav.GRADIENT_FLOW, core.UnrollConfig(cell="lstm", seq_len=300)) == "gradient-flow?cell=lstm&seq_len=300"
    assert link(nav.LESSON, {"step": 3}) == "lesson?step=3"


@pytest.mark.parametrize("page, values", LINKS, ids=[link(p, v) for p, v in LINKS])
def test_every_link_of_the_why_lesson_and_home_pages_opens_its_view_without_a_warning(page, values):
    address = link(page, values)
    assert urlsplit(address).path == page.url_path
    at = open_page(page.script, **dict(parse_qsl(urlsplit(address).query)))
    assert not at.warning, [w.value for w in at.warning]
    state = page.state()
    for name, raw in parse_qsl(urlsplit(address).query):     # the page took the link's settings
        if state is not None and name in state.by_name:
            assert at.session_state[state.key(name)] == parse_url_value(state.by_name[name], raw), name


def test_a_link_typed_by_hand_with_a_wrong_name_is_warned_about_by_the_page():
    at = open_page(nav.GRADIENT_FLOW.script, sequence_length="60")
    assert any("sequence_length" in w.value for w in at.warning)
