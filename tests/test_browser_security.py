"""Hostile links in a real browser: no query parameter can put a link, an image or markup on the page, the page
asks no host but the server for anything, and the developer chrome and tracebacks stay hidden."""
from urllib.parse import urlencode, urlparse

import pytest
from conftest import wait_for_app_idle

from ui.cliff_controls import FIELDS as CLIFF_FIELDS
from ui.flow_controls import FIELDS as FLOW_FIELDS
from ui.flow_controls import PAGE_FIELDS
from ui.phase_controls import FIELDS as PHASE_FIELDS
from ui.training_controls import FIELDS as TRAINING_FIELDS

EVIL = "evil.example"
PAYLOADS = [
    f"1` [log in with your school account here](http://{EVIL}/login) `",      # escapes a one-backtick span
    f"![p](http://{EVIL}/pixel.png)",                                          # fetched without a click
    f"<img src=http://{EVIL}/raw.png><a href=http://{EVIL}/a>x</a>",           # raw HTML
    f"see http://{EVIL}/auto and www.{EVIL}",                                   # autolinks
    f"``` :red[big] $x^2$ [a]: http://{EVIL}/ref",                             # fences, directives, maths
]
PAGES = {
    "gradient-flow": [f.name for f in FLOW_FIELDS + PAGE_FIELDS],
    "training": [f.name for f in TRAINING_FIELDS] + ["preset"],
    "cliff": [f.name for f in CLIFF_FIELDS],
    "phase": [f.name for f in PHASE_FIELDS],
}


def test_every_page_parameter_is_covered():
    assert sum(len(names) for names in PAGES.values()) >= 67


def record_requests(page) -> list[str]:
    """The host of every request the page makes over the network (data: and blob: URLs stay in the page)."""
    hosts = []

    def record(request):
        url = urlparse(request.url)
        if url.scheme not in ("data", "blob"):
            hosts.append(url.hostname)
    page.on("request", record)
    return hosts


@pytest.mark.parametrize("path", list(PAGES))
@pytest.mark.parametrize("shift", [0, 1])
def test_hostile_values_in_every_parameter_render_nothing_active(app_url, page, path, shift):
    """Each parameter gets one of the payloads (two rounds, so each parameter meets two kinds)."""
    names = PAGES[path]
    query = urlencode({name: PAYLOADS[(i + shift) % len(PAYLOADS)] for i, name in enumerate(names)})
    hosts = record_requests(page)
    page.goto(f"{app_url}/{path}?{query}")
    wait_for_app_idle(page)
    page.wait_for_timeout(1500)
    assert page.locator(f'a[href*="{EVIL}"]').count() == 0
    assert page.locator(f'img[src*="{EVIL}"]').count() == 0
    assert page.locator('[data-testid="stAlert"] a, [data-testid="stAlert"] img').count() == 0
    assert page.locator('[data-testid="stException"]').count() == 0
    alerts = " ".join(page.locator('[data-testid="stAlert"]').all_inner_texts())
    assert "ignored" in alerts and "must be" in alerts               # the page says what was wrong ...
    assert "[log in with your school" in alerts or "![p](http" in alerts    # ... and shows the value as text
    assert set(hosts) <= {"127.0.0.1"}, set(hosts)                   # nothing fetched from anywhere else
    page.wait_for_selector(".js-plotly-plot", timeout=30_000)         # and the page still draws its charts


def test_a_huge_value_is_truncated_and_repeats_are_reported(app_url, page):
    page.goto(f"{app_url}/gradient-flow?seed={'9' * 10_000}&batch=4&batch=5&weight_scale=1000")
    wait_for_app_idle(page)
    alerts = page.locator('[data-testid="stAlert"]').all_inner_texts()
    text = " ".join(alerts)
    assert len(text) < 1500 and "9" * 41 not in text and "999…" in text
    assert "batch is given 2 times" in text and "using the last one, 5" in text
    assert "batch=5" in page.url                                      # the last value applies


def test_no_developer_chrome_and_no_request_to_other_hosts(app_url, page):
    """A classroom behind a firewall: every page loads with requests to the server only (the tab icon too),
    and anonymous users see no Deploy button or developer menu entries."""
    hosts = record_requests(page)
    for path in ["", "gradient-flow", "training", "cliff", "phase", "why"]:
        page.goto(f"{app_url}/{path}")
        wait_for_app_idle(page)
        page.wait_for_timeout(1000)
        assert page.get_by_text("Deploy", exact=True).count() == 0
        assert page.locator('[data-testid="stAppDeployButton"]').count() == 0
    assert set(hosts) == {"127.0.0.1"}, set(hosts)
    icon = page.evaluate("() => document.querySelector('link[rel~=icon]').href")
    assert urlparse(icon).hostname == "127.0.0.1"
