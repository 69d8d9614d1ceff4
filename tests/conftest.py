"""Shared fixtures: a real `streamlit run` server on a free port, and headless Chromium; the plumbing itself
(server, browser, protocol client) is the harness package's, shared with the benchmarks."""
import subprocess
import sys
from pathlib import Path

import pytest

import core
from harness.browser import CHROMIUM, CHROMIUM_ARGS, launch_chromium, run_async, wait_for_app_idle  # noqa: F401
from harness.server import free_port, streamlit_server  # noqa: F401  (tests import these from conftest too)
from harness.streamlit_client import plotly_values as values  # noqa: F401

core.configure_threads()          # the project's thread policy (core/runtime.py), as in the app and the CLI

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")   # AppTest.from_file resolves relative paths against the calling file
APPTEST_TIMEOUT = 60   # seconds; AppTest's default of 3 s is too short on 2 cores


@pytest.fixture(scope="session")
def app_url():
    """The app, started as a user would."""
    with streamlit_server() as base:
        yield base


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = launch_chromium(pw)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh browser page that fails the test on any uncaught page error."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert not errors, f"page errors: {errors}"


def open_page(page: str, **params):
    """AppTest of app.py switched to `page` (a path under app_pages/) with URL query parameters."""
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(APP, default_timeout=APPTEST_TIMEOUT).run()   # run once: pages get url paths
    at.switch_page(page)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def live_figures(at) -> list[dict]:
    """The figures drawn by ui.live_chart on an AppTest page, as Plotly JSON dicts (in page order)."""
    import json
    return [json.loads(json.loads(e.proto.json)["figure"]) for e in at.get("bidi_component")
            if e.proto.component_name == "gfl_live_plotly"]


def run_cli(*args, timeout=300):
    """`python -m core …` as a user runs it."""
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)
