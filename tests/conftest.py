"""Shared fixtures: a real `streamlit run` server on a free port, and headless Chromium."""
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

import core

core.configure_threads()          # the project's thread policy (core/runtime.py), as in the app and the CLI

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
APP = str(ROOT / "app.py")   # AppTest.from_file resolves relative paths against the calling file
APPTEST_TIMEOUT = 60   # seconds; AppTest's default of 3 s is too short on 2 cores


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def streamlit_server(script: Path | str = "app.py", cwd: Path = ROOT, port: int | None = None, env: dict | None = None):
    """`streamlit run script` on a free port as a user starts it; yields the base URL once /_stcore/health answers
    ok; stops the server by its own PID."""
    port = port or free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
         "--server.port", str(port), "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                if urllib.request.urlopen(base + "/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"streamlit exited with status {proc.returncode}") from None
                time.sleep(0.25)
        else:
            raise RuntimeError("streamlit never became healthy")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)


@pytest.fixture(scope="session")
def app_url():
    """The app, started as a user would."""
    with streamlit_server() as base:
        yield base


def run_async(coroutine):
    """asyncio.run in a thread of its own: Playwright's sync API keeps an event loop running in the main one."""
    import asyncio
    import threading
    result = {}

    def target():
        try:
            result["value"] = asyncio.run(coroutine)
        except BaseException as exc:          # re-raised in the caller's thread
            result["error"] = exc
    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
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


def wait_for_app_idle(pg, timeout=60_000):
    """Wait until Streamlit has finished running the script."""
    pg.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout)
    pg.wait_for_timeout(200)


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


def values(array) -> list:
    """A figure array as Plotly serialises it: a list, or typed bytes ({"dtype", "bdata"})."""
    import base64

    import numpy as np
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


def live_figures(at) -> list[dict]:
    """The figures drawn by ui.live_chart on an AppTest page, as Plotly JSON dicts (in page order)."""
    import json
    return [json.loads(json.loads(e.proto.json)["figure"]) for e in at.get("bidi_component")
            if e.proto.component_name == "gfl_live_plotly"]


def run_cli(*args, timeout=300):
    """`python -m core …` as a user runs it."""
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)
