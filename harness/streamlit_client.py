"""A protocol-level Streamlit client: one simulated browser tab, no browser.

It speaks `/_stcore/stream` with Streamlit's own protobufs (BackMsg out, ForwardMsg in) the way the
Streamlit 1.67 frontend does, so a test or a load benchmark can run many of them against one server:

- Handshake: open the WebSocket with subprotocol "streamlit" (the server then creates the session and
  waits), send BackMsg.rerun_script = ClientState(page_script_hash="", page_name=<url path>,
  query_string=<URL query>, context_info=...). st.navigation resolves page_name against each
  st.Page's url_path and answers with a `navigation` message carrying the page's script hash; every
  later rerun sends that page_script_hash with page_name "" (as the browser does), or a full rerun
  would reopen the default page.
- Widget states: every widget element registers its drawn value (its default, or the value the server
  sets with set_value), and every rerun carries the whole list; a full run that no longer draws a widget
  drops its state. A select_slider goes on the wire as its option labels (string_array_value), not as
  indices: the frontend keeps indices internally but sends labels, and the server looks labels up.
- Fragments: `auto_rerun` (fragment_id, interval) starts a timer that sends a rerun with that
  fragment_id and is_auto_rerun=True every interval, like the frontend's setInterval; `stop_auto_rerun`
  and the start of every full run clear the timers.
- Keyed fragment reruns: a widget outside any fragment whose callback calls st.rerun(<fragment key>) is
  answered by a run of that fragment, not a full run (the Gradient flow page's sliders).
- A race in Streamlit 1.67 itself: when a fragment auto-rerun arrives just as a full run's script thread
  finishes (before the server's event loop has handled that runner's queued events), AppSession starts a
  new ScriptRunner and drops the old one's remaining events as "non-current": the client never gets that
  full run's last deltas, its script_finished or its auto_rerun, so a browser's run_every timer stays
  cleared. It shows here as a request whose status is INTERRUPTED and as `lost_runs`.

Only loopback servers are accepted.
"""
from __future__ import annotations

import asyncio
import time
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.Checkbox_pb2 import Checkbox
from streamlit.proto.ClientState_pb2 import ClientState, ContextInfo
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.NumberInput_pb2 import NumberInput
from streamlit.proto.Slider_pb2 import Slider
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
MAX_MESSAGE_BYTES = 256 * 2**20   # Streamlit's own server.maxMessageSize default is 200 MB
WIDGET_ELEMENTS = {"slider", "selectbox", "radio", "checkbox", "number_input", "text_input", "text_area",
                   "button"}
SUCCESS = {ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY}


@dataclass
class RunTiming:
    """Seconds from sending a rerun to the first plotly_chart delta of the run it started and to its end."""
    chart: float | None
    finished: float
    status: str         # a ScriptFinishedStatus name, or INTERRUPTED: a run of another kind started first
    deltas: int
    open: float = 0.0   # WebSocket handshake, connect() only


@dataclass
class Widget:
    """A widget on the page: its id, kind, label, options and the value this client holds for it."""
    id: str
    kind: str
    label: str
    value: Any
    options: list[str]
    fragment_id: str
    proto: Any


@dataclass
class _Node:
    """An element (or a block, element=None) at one delta path, and the run that drew it."""
    run_id: str
    fragment_id: str
    element: Any


@dataclass
class _Run:
    """The script run in progress: its id and the fragments it reruns (empty for a full run)."""
    id: str
    fragment_ids: tuple[str, ...]


@dataclass
class _Probe:
    """A rerun request in flight: the run that answers it and when its first chart and its end arrived."""
    fragment_id: str
    timers: tuple[str, ...] = ()       # fragments with run_every timers when the request was sent
    t0: float = 0.0
    run_id: str | None = None
    chart: float | None = None
    deltas: int = 0
    done: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def matches(self, fragment_ids: tuple[str, ...]) -> bool:
        """Whether a run of these fragments (none: a full run) is the kind this request starts. A widget
        outside any fragment starts a full run, or, when its callback calls st.rerun(<fragment key>), a run of
        that fragment only: any run of fragments that are not run_every timers'."""
        if self.fragment_id:
            return self.fragment_id in fragment_ids
        return not fragment_ids or not set(fragment_ids) & set(self.timers)


