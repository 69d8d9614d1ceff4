"""Where the Gradient flow page's slider-to-chart time goes, next to the floor app (benchmarks/floor_app.py).

Run: .venv/bin/python benchmarks/profile_rerun.py [--part server|profile|browser|trace|all] [--runs 12]
- server:  the protocol client (benchmarks/streamlit_client.py) moves the slider on both apps, interleaved, and
           times the server's answer (send -> first plotly_chart delta, send -> script_finished); counts the
           deltas of one rerun and their bytes (ForwardMsg.ByteSize), the chart's spec bytes and trace count.
- profile: benchmarks/profiled_app.py (app.py under cProfile, one profile per run) driven the same way; prints
           the profiled run time and the page's own functions by cumulative time (cProfile inflates
           call-heavy code such as Plotly's validators: read it as a ranking, the `server` part gives real ms).
- browser: Chromium, ArrowRight/Left on the focused slider as benchmarks/bench_latency.py does, with the
           WebSocket and long tasks recorded in the page: keydown -> BackMsg sent -> first ForwardMsg ->
           plotly_chart delta received -> chart data changed -> script_finished received; plus Plotly.newPlot
           of each app's chart figure alone in the same page.
- trace:   Chromium's trace of the renderer main thread over a few presses (busy ms, self ms by event) and a
           JS sampling profile (self ms by script and function: Plotly's bundle vs Streamlit's vs KaTeX).
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from conftest import CHROMIUM, CHROMIUM_ARGS, streamlit_server, wait_for_app_idle
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from benchmarks.streamlit_client import StreamlitSession

FLOOR_APP = ROOT / "benchmarks" / "floor_app.py"
APP_ENV = {**os.environ, "GFL_TORCH_THREADS": "1"}
SUBJECTS = {"app": ("gradient-flow", "Weight scale s"), "floor": ("", "Floor scale")}
TIMEOUT = 120


def med(xs):
    return statistics.median(xs) if xs else float("nan")


# --------------------------------------------------------------------------------------- protocol client ----

class RecordingSession(StreamlitSession):
    """StreamlitSession that logs every ForwardMsg: (arrival time, type, element type, bytes)."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[float, str, str | None, int, object]] = []

    def _handle(self, msg, t):
        kind = msg.WhichOneof("type")
        element = None
        if kind == "delta":
            element = (msg.delta.new_element.WhichOneof("type") if msg.delta.HasField("new_element")
                       else msg.delta.WhichOneof("type"))
        self.log.append((t, kind, element, msg.ByteSize(), msg if element == "plotly_chart" else None))
        super()._handle(msg, t)


async def _slide(session: RecordingSession, label: str, step: int):
    w = session.find_widget(label)
    i = w.options.index(w.value)
    target = w.options[i + (1 if step % 2 == 0 else -1)]
    session.log.clear()
    timing = await session.set_widget(label, target, timeout=TIMEOUT)
    await session.wait_idle(timeout=TIMEOUT)
    return timing, list(session.log)


async def _drive(bases: dict[str, str], runs: int, warmup: int = 2):
    """Interleaved slider moves on each app; per app: timings and the message log of the last rerun."""
    out = {}
    sessions = {}
    try:
        for name, base in bases.items():
            page, _ = SUBJECTS[name]
            s = RecordingSession()
            await s.connect(base, page_url_path=page, timeout=TIMEOUT)
            await s.wait_idle(timeout=TIMEOUT)
            sessions[name] = s
            out[name] = {"chart": [], "finished": [], "log": None}
        for step in range(warmup + runs):
            for name, s in sessions.items():
                timing, log = await _slide(s, SUBJECTS[name][1], step)
                if step >= warmup:
                    out[name]["chart"].append(timing.chart * 1000)
                    out[name]["finished"].append(timing.finished * 1000)
                    out[name]["log"] = log
                    out[name]["status"] = timing.status
    finally:
        for s in sessions.values():
            await s.close()
    return out


