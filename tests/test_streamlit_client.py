"""The protocol-level Streamlit client (harness/streamlit_client.py) against a tiny throwaway app."""
import json
import textwrap

import pytest
from conftest import run_async, streamlit_server
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from harness.streamlit_client import StreamlitSession, _Probe, stream_url

APP = textwrap.dedent("""
    import plotly.graph_objects as go
    import streamlit as st

    s = st.select_slider("Weight scale s", [0.1, 0.5, 1.0, 2.0, 10.0], value=1.0)
    st.plotly_chart(go.Figure(go.Scatter(x=list(range(8)), y=[s ** k for k in range(8)])))
    st.session_state.setdefault("clicks", 0)
    if st.button("Go"):
        st.session_state.clicks += 1
    st.write(f"clicks: {st.session_state.clicks}")

    @st.fragment(run_every=0.3)
    def ticker():
        st.session_state.ticks = st.session_state.get("ticks", 0) + 1
        st.write(f"ticks: {st.session_state.ticks}")

    ticker()

    @st.fragment(key="doubled")
    def doubled():
        st.write(f"doubled: {2 * st.session_state.get('n', 1)}")

    doubled()
    st.number_input("n", 1, 100, key="n", on_change=lambda: st.rerun("doubled"))
""")
TIMEOUT = 60   # seconds; generous for 2 cores


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """The throwaway app, served by `streamlit run` (stopped by its own PID)."""
    script = tmp_path_factory.mktemp("client_app") / "app.py"
    script.write_text(APP)
    with streamlit_server(script, cwd=script.parent) as base:
        yield base


def _texts(session):
    return [e.markdown.body for e in session.elements("markdown")]


def _ticks(session):
    return max([int(t.split()[1]) for t in _texts(session) if t.startswith("ticks:")], default=0)


def test_only_loopback_is_allowed():
    assert stream_url("http://localhost:8501/base/") == "ws://localhost:8501/base/_stcore/stream"
    for url in ("http://example.com:8501", "http://10.0.0.1:8501", "https://127.0.0.1:8501"):
        with pytest.raises(ValueError):
            stream_url(url)


def test_a_full_run_cut_off_by_a_fragment_run_is_reported_not_waited_for():
    """Streamlit 1.67 can drop a full run's end when a fragment rerun races it; the request must not hang."""
    def started(run_id, *fragment_ids):
        msg = ForwardMsg()
        msg.new_session.page_script_hash = "page"
        msg.metadata.run.script_run_id = run_id
        msg.metadata.run.fragment_ids.extend(fragment_ids)
        return msg

    async def scenario():
        s = StreamlitSession()
        probe = _Probe("", timers=("f1",))             # sent while f1's run_every timer was running
        s._probes.append(probe)
        s._handle(started("full"), 1.0)
        s._handle(started("frag", "f1"), 2.0)   # no script_finished for "full" in between
        assert probe.done.result() == (2.0, "INTERRUPTED") and s.lost_runs == 1
    run_async(scenario())


def test_connect_finds_widgets_and_sliding_changes_the_chart(app_url):
    async def scenario():
        async with StreamlitSession() as s:
            timing = await s.connect(app_url, page_url_path="", timeout=TIMEOUT)
            assert timing.status == "FINISHED_SUCCESSFULLY" and timing.chart is not None
            assert not s.exceptions, s.exceptions
            slider = s.find_widget("Weight scale s")
            assert (slider.kind, slider.value, slider.options) == (
                "select_slider", "1.0", ["0.1", "0.5", "1.0", "2.0", "10.0"])
            assert s.find_widget("Go").kind == "button"
            before = json.loads(s.elements("plotly_chart")[0].plotly_chart.spec)["data"][0]["y"]
            await s.wait_idle(timeout=TIMEOUT, quiet=0)
            moved = await s.set_widget("Weight scale s", "2.0", timeout=TIMEOUT)
            assert moved.status == "FINISHED_SUCCESSFULLY"
            assert moved.chart is not None and 0 < moved.chart <= moved.finished
            after = json.loads(s.elements("plotly_chart")[0].plotly_chart.spec)["data"][0]["y"]
            assert after != before and after[2] == pytest.approx(4.0)
            assert s.find_widget("Weight scale s").value == "2.0"
            for not_a_label in ("3.0", 2):   # the wire value is the label, not the index
                with pytest.raises(ValueError):
                    await s.set_widget("Weight scale s", not_a_label)
    run_async(scenario())