def plotly_values(array: Any) -> list:
    """A figure array as Plotly serialises it: a list, or typed bytes ({"dtype", "bdata"})."""
    if isinstance(array, dict):
        import base64

        import numpy as np
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


def stream_url(base_url: str) -> str:
    """The WebSocket URL of a server given as http://host:port[/base]; raises unless host is loopback."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "ws") or parts.hostname not in LOOPBACK_HOSTS:
        raise ValueError(f"only plain http/ws on loopback ({sorted(LOOPBACK_HOSTS)}) is allowed: {base_url!r}")
    return f"ws://{parts.netloc}{parts.path.rstrip('/')}/_stcore/stream"


def widget_kind(element: Any) -> str:
    """An element's type, with select_slider and toggle told apart from slider and checkbox."""
    kind = element.WhichOneof("type")
    if kind == "slider" and element.slider.type == Slider.SELECT_SLIDER:
        return "select_slider"
    if kind == "checkbox" and element.checkbox.type == Checkbox.TOGGLE:
        return "toggle"
    return kind


def _scalar(values: Any) -> Any:
    """A one-item list as its item, a longer one as a tuple (a range)."""
    values = list(values)
    return values[0] if len(values) == 1 else tuple(values)


def _drawn_value(kind: str, w: Any) -> Any:
    """The value the frontend holds for widget proto `w` when it draws it: its default or the server's set_value."""
    if kind == "slider":
        return _scalar(w.value if w.set_value else w.default)
    if kind == "select_slider":
        return _scalar(w.raw_value if w.set_value and w.raw_value else [w.options[int(i)] for i in w.default])
    if kind in ("selectbox", "radio"):
        if w.set_value:
            return w.raw_value if w.HasField("raw_value") else None
        return w.options[w.default] if w.HasField("default") and w.options else None
    if kind in ("checkbox", "toggle"):
        return w.value if w.set_value else w.default
    name = "value" if w.set_value else "default"   # number_input, text_input, text_area
    return getattr(w, name) if w.HasField(name) else None


def encode_value(kind: str, w: Any, value: Any) -> WidgetState:
    """The WidgetState the frontend sends for `value` in widget proto `w` (None: a cleared widget)."""
    state = WidgetState(id=w.id)
    if value is None:
        return state
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if kind == "slider":
        state.double_array_value.data[:] = [float(v) for v in values]
    elif kind == "select_slider":
        if not all(isinstance(v, str) and v in w.options for v in values):
            raise ValueError(f"{w.label!r} takes option labels {list(w.options)}, not {value!r}")
        state.string_array_value.data[:] = values
    elif kind in ("selectbox", "radio"):
        if value not in w.options and not (kind == "selectbox" and w.accept_new_options):
            raise ValueError(f"{w.label!r} takes one of {list(w.options)}, not {value!r}")
        state.string_value = value
    elif kind in ("checkbox", "toggle"):
        state.bool_value = bool(value)
    elif kind == "number_input":
        if w.data_type == NumberInput.INT:
            state.int_value = int(value)
        else:
            state.double_value = float(value)
    elif kind in ("text_input", "text_area"):
        state.string_value = str(value)
    else:
        raise TypeError(f"{w.label!r} is a {kind}; it has no value to set")
    return state


def decode_value(state: WidgetState | None) -> Any:
    """The Python value a WidgetState carries (a range as a tuple)."""
    name = state.WhichOneof("value") if state is not None else None
    if name is None:
        return None
    value = getattr(state, name)
    return _scalar(value.data) if name.endswith("_array_value") else value