def describe_log(log) -> str:
    counts = collections.Counter(e or k for _, k, e, _, _ in log)
    total = sum(b for *_, b, _ in log)
    lines = [f"    {len(log)} ForwardMsgs, {total} bytes: " +
             ", ".join(f"{n}x {k}" for k, n in counts.most_common())]
    for _, _, element, size, msg in log:
        if msg is not None:
            spec = json.loads(msg.delta.new_element.plotly_chart.spec)
            template = len(json.dumps(spec["layout"].get("template", {})))
            traces = spec["data"]
            listed = sum(1 for tr in traces for axis in ("x", "y") if isinstance(tr.get(axis), list))
            lines.append(f"    plotly_chart delta {size} B: spec {len(msg.delta.new_element.plotly_chart.spec)} B "
                         f"(template {template} B), {len(traces)} traces, {listed} x/y arrays as JSON number "
                         f"lists (the rest base64 typed arrays)")
    return "\n".join(lines)


def part_server(runs: int) -> None:
    with ExitStack() as stack:
        bases = {"app": stack.enter_context(streamlit_server("app.py", env=APP_ENV)),
                 "floor": stack.enter_context(streamlit_server(FLOOR_APP))}
        out = asyncio.run(_drive(bases, runs))
    print(f"[server] protocol client, {runs} slider moves each, interleaved (ms, medians):")
    for name, r in out.items():
        print(f"  {name:5s}: send -> first plotly_chart delta {med(r['chart']):6.1f}   "
              f"send -> script_finished {med(r['finished']):6.1f}   (p90 finished "
              f"{statistics.quantiles(r['finished'], n=10)[8]:.1f})   status {r['status']}")
        print(describe_log(r["log"]))


# -------------------------------------------------------------------------------------------- cProfile ----