def test_click_runs_the_button(app_url):
    async def scenario():
        async with StreamlitSession() as s:
            await s.connect(app_url, page_url_path="", timeout=TIMEOUT)
            assert "clicks: 0" in _texts(s)
            for n in (1, 2):
                timing = await s.click("Go", timeout=TIMEOUT)
                assert timing.status == "FINISHED_SUCCESSFULLY"
                assert f"clicks: {n}" in _texts(s)
            await s.set_widget("Weight scale s", "0.5", timeout=TIMEOUT)   # the trigger was one-shot
            assert "clicks: 2" in _texts(s)
    run_async(scenario())


def test_run_every_fragment_keeps_rerunning(app_url):
    async def scenario():
        async with StreamlitSession() as s:
            await s.connect(app_url, page_url_path="", timeout=TIMEOUT)
            start = _ticks(s)
            rates = await s.measure_updates(2.0)
            assert s.auto_reruns_sent >= 4
            assert s.fragment_runs >= 3 and rates["fragment_runs_per_s"] >= 1.5
            assert rates["fragment_deltas_per_s"] > 0
            assert _ticks(s) >= start + 3
    run_async(scenario())


def test_a_widget_whose_callback_reruns_a_keyed_fragment_is_answered_by_that_fragment_run(app_url):
    """Gradient flow's sliders rerun only the page's results fragment (st.rerun(<key>) in on_change): the
    request is answered by that fragment's run, not by a full run that never comes."""
    async def scenario():
        async with StreamlitSession() as s:
            await s.connect(app_url, page_url_path="", timeout=TIMEOUT)
            assert "doubled: 2" in _texts(s)
            timing = await s.set_widget("n", 21, timeout=TIMEOUT)
            assert timing.status == "FINISHED_FRAGMENT_RUN_SUCCESSFULLY"
            assert "doubled: 42" in _texts(s) and "clicks: 0" in _texts(s)    # the rest of the page is kept
    run_async(scenario())


def _rss(pid: int) -> int:
    """A process's resident set in bytes (/proc)."""
    line = next(x for x in open(f"/proc/{pid}/status").read().splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def test_the_app_refuses_a_widget_state_message_over_one_megabyte_and_keeps_serving():
    """.streamlit/config.toml server.maxWidgetStateSize = 1: a rerun carrying 1.5 MB of widget state closes its
    connection instead of being kept in the session; half a megabyte (far more than any page sends) is accepted.
    Two floods of twenty refused messages of 20 MB (what Streamlit's default 25 MB limit let a client park in a
    session; 35 of them took a server from 0.36 to 1.8 GB) leave the server's memory where it was."""
    import urllib.request

    from streamlit.proto.WidgetStates_pb2 import WidgetState

    from harness.server import start_streamlit, stop_process, wait_healthy

    def padding(n):
        return [WidgetState(id="$$ID-padding-None", string_value="x" * n)]

    async def refused(n: int) -> None:
        async with StreamlitSession() as s:
            await s.connect(app_url, page_url_path="", timeout=TIMEOUT)
            with pytest.raises(ConnectionError):
                await s._request("", TIMEOUT, extra=padding(n))
            assert getattr(s._error, "code", None) == 1009 or "1009" in repr(s._error.__cause__ or s._error)

    async def scenario():
        async with StreamlitSession() as s:
            await s.connect(app_url, page_url_path="", timeout=TIMEOUT)
            timing = await s._request("", TIMEOUT, extra=padding(500_000))
            assert timing.status == "FINISHED_SUCCESSFULLY"
        await refused(1_500_000)
        async with StreamlitSession() as s:                      # the server goes on serving
            assert (await s.connect(app_url, page_url_path="", timeout=TIMEOUT)).status == "FINISHED_SUCCESSFULLY"

    async def flood():
        for _ in range(20):
            await refused(20_000_000)

    proc, app_url = start_streamlit()                            # the app itself, with its .streamlit/config.toml
    try:
        wait_healthy(app_url, 120, proc)
        run_async(scenario())
        before = _rss(proc.pid)
        run_async(flood())
        once = _rss(proc.pid)
        run_async(flood())
        twice = _rss(proc.pid)
        assert urllib.request.urlopen(app_url + "/_stcore/health", timeout=10).read() == b"ok"
        # Reading a 20 MB frame before refusing it costs buffers once (measured +40 MB); a second flood adds
        # nothing. With a 25 MB limit the same floods took a server from 373 to 573 and then 635 MB.
        assert twice - once < 20e6 and twice - before < 100e6, \
            f"RSS {before / 1e6:.0f} MB, then {once / 1e6:.0f} MB, then {twice / 1e6:.0f} MB"
    finally:
        stop_process(proc)