class StreamlitSession:
    """One simulated browser tab on a Streamlit server, driven over the WebSocket protocol."""

    def __init__(self) -> None:
        self.session_id = ""
        self.query_string = ""
        self.page_script_hash = ""
        self.pages: dict[str, str] = {}        # url path -> page script hash, from st.navigation
        self.page_not_found = False
        self.script_is_running = False
        self.exceptions: list[str] = []
        self.runs_started = 0
        self.fragment_runs = 0                 # fragment runs that finished successfully
        self.fragment_deltas = 0               # deltas received during fragment runs
        self.chart_deltas = 0
        self.auto_reruns_sent = 0
        self.lost_runs = 0                     # full runs whose end a fragment run cut off (see module notes)
        self.last_message_at = 0.0             # time.perf_counter() of the last ForwardMsg received
        self._ws: Any = None
        self._reader: asyncio.Task | None = None
        self._cond = asyncio.Condition()
        self._error: BaseException | None = None
        self._run: _Run | None = None
        self._nodes: dict[tuple[int, ...], _Node] = {}
        self._states: dict[str, WidgetState] = {}
        self._probes: list[_Probe] = []
        self._auto: dict[str, tuple[float, asyncio.Task]] = {}
        self._context = ContextInfo()

    async def __aenter__(self) -> StreamlitSession:
        """Use as `async with StreamlitSession() as s:` to close on exit."""
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Close the session."""
        await self.close()

    async def connect(self, base_url: str, page_url_path: str = "gradient-flow", query_string: str = "",
                      timeout: float = 60.0, headers: dict[str, str] | None = None) -> RunTiming:
        """Open the stream, request `page_url_path` as a browser opening that URL does, wait for the run's end.

        `headers` go with the WebSocket handshake, e.g. {"Cookie": "GFLSRV=..."}: the stickiness cookie a
        load balancer set on the page's HTML, which a browser sends with its stream too."""
        url = stream_url(base_url)
        t0 = time.perf_counter()
        self._ws = await ws_connect(url, subprotocols=["streamlit"], proxy=None, max_size=MAX_MESSAGE_BYTES,
                                    open_timeout=timeout, close_timeout=5, additional_headers=headers)
        opened = time.perf_counter() - t0
        self.query_string = query_string
        page = f"{base_url.rstrip('/')}/{page_url_path}" + (f"?{query_string}" if query_string else "")
        self._context = ContextInfo(timezone="UTC", timezone_offset=0, locale="en-US", url=page,
                                    is_embedded=False, color_scheme="light")
        self._reader = asyncio.create_task(self._read())
        timing = await self._request("", timeout=timeout - opened, page_name=page_url_path)
        timing.open = opened
        if self.page_not_found:
            await self.close()
            raise LookupError(f"the app has no page at url path {page_url_path!r}; it opened its default page")
        return timing

    def widgets(self) -> list[Widget]:
        """Every widget the page shows now, in page order."""
        found = []
        for path in sorted(self._nodes):
            node = self._nodes[path]
            if node.element is None or node.element.WhichOneof("type") not in WIDGET_ELEMENTS:
                continue
            kind = widget_kind(node.element)
            w = getattr(node.element, node.element.WhichOneof("type"))
            options = list(getattr(w, "options", []))
            found.append(Widget(w.id, kind, w.label, decode_value(self._states.get(w.id)), options,
                                node.fragment_id, w))
        return found

    def find_widget(self, label: str) -> Widget:
        """The one widget with this label (or id); raises LookupError if there is none or more than one."""
        matches = [w for w in self.widgets() if label in (w.label, w.id)]
        if len(matches) != 1:
            labels = sorted({w.label for w in self.widgets()})
            raise LookupError(f"{len(matches)} widgets labelled {label!r} (pass the id if a label is shared); "
                              f"labels on the page: {labels}")
        return matches[0]

    def elements(self, kind: str | None = None) -> list[Any]:
        """The Element protos on the page now, in page order, optionally only those of one type."""
        return [n.element for _, n in sorted(self._nodes.items())
                if n.element is not None and (kind is None or n.element.WhichOneof("type") == kind)]

    async def set_widget(self, label_or_id: str, value: Any, timeout: float = 60.0) -> RunTiming:
        """Set a widget's value as a user would and rerun; time the first chart and the end of the run."""
        w = self.find_widget(label_or_id)
        self._states[w.id] = encode_value(w.kind, w.proto, value)
        return await self._request(w.fragment_id, timeout=timeout)

    async def click(self, label_or_id: str, timeout: float = 60.0) -> RunTiming:
        """Click a button (a one-shot trigger_value) and wait for the run it starts."""
        w = self.find_widget(label_or_id)
        if w.kind != "button":
            raise TypeError(f"{label_or_id!r} is a {w.kind}, not a button")
        return await self._request(w.fragment_id, timeout=timeout, extra=[WidgetState(id=w.id, trigger_value=True)])

    async def switch_page(self, url_path: str, timeout: float = 60.0) -> RunTiming:
        """Go to another page of the app on the same session, as a click in the sidebar menu does: stop the
        auto-rerun timers, rerun with that page's script hash (and no query string), wait for the run's end."""
        if url_path not in self.pages:
            raise LookupError(f"the app has no page at url path {url_path!r}; pages: {sorted(self.pages)}")
        for fragment_id in list(self._auto):
            self._stop_auto_rerun(fragment_id)
        self.page_script_hash = self.pages[url_path]
        self.query_string = ""
        return await self._request("", timeout=timeout)

    async def wait_idle(self, timeout: float = 60.0, quiet: float = 0.05) -> None:
        """Wait until no run is in progress and none starts for `quiet` s (run_every pages: use quiet=0)."""
        async with asyncio.timeout(timeout):
            while True:
                await self._wait_for(lambda: self._run is None)
                started = self.runs_started
                await asyncio.sleep(quiet)
                if self._run is None and self.runs_started == started:
                    return

    async def measure_updates(self, seconds: float) -> dict[str, float]:
        """Fragment runs, fragment deltas and chart deltas per second over the next `seconds`."""
        before = (self.fragment_runs, self.fragment_deltas, self.chart_deltas)
        t0 = time.perf_counter()
        await asyncio.sleep(seconds)
        dt = time.perf_counter() - t0
        after = (self.fragment_runs, self.fragment_deltas, self.chart_deltas)
        names = ("fragment_runs_per_s", "fragment_deltas_per_s", "chart_deltas_per_s")
        return {name: (b - a) / dt for name, a, b in zip(names, before, after)}

    async def close(self) -> None:
        """Stop the auto-rerun timers and close the WebSocket."""
        timers = [task for _, task in self._auto.values()]
        for fragment_id in list(self._auto):
            self._stop_auto_rerun(fragment_id)
        await asyncio.gather(*timers, return_exceptions=True)
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            with suppress(asyncio.CancelledError, asyncio.TimeoutError):
                await asyncio.wait_for(self._reader, 10)

    async def _request(self, fragment_id: str, timeout: float, page_name: str = "",
                       extra: list[WidgetState] | None = None) -> RunTiming:
        """Send a rerun and wait for the run it starts (following st.rerun chains) to finish."""
        if self._error is not None:
            raise ConnectionError("the Streamlit stream closed") from self._error
        probe = _Probe(fragment_id, timers=tuple(self._auto))
        self._probes.append(probe)
        try:
            probe.t0 = time.perf_counter()
            await self._send_rerun(fragment_id, page_name=page_name, extra=extra or [])
            t_end, status = await asyncio.wait_for(probe.done, timeout)
        finally:
            self._probes.remove(probe)
        chart = None if probe.chart is None else probe.chart - probe.t0
        return RunTiming(chart, t_end - probe.t0, status, probe.deltas)

    async def _send_rerun(self, fragment_id: str = "", page_name: str = "", auto: bool = False,
                          extra: list[WidgetState] | None = None) -> None:
        """Send BackMsg.rerun_script with every widget state, as the frontend's sendRerunBackMsg does."""
        state = ClientState(query_string=self.query_string, page_script_hash=self.page_script_hash,
                            page_name=page_name, fragment_id=fragment_id, is_auto_rerun=auto,
                            context_info=self._context)
        state.widget_states.widgets.extend([*self._states.values(), *(extra or [])])
        await self._ws.send(BackMsg(rerun_script=state).SerializeToString())

    async def _wait_for(self, predicate: Any) -> None:
        """Wait until predicate() holds; raises ConnectionError if the stream closed first."""
        async with self._cond:
            await self._cond.wait_for(lambda: predicate() or self._error is not None)
        if self._error is not None and not predicate():
            raise ConnectionError("the Streamlit stream closed") from self._error

    async def _read(self) -> None:
        """Receive ForwardMsgs until the stream closes, updating the page model and waking waiters."""
        try:
            async for data in self._ws:
                t = self.last_message_at = time.perf_counter()
                msg = ForwardMsg()
                msg.ParseFromString(data)
                self._handle(msg, t)
                async with self._cond:
                    self._cond.notify_all()
        except ConnectionClosed as exc:
            self._error = exc
        finally:
            self._error = self._error or ConnectionError("stream ended")
            for probe in self._probes:
                if not probe.done.done():
                    probe.done.set_exception(ConnectionError("the Streamlit stream closed"))
            for fragment_id in list(self._auto):
                self._stop_auto_rerun(fragment_id)
            async with self._cond:
                self._cond.notify_all()

    def _handle(self, msg: ForwardMsg, t: float) -> None:
        """Apply one ForwardMsg as the frontend would."""
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            self._on_new_session(msg, t)
        elif kind == "delta":
            self._on_delta(msg, t)
        elif kind == "script_finished":
            self._on_script_finished(msg, t)
        elif kind == "navigation":
            self.page_script_hash = msg.navigation.page_script_hash
            self.pages = {p.url_pathname: p.page_script_hash for p in msg.navigation.app_pages}
        elif kind == "page_info_changed":
            self.query_string = msg.page_info_changed.query_string
        elif kind == "page_not_found":
            self.page_not_found = True
        elif kind == "session_status_changed":
            self.script_is_running = msg.session_status_changed.script_is_running
        elif kind == "auto_rerun":
            self._start_auto_rerun(msg.auto_rerun.fragment_id, msg.auto_rerun.interval)
        elif kind == "stop_auto_rerun":
            for fragment_id in msg.stop_auto_rerun.fragment_ids:
                self._stop_auto_rerun(fragment_id)
        elif kind == "session_event" and msg.session_event.HasField("script_compilation_exception"):
            self.exceptions.append(msg.session_event.script_compilation_exception.message)

    def _on_new_session(self, msg: ForwardMsg, t: float) -> None:
        """A run started: requests bind to it or lose the run it replaced; a full run resets page and timers."""
        old, run = self._run, _Run(msg.metadata.run.script_run_id, tuple(msg.metadata.run.fragment_ids))
        self._run = run
        self.runs_started += 1
        if old is not None and not old.fragment_ids and run.fragment_ids:
            self.lost_runs += 1
        for probe in self._probes:
            if probe.done.done():
                continue
            if old is not None and probe.run_id == old.id and not probe.matches(run.fragment_ids):
                probe.done.set_result((t, "INTERRUPTED"))
            elif probe.run_id in (None, old and old.id) and probe.matches(run.fragment_ids):
                probe.run_id = run.id
        self.session_id = self.session_id or msg.new_session.initialize.session_id
        if not run.fragment_ids:
            self.page_script_hash = msg.new_session.page_script_hash
            for fragment_id in list(self._auto):
                self._stop_auto_rerun(fragment_id)

    def _on_delta(self, msg: ForwardMsg, t: float) -> None:
        """Put an element or block at its delta path; register a new widget's drawn value; time charts."""
        delta, path = msg.delta, tuple(msg.metadata.delta_path)
        run_id = self._run.id if self._run else ""
        is_chart = False
        if delta.HasField("new_element"):
            element = delta.new_element
            old = self._nodes.get(path)
            if old is not None and old.element is None:   # an element replaces a block and its children
                for p in [p for p in self._nodes if len(p) > len(path) and p[:len(path)] == path]:
                    del self._nodes[p]
            self._nodes[path] = _Node(run_id, delta.fragment_id, element)
            kind = element.WhichOneof("type")
            if kind in WIDGET_ELEMENTS and kind != "button":
                w, wkind = getattr(element, kind), widget_kind(element)
                if w.id not in self._states or w.set_value:
                    self._states[w.id] = encode_value(wkind, w, _drawn_value(wkind, w))
            elif kind == "exception":
                exc = element.exception
                self.exceptions.append(f"{exc.type}: {exc.message}" if exc.type else exc.message)
            is_chart = kind == "plotly_chart"
        elif delta.HasField("add_block"):
            self._nodes[path] = _Node(run_id, delta.fragment_id, None)
        self.chart_deltas += is_chart
        if self._run is not None and self._run.fragment_ids:
            self.fragment_deltas += 1
        for probe in self._probes:
            if run_id and probe.run_id == run_id:
                probe.deltas += 1
                if is_chart and probe.chart is None:
                    probe.chart = t

    def _on_script_finished(self, msg: ForwardMsg, t: float) -> None:
        """A run ended: drop what it did not redraw (and those widgets' states), answer the request it served."""
        status = msg.script_finished
        run = self._run or _Run("", ())
        run_id = msg.metadata.run.script_run_id or run.id
        fragment_ids = tuple(msg.metadata.run.fragment_ids) if msg.metadata.HasField("run") else run.fragment_ids
        if status in SUCCESS:
            self._nodes = {p: n for p, n in self._nodes.items()
                           if n.run_id == run_id or (fragment_ids and n.fragment_id not in fragment_ids)}
            drawn = {getattr(n.element, n.element.WhichOneof("type")).id for n in self._nodes.values()
                     if n.element is not None and n.element.WhichOneof("type") in WIDGET_ELEMENTS}
            self._states = {i: s for i, s in self._states.items() if i in drawn}
        if status == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY:
            self.fragment_runs += 1
        for probe in self._probes:
            if probe.run_id == run_id and not probe.done.done():
                if status == ForwardMsg.FINISHED_EARLY_FOR_RERUN:   # st.rerun(): the next run answers
                    probe.run_id = None
                else:
                    probe.done.set_result((t, ForwardMsg.ScriptFinishedStatus.Name(status)))
        if run.id == run_id:
            self._run = None

    def _start_auto_rerun(self, fragment_id: str, interval: float) -> None:
        """Start (or keep, if the interval is unchanged) the timer that reruns a run_every fragment."""
        if fragment_id in self._auto and self._auto[fragment_id][0] == interval:
            return
        self._stop_auto_rerun(fragment_id)
        self._auto[fragment_id] = (interval, asyncio.create_task(self._auto_rerun(fragment_id, interval)))

    def _stop_auto_rerun(self, fragment_id: str) -> None:
        """Cancel a fragment's auto-rerun timer."""
        _, task = self._auto.pop(fragment_id, (0.0, None))
        if task is not None:
            task.cancel()

    async def _auto_rerun(self, fragment_id: str, interval: float) -> None:
        """Every `interval` seconds, ask for a rerun of the fragment with is_auto_rerun, like setInterval."""
        with suppress(ConnectionClosed):
            while True:
                await asyncio.sleep(interval)
                await self._send_rerun(fragment_id, auto=True)
                self.auto_reruns_sent += 1