def part_profile(runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        env = {**APP_ENV, "GFL_PROFILE_DIR": tmp}
        base = stack.enter_context(streamlit_server(ROOT / "benchmarks" / "profiled_app.py", env=env))
        out = asyncio.run(_drive({"app": base}, runs))
        walls = [float(x) * 1000 for x in (Path(tmp) / "runs.txt").read_text().split()]
        profiles = sorted(Path(tmp).glob("run-*.prof"), key=lambda p: int(p.stem.split("-")[1]))
        keep = profiles[-runs:]               # the measured slider moves (not the first load, not the warm-up)
        stats = pstats.Stats(str(keep[0]))
        for p in keep[1:]:
            stats.add(str(p))
    print(f"[profile] app.py under cProfile: profiled run {med(walls[-runs:]):.0f} ms (median of {runs}); "
          f"the client saw send -> finished {med(out['app']['finished']):.0f} ms")
    entries = []
    for (file, line, func), (cc, nc, tt, ct, callers) in stats.stats.items():
        entries.append((ct / runs * 1000, tt / runs * 1000, nc // runs, file, line, func))
    ours = [e for e in entries if str(ROOT) in e[3] and "/.venv/" not in e[3] and "benchmarks" not in e[3]]
    print("  the project's functions, by cumulative ms per run (profiled):")
    for ct, tt, nc, file, line, func in sorted(ours, reverse=True)[:28]:
        print(f"    {ct:7.1f} ms cum {tt:6.1f} ms own {nc:6d} calls  {Path(file).relative_to(ROOT)}:{line} {func}")
    print("  library functions, by own ms per run (profiled):")
    for ct, tt, nc, file, line, func in sorted(entries, key=lambda e: -e[1])[:15]:
        short = file.split("site-packages/")[-1]
        print(f"    {tt:7.1f} ms own {ct:7.1f} ms cum {nc:6d} calls  {short}:{line} {func}")
    interesting = ("plotly_chart", "to_json", "return_figure_from_figure_or_data", "compute_and_register_element_id",
                   "download_button", "_enqueue", "latex", "metric", "markdown", "tabs", "get_or_create_cached_value",
                   "update_layout", "add_trace", "__init__")
    print("  selected library entry points, cumulative ms per run (profiled):")
    rows = [e for e in entries if e[5] in interesting and ("streamlit/elements" in e[3] or "streamlit/runtime/caching"
                                                             in e[3] or "plotly/io" in e[3] or "plotly/tools" in e[3]
                                                             or "basedatatypes" in e[3])]
    for ct, tt, nc, file, line, func in sorted(rows, reverse=True)[:20]:
        print(f"    {ct:7.1f} ms cum {nc:6d} calls  {file.split('site-packages/')[-1]}:{line} {func}")


# --------------------------------------------------------------------------------------------- browser ----

INIT = r"""
(() => {
  const rec = window.__gfl = {sent: [], recv: [], keydown: [], longtasks: [], changed: null};
  const Orig = window.WebSocket;
  function Wrapped(url, protocols) {
    const ws = protocols === undefined ? new Orig(url) : new Orig(url, protocols);
    const send = ws.send.bind(ws);
    ws.send = (d) => { rec.sent.push([performance.now(), d.byteLength ?? d.length ?? 0]); return send(d); };
    ws.addEventListener("message", (e) => { rec.recv.push([performance.now(), e.data]); });
    return ws;
  }
  Wrapped.prototype = Orig.prototype;
  for (const k of ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]) Wrapped[k] = Orig[k];
  window.WebSocket = Wrapped;
  document.addEventListener("keydown", () => rec.keydown.push(performance.now()), true);
  try {
    new PerformanceObserver((list) => { for (const e of list.getEntries()) rec.longtasks.push([e.startTime, e.duration]); })
      .observe({type: "longtask", buffered: true});
  } catch (e) {}
})();
"""
TAKE = r"""() => {
  const rec = window.__gfl;
  const b64 = (buf) => { if (typeof buf === "string") return null; const u = new Uint8Array(buf); let s = "";
    for (let i = 0; i < u.length; i += 0x8000) s += String.fromCharCode.apply(null, u.subarray(i, i + 0x8000));
    return btoa(s); };
  const out = {origin: performance.timeOrigin, sent: rec.sent, keydown: rec.keydown, longtasks: rec.longtasks, changed: rec.changed,
               recv: rec.recv.map(([t, d]) => [t, b64(d)])};
  rec.sent = []; rec.recv = []; rec.keydown = []; rec.longtasks = []; rec.changed = null;
  return out;
}"""
CURVE = """() => { const el = document.querySelector('.js-plotly-plot');
    return el && el.data ? JSON.stringify(el.data.map(d => d.y)) : null; }"""
CHANGED = f"(b) => {{ const c = ({CURVE})(); if (c !== b) {{ window.__gfl.changed = performance.now(); return true; }} return false; }}"
NEWPLOT = r"""async (n) => {
  const el = document.querySelector('.js-plotly-plot');
  if (!window.Plotly || !el) return null;
  const box = document.createElement('div');
  box.style.width = el.clientWidth + 'px'; box.style.height = el.clientHeight + 'px';
  document.body.appendChild(box);
  const times = [];
  for (let i = 0; i < n; i++) {
    const data = structuredClone(el.data), layout = structuredClone(el.layout);
    const t = performance.now();
    await window.Plotly.newPlot(box, data, layout, {displaylogo: false});
    times.push(performance.now() - t);
    window.Plotly.purge(box);
  }
  box.remove();
  times.sort((a, b) => a - b);
  return {median: times[Math.floor(times.length / 2)], traces: el.data.length};
}"""


def _parse(b64data: str | None):
    if b64data is None:
        return None
    msg = ForwardMsg()
    msg.ParseFromString(base64.b64decode(b64data))
    return msg


def _is_chart(msg) -> bool:
    return (msg is not None and msg.WhichOneof("type") == "delta" and msg.delta.HasField("new_element")
            and msg.delta.new_element.WhichOneof("type") == "plotly_chart")


def _timeline(rec, frames, runs, sent_log) -> dict:
    """The phases of one slider press, in ms from the keydown. Page clock: the page's own records (a message
    counts when the page's main thread gets to it). Network clock: Chromium's own WebSocket frame times (CDP),
    i.e. when the frame reached the browser, whatever the page's main thread was doing."""
    t_key = rec["keydown"][0]
    sent = [t for t, _ in rec["sent"] if t >= t_key]
    t_sent = sent[0] if sent else float("nan")
    first = chart = finished = None
    deltas = nbytes = 0
    for t, data in rec["recv"]:
        if data is None or t < t_sent:
            continue
        msg = _parse(data)
        kind = msg.WhichOneof("type")
        first = first if first is not None else t
        nbytes += len(base64.b64decode(data))
        deltas += kind == "delta"
        if chart is None and _is_chart(msg):
            chart = t
        if kind == "script_finished" and finished is None:
            finished = t
    # CDP: the first frame sent after the keydown is the rerun BackMsg; align the clocks on it.
    net_sent = next((t for kind, t, _ in frames if kind == "sent"), None)
    net_chart = net_finished = None
    for kind, t, data in frames:
        if kind != "recv" or net_sent is None or t < net_sent:
            continue
        msg = _parse(data)
        if net_chart is None and _is_chart(msg):
            net_chart = t
        if net_finished is None and msg is not None and msg.WhichOneof("type") == "script_finished":
            net_finished = t
    key_epoch = (rec["origin"] + t_key) / 1000
    run = next((r for r in runs if r["start"] >= key_epoch - 0.001), None)

    def srv(t):
        return float("nan") if t is None else (t - key_epoch) * 1000
    chart_out = next((e["t"] for e in sent_log if e["t"] >= key_epoch and e["kind"] == "plotly_chart"), None)
    finished_out = next((e["t"] for e in sent_log if e["t"] >= key_epoch and e["kind"] == "script_finished"), None)
    changed = rec["changed"]
    long_ms = sum(min(s + d, changed or s + d) - max(s, t_key) for s, d in rec["longtasks"]
                  if s + d > t_key and (changed is None or s < changed))

    def rel(t):
        return float("nan") if t is None else t - t_key

    def net(t):
        return float("nan") if t is None or net_sent is None else (t - net_sent) * 1000 + rel(t_sent)
    return {"send": rel(t_sent), "run_start": srv(run and run["start"]), "first_msg": rel(first),
            "chart_enq": srv(run and (run["charts"] or [None])[0]), "chart_out": srv(chart_out),
            "chart_net": net(net_chart),
            "chart_msg": rel(chart), "run_end": srv(run and run["end"]), "finished_out": srv(finished_out), "changed": rel(changed),
            "finished_net": net(net_finished), "finished_msg": rel(finished),
            "render": (changed - chart) if chart and changed else float("nan"),
            "long_tasks": long_ms, "deltas": deltas, "bytes": nbytes,
            "runs": sum(1 for r in runs if r["start"] >= key_epoch - 0.001)}


def part_browser(runs: int) -> None:
    from playwright.sync_api import sync_playwright
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        logs = {name: tmp / f"{name}.jsonl" for name in SUBJECTS}
        wrapper = ROOT / "benchmarks" / "profiled_app.py"      # app.py / floor_app.py, run times logged
        envs = {"app": {**APP_ENV, "GFL_TIMELINE": str(logs["app"])},
                "floor": {**APP_ENV, "GFL_TIMELINE": str(logs["floor"]), "GFL_SCRIPT": str(FLOOR_APP)}}
        bases = {name: stack.enter_context(streamlit_server(wrapper, env=env)) for name, env in envs.items()}
        pw = stack.enter_context(sync_playwright())
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        stack.callback(browser.close)
        pages, sliders, results, frames = {}, {}, {}, {}
        for name, base in bases.items():
            path, label = SUBJECTS[name]
            ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
            ctx.add_init_script(INIT)
            page = ctx.new_page()
            log = frames[name] = []
            cdp = ctx.new_cdp_session(page)
            cdp.on("Network.webSocketFrameSent", lambda p, log=log: log.append(("sent", p["timestamp"], None)))
            cdp.on("Network.webSocketFrameReceived", lambda p, log=log: log.append(
                ("recv", p["timestamp"], p["response"]["payloadData"] if p["response"]["opcode"] == 2 else None)))
            cdp.send("Network.enable")
            page.goto(f"{base}/{path}", timeout=60_000)
            wait_for_app_idle(page)
            page.wait_for_function(f"() => ({CURVE})() !== null", timeout=60_000)
            pages[name], sliders[name] = page, page.locator(f'input[type=range][aria-label="{label}"]')
            results[name] = []
        for step in range(runs + 2):
            for name, page in pages.items():
                page.bring_to_front()
                page.evaluate(TAKE)
                frames[name].clear()
                before = page.evaluate(CURVE)
                sliders[name].focus()
                sliders[name].press("ArrowRight" if step % 2 == 0 else "ArrowLeft")
                page.wait_for_function(CHANGED, arg=before, polling=5, timeout=30_000)
                wait_for_app_idle(page)
                if step >= 2:
                    runs_log = [json.loads(line) for line in logs[name].read_text().splitlines()]
                    sent_path = Path(str(logs[name]) + ".sent")
                    sent_log = [json.loads(line) for line in sent_path.read_text().splitlines()]
                    results[name].append(_timeline(page.evaluate(TAKE), list(frames[name]), runs_log, sent_log))
        newplot = {name: page.evaluate(NEWPLOT, 7) for name, page in pages.items()}
    print(f"[browser] Chromium, {runs} presses each, interleaved; ms from keydown (medians):")
    keys = ["send", "run_start", "first_msg", "chart_enq", "chart_out", "chart_msg", "run_end", "finished_out",
            "finished_msg", "changed", "render", "long_tasks", "deltas", "bytes", "runs"]
    print("        " + " ".join(f"{k:>12s}" for k in keys))
    for name, rows in results.items():
        print(f"  {name:5s} " + " ".join(f"{med([r[k] for r in rows]):12.1f}" for k in keys))
    print("  send: keydown -> BackMsg sent. run_start/chart_enq/run_end: the server's script run starting, enqueueing "
          "its first plotly_chart delta, ending; *_out: the server's event loop handing that delta / script_finished to "
          "the WebSocket (server clock); runs: script runs the press started. *_msg: the page's main thread getting to the first "
          "plotly_chart delta / script_finished; first_msg: new_session in the page. "
          "changed: the chart's data changed. render = changed - chart_msg (React + Plotly). long_tasks: main-"
          "thread long tasks (> 50 ms) between keydown and changed.")
    for name, r in newplot.items():
        if r is None:
            print(f"  {name}: window.Plotly not available, no isolated newPlot timing")
        else:
            print(f"  {name}: Plotly.newPlot of its chart alone: {r['median']:.1f} ms ({r['traces']} traces)")


def _main_thread_profile(trace: bytes) -> tuple[float, dict[str, float]]:
    """Busy ms (top-level tasks) and self ms by trace event name on the busiest renderer main thread."""
    events = json.loads(trace)
    events = events["traceEvents"] if isinstance(events, dict) else events
    mains = {(e["pid"], e["tid"]) for e in events
             if e.get("ph") == "M" and e.get("name") == "thread_name" and e["args"].get("name") == "CrRendererMain"}
    best = (0.0, collections.Counter())
    for pid, tid in mains:
        spans = sorted(((e["ts"], e.get("dur", 0), e["name"]) for e in events
                        if e.get("pid") == pid and e.get("tid") == tid and e.get("ph") == "X" and e.get("dur")),
                       key=lambda s: (s[0], -s[1]))
        own, stack, busy = collections.Counter(), [], 0.0
        for ts, dur, name in spans:
            while stack and stack[-1][0] + stack[-1][1] <= ts:
                stack.pop()
            if stack:
                own[stack[-1][2]] -= dur
            else:
                busy += dur
            own[name] += dur
            stack.append((ts, dur, name))
        if busy > best[0]:
            best = (busy / 1000, collections.Counter({k: v / 1000 for k, v in own.items()}))
    return best


def _js_profile(profile: dict) -> tuple[dict[str, float], dict[str, float]]:
    """Self ms by script (hash stripped) and by function, from a CDP Profiler profile."""
    import re
    nodes = {n["id"]: n for n in profile["nodes"]}
    ticks = collections.Counter()
    for node_id, dt in zip(profile["samples"], profile["timeDeltas"]):
        ticks[node_id] += dt
    by_script, by_function = collections.Counter(), collections.Counter()
    for node_id, us in ticks.items():
        frame = nodes[node_id]["callFrame"]
        script = re.sub(r"\.[0-9a-f]{8,}\.", ".", frame["url"].rsplit("/", 1)[-1]) or frame["functionName"] or "?"
        by_script[script] += us / 1000
        by_function[f"{frame['functionName'] or '(anonymous)'} [{script}]"] += us / 1000
    return by_script, by_function


def part_trace(runs: int) -> None:
    """Chromium's own account of the page's main thread over `runs` slider presses, per app."""
    from playwright.sync_api import sync_playwright
    presses = max(2, min(runs, 6))
    with ExitStack() as stack:
        bases = {"app": stack.enter_context(streamlit_server("app.py", env=APP_ENV)),
                 "floor": stack.enter_context(streamlit_server(FLOOR_APP))}
        pw = stack.enter_context(sync_playwright())
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        stack.callback(browser.close)
        for name, base in bases.items():
            path, label = SUBJECTS[name]
            ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = ctx.new_page()
            page.goto(f"{base}/{path}", timeout=60_000)
            wait_for_app_idle(page)
            page.wait_for_function(f"() => ({CURVE})() !== null", timeout=60_000)
            slider = page.locator(f'input[type=range][aria-label="{label}"]')
            cdp = ctx.new_cdp_session(page)

            def press_all(n, page=page, slider=slider):
                for i in range(n):
                    before = page.evaluate(CURVE)
                    slider.focus()
                    slider.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
                    page.wait_for_function(f"(b) => ({CURVE})() !== b", arg=before, polling=5, timeout=30_000)
                    wait_for_app_idle(page)
            press_all(2)                                   # warm-up
            browser.start_tracing(page=page, categories=["devtools.timeline", "disabled-by-default-devtools.timeline",
                                                         "blink"])
            press_all(presses)
            busy, own = _main_thread_profile(browser.stop_tracing())
            cdp.send("Profiler.enable")
            cdp.send("Profiler.setSamplingInterval", {"interval": 200})
            cdp.send("Profiler.start")
            press_all(presses)
            by_script, by_function = _js_profile(cdp.send("Profiler.stop")["profile"])
            ctx.close()
            # wait_for_app_idle sleeps 200 ms per press: idle, not busy, so it does not count here.
            print(f"[trace] {name}: renderer main thread busy {busy / presses:.0f} ms per press ({presses} presses, "
                  "each until idle)")
            print("    self ms per press by trace event: " + ", ".join(
                f"{k} {v / presses:.1f}" for k, v in own.most_common(10) if k not in ("ThreadControllerImpl::RunTask",)))
            idle = sum(v for k, v in by_script.items() if k in ("(idle)", "(program)", "(garbage collector)"))
            print(f"    JS sampling profile, self ms per press by script (idle/program/GC "
                  f"{idle / presses:.0f} ms not listed): " + ", ".join(
                      f"{k} {v / presses:.1f}" for k, v in by_script.most_common(12)
                      if k not in ("(idle)", "(program)")))
            print("    top JS functions, self ms per press: " + "; ".join(
                f"{k} {v / presses:.1f}" for k, v in by_function.most_common(14)
                if not k.startswith(("(idle)", "(program)"))))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["server", "profile", "browser", "trace", "all"], default="all")
    parser.add_argument("--runs", type=int, default=12)
    args = parser.parse_args()
    print(f"load average {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    for part in (["server", "profile", "browser", "trace"] if args.part == "all" else [args.part]):
        t0 = time.perf_counter()
        {"server": part_server, "profile": part_profile, "browser": part_browser, "trace": part_trace}[part](args.runs)
        print(f"  ({part}: {time.perf_counter() - t0:.0f} s)\n", flush=True)


if __name__ == "__main__":
    main()
