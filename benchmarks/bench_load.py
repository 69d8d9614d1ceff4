"""Load test: N simulated students on one `streamlit run` process, and on two behind the project's HAProxy.

Run: .venv/bin/python benchmarks/bench_load.py [--users 1,10,30] [--setups one,two] [--train-seconds 30]
     [--hostile] (the hostile scenario, its section below) [--snapshot] (servers on a copy of HEAD) [--verbose]

A student is a protocol-level client (harness/streamlit_client.py, no browser, loopback only) on a classroom
path: arrive (`--stagger` s apart), GET / (through the balancer: the GFLSRV cookie), open Gradient flow, move
"Weight scale s" `--moves` times with think times, open the Training lab (same session), Start, train until all
have trained together for `--train-seconds`, Pause, leave. Set-ups, fresh for every N, GFL_TORCH_THREADS=1:
one process (the app's default heavy-job slots), or two behind HAProxy (deploy/local_haproxy.py) with cores / 2
slots each, as deploy/compose.yaml gives a replica its CPU limit.

Measured per (set-up, N):
  slider p50/p95   s from the rerun request to the run's first chart delta (busy / calm: others training or not)
  steps/s          steps per student per second over the window all trained together (mean, min, total)
  health p50/max   GET /_stcore/health every ~0.5 s through the students' URL
  errors           failed connections, timeouts, closed streams, exceptions, lost runs, failed health checks,
                   streams not routed by their cookie, tracebacks in the logs (0 steps: "starved", not an error)
  CPU              cores used by the servers (and HAProxy), this generator and other processes
  wait%            share of the window in which a student's page waited for a free worker

Targets (issue): 0 errors at N = 30; at N = 10 the slider p50 <= 2x the one at N = 1; two processes >= 1.5x the
one-process training throughput. Every server is stopped by its own PID; every phase has a deadline.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from deploy.local_haproxy import start_local_balancer
from deploy.local_haproxy import stop as stop_balancer
from harness import server
from harness.server import LOOPBACK, CpuMeter, HealthPoller, RssSampler, free_port, stop_process, wait_healthy
from harness.streamlit_client import StreamlitSession, plotly_values
from harness.timing import fmt, table
from harness.timing import percentile as pct

MAX_USERS = 60                     # bounded: one process drives them all on a 2-core machine
SLIDER = "Weight scale s"
STICKY_COOKIE = "GFLSRV"           # deploy/haproxy.cfg: cookie GFLSRV insert indirect ...
STEP_RE = re.compile(r"\bstep\W{0,4}(\d+)", re.IGNORECASE)    # "**training…** · step **123** · 20 steps/s ..."


# ----------------------------------------------------------------------------------------------- servers ----

APP_DIR = ROOT                     # where the servers run app.py: the working tree, or a snapshot of HEAD


def slots_for(backends: int, heavy_slots: int | None) -> int | None:
    """GFL_HEAVY_SLOTS of each of `backends` processes: --heavy-slots, else the environment's, else (None) the
    app's own default for one process, and for several each one's share of the cores, as deploy/ sets it."""
    if heavy_slots is not None:
        return heavy_slots
    if os.environ.get("GFL_HEAVY_SLOTS") or backends == 1:
        return None
    return max(1, len(os.sched_getaffinity(0)) // backends)


@contextmanager
def app_servers(logs: list[Path], heavy_slots: int | None, args: argparse.Namespace):
    """One `streamlit run app.py` per log file, on free ports, as the deployment runs it (one torch thread), each
    healthy and warmed up; yields [(process, base URL)] and stops every one by its own PID on the way out."""
    env = {**os.environ, "GFL_TORCH_THREADS": "1"}
    if heavy_slots is not None:
        env["GFL_HEAVY_SLOTS"] = str(heavy_slots)
    with ExitStack() as stack:
        started = []
        for log in logs:
            started.append(server.start_streamlit("app.py", cwd=APP_DIR, env=env, log=log))
            stack.callback(stop_process, started[-1][0])
        for proc, base in started:
            wait_healthy(base, args.start_timeout, proc)
        for _, base in started:
            asyncio.run(asyncio.wait_for(warm_up(base, args.request_timeout), args.start_timeout))
        yield started


async def warm_up(base: str, timeout: float) -> None:
    """One throwaway visit (Gradient flow, one slider move, Training lab, one Step) so that lazy imports and
    first-use costs are not charged to the first student."""
    async with StreamlitSession() as s:
        await s.connect(base, "gradient-flow", timeout=timeout)
        w = s.find_widget(SLIDER)
        await s.set_widget(SLIDER, w.options[min(w.options.index(w.value) + 1, len(w.options) - 1)], timeout=timeout)
        await s.switch_page("training", timeout=timeout)
        with suppress(LookupError, TypeError):          # an admission queue may rename or hide it: not needed
            await s.click("Step", timeout=timeout)


# ---------------------------------------------------------------------------------------------- students ----

@dataclass
class Student:
    index: int
    phase: str = "waiting"
    sliders: list[tuple[float, float, bool]] = field(default_factory=list)   # (to chart, to end, others training)
    connect_s: float | None = None
    train_start: float | None = None
    samples: list[tuple[float, int]] = field(default_factory=list)           # (time, step count)
    waiting: list[tuple[float, bool]] = field(default_factory=list)          # (time, page says "waiting")
    steps_per_s: float | None = None
    waiting_share: float | None = None
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lost_runs: int = 0                 # the session's count (harness/streamlit_client.py, module notes)
    interrupted: int = 0               # requests of ours whose run's end a fragment run cut off
    exceptions: list[str] = field(default_factory=list)


@dataclass
class Shared:
    """What the students of one run share: who is training, and the common training window."""
    n: int
    training: int = 0
    settled: int = 0                   # students that started training or gave up
    all_training: asyncio.Event = field(default_factory=asyncio.Event)
    window_start: float | None = None

    def settle(self) -> None:
        self.settled += 1
        if self.settled >= self.n and not self.all_training.is_set():
            self.window_start = time.perf_counter()
            self.all_training.set()


def check(st: Student, what: str, t: Any) -> bool:
    """Whether a request's run finished; records the error if it did not."""
    if t.status in ("FINISHED_SUCCESSFULLY", "FINISHED_FRAGMENT_RUN_SUCCESSFULLY"):   # a slider may rerun a fragment
        return True
    if t.status == "INTERRUPTED":
        st.interrupted += 1
        st.errors.append(f"lost run: {what} (its end was cut off by a fragment run)")
    else:
        st.errors.append(f"{what} run {t.status}")
    return False


def step_count(s: StreamlitSession) -> int | None:
    """The Training lab's step count as the page shows it: its status line, else the loss chart's last x."""
    bodies = [e.markdown.body for e in s.elements("markdown")]
    for body in [b for b in bodies if "steps/s" in b] + [b for b in bodies if "steps/s" not in b and "**" in b]:
        if (m := STEP_RE.search(body)):
            return int(m.group(1))
    for e in s.elements("bidi_component"):                # the app's live charts
        with suppress(Exception):
            figure = json.loads(json.loads(e.bidi_component.json)["figure"])
            if "loss" in json.dumps(figure.get("layout", {}).get("title", "")).lower():
                xs = plotly_values(figure["data"][0]["x"])
                return int(max(xs)) if xs else 0
    return None


def is_waiting(s: StreamlitSession) -> bool:
    """Whether the Training lab's status line says the run waits for its turn (admission control)."""
    return any("steps/s" in e.markdown.body and "waiting" in e.markdown.body.lower() for e in s.elements("markdown"))


def steps_at(samples: list[tuple[float, int]], t: float) -> int | None:
    """The last step count seen at or before time t."""
    seen = [step for ts, step in samples if ts <= t]
    return seen[-1] if seen else None


def steps_per_s(samples: list[tuple[float, int]], w0: float, w1: float) -> float | None:
    """Training steps per second between w0 and w1, from the step counts seen (None if either end is unknown)."""
    a, b = steps_at(samples, w0), steps_at(samples, w1)
    return None if a is None or b is None else (b - a) / (w1 - w0)


async def sample_steps(s: StreamlitSession, st: Student, until: Any, every: float) -> None:
    """Read the step count (and whether the page says it waits for a worker) every `every` s until until()."""
    while not until():
        if (step := step_count(s)) is not None:
            st.samples.append((time.perf_counter(), step))
        st.waiting.append((time.perf_counter(), is_waiting(s)))
        await asyncio.sleep(every)
    if (step := step_count(s)) is not None:
        st.samples.append((time.perf_counter(), step))


async def page_cookie(base: str, timeout: float) -> dict[str, str] | None:
    """GET / as a browser loads the app's HTML; the balancer's GFLSRV cookie, as a Cookie header (or None)."""
    body, set_cookies = await asyncio.to_thread(server.http_get, base + "/", timeout)
    if b"<html" not in body.lower()[:2000] and b"<!doctype" not in body.lower()[:200]:
        raise RuntimeError("GET / did not return the app's HTML")
    jar = SimpleCookie()
    for header in set_cookies:
        jar.load(header)
    return {"Cookie": f"{STICKY_COOKIE}={jar[STICKY_COOKIE].value}"} if STICKY_COOKIE in jar else None


def with_person(headers: dict[str, str] | None, person: int | None) -> dict[str, str] | None:
    """The Cookie header of a browser that has the app's person cookie (ui/heavy.py: the unit of fair share;
    a browser gets it on its first visit): `person` names it; None: a client without it."""
    if person is None:
        return headers
    cookies = [c for c in [(headers or {}).get("Cookie")] if c] + [f"gfl_person={person:032x}"]
    return {**(headers or {}), "Cookie": "; ".join(cookies)}


async def run_student(st: Student, base: str, shared: Shared, args: argparse.Namespace, expect_cookie: bool,
                      rng: random.Random) -> None:
    settled = False
    timeout = args.request_timeout
    session: StreamlitSession | None = None
    try:
        await asyncio.sleep(st.index * args.stagger)
        st.phase = "GET /"
        headers = await page_cookie(base, timeout)
        if expect_cookie and headers is None:
            st.errors.append("no GFLSRV cookie from the balancer")
        headers = with_person(headers, st.index)
        st.phase = "connect"
        async with StreamlitSession() as s:
            session = s
            try:
                t = await s.connect(base, "gradient-flow", timeout=args.connect_timeout, headers=headers)
                st.connect_s = t.finished
                check(st, "connect", t)
                st.phase = "sliders"
                options = s.find_widget(SLIDER).options
                home = options.index(s.find_widget(SLIDER).value)
                pos = home
                for _ in range(args.moves):
                    await asyncio.sleep(rng.uniform(*args.think))
                    pos = min(max(pos + rng.choice([-2, -1, 1, 2]), home - 12, 0), home + 12, len(options) - 1)
                    busy = shared.training > 0
                    t = await s.set_widget(SLIDER, options[pos], timeout=timeout)
                    if check(st, "slider", t):
                        st.sliders.append((t.chart if t.chart is not None else t.finished, t.finished, busy))
                await asyncio.sleep(rng.uniform(*args.think))
                st.phase = "open Training lab"
                check(st, "open training", await s.switch_page("training", timeout=timeout))
                st.phase = "Start"
                check(st, "Start", await s.click("Start", timeout=timeout))
                st.train_start = time.perf_counter()
                if (step := step_count(s)) is not None:      # the count as the Start run drew it
                    st.samples.append((st.train_start, step))
                shared.training += 1
                settled = True
                shared.settle()
                st.phase = "training"
                # Keep training until every student has trained together for train_seconds (bounded).
                end = time.perf_counter() + args.start_deadline + args.train_seconds
                await sample_steps(s, st, lambda: time.perf_counter() >= min(end, (shared.window_start or end)
                                                                             + args.train_seconds), args.sample_every)
                st.phase = "Pause"
                check(st, "Pause", await s.click("Pause", timeout=timeout))
                shared.training -= 1
                if not st.samples:
                    st.errors.append("no step count on the Training lab")
                st.phase = "done"
            finally:
                st.lost_runs = s.lost_runs
                st.exceptions = list(s.exceptions)
    except TimeoutError:
        st.errors.append(f"timeout in {st.phase}")
        if session is not None:                   # what the stream looked like: for the notes, not the table
            st.notes.append(f"timeout in {st.phase}: last message {time.perf_counter() - session.last_message_at:.1f}"
                            f" s before, server says script running: {session.script_is_running}")
    except Exception as exc:                                  # noqa: BLE001 -- reported, never hides the others
        st.errors.append(f"{type(exc).__name__} in {st.phase}: {exc}"[:160])
    finally:
        if st.phase == "Pause" or (st.phase == "training" and st.train_start is not None):
            shared.training -= 1
        if not settled:
            shared.settle()


# ------------------------------------------------------------------------------------------------- a run ----

def backend_split(log_path: Path) -> tuple[dict[str, int], int]:
    """WebSocket streams per backend, from HAProxy's log (one line per stream, logged when it closes), and how
    many of them did not follow a valid GFLSRV cookie (termination state "--V?": the cookie named a live server)."""
    counts: dict[str, int] = {}
    unsticky = 0
    if log_path.exists():
        for line in log_path.read_text(errors="replace").splitlines():
            m = re.search(r"streamlit/(\S+) \S+ \d+ \d+ \S+ \S+ (\S{4}) .*\"GET \S*/_stcore/stream", line)
            if m:
                counts[m.group(1)] = counts.get(m.group(1), 0) + 1
                unsticky += m.group(2)[2] != "V"
    return counts, unsticky


async def drive(base: str, n: int, args: argparse.Namespace, expect_cookie: bool) -> list[Student]:
    shared = Shared(n)
    students = [Student(i) for i in range(n)]
    tasks = [asyncio.create_task(run_student(st, base, shared, args, expect_cookie,
                                             random.Random(args.seed * 1000 + i))) for i, st in enumerate(students)]
    _, pending = await asyncio.wait(tasks, timeout=args.run_timeout)
    for task in pending:                                  # the run's own deadline
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for st, task in zip(students, tasks):
        if task in pending:
            st.errors.append(f"run deadline ({args.run_timeout:.0f} s) in {st.phase}")
    # Per-student training rate over the window in which all were training.
    if shared.window_start is not None:
        w0, w1 = shared.window_start, shared.window_start + args.train_seconds
        for st in students:
            inside = [w for t, w in st.waiting if w0 <= t <= w1]
            st.waiting_share = sum(inside) / len(inside) if inside else None
            if st.samples and st.samples[-1][0] >= w1 - 2 * args.sample_every:
                st.steps_per_s = steps_per_s(st.samples, w0, w1)
    return students


def run_setup(setup: str, n: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Start the set-up fresh, drive n students through it, stop everything by PID; the row of the table."""
    backends = 1 if setup == "one" else 2
    logs = [workdir / f"{setup}-{n}-server{i + 1}.log" for i in range(backends)]
    row: dict[str, Any] = {"setup": setup, "n": n}
    lb = None
    # each clean-up step on its own (ExitStack), so one failing cannot leave a process behind
    with app_servers(logs, slots_for(backends, args.heavy_slots), args) as started, ExitStack() as stack:
        base = started[0][1]
        if setup == "two":
            listen = free_port()
            lb = start_local_balancer([urlsplit(b).port for _, b in started], listen, workdir=workdir / f"haproxy-{n}")
            stack.callback(stop_balancer, lb, keep_files=True)
            base = f"http://{LOOPBACK}:{listen}"
            wait_healthy(base, args.start_timeout)
        cpu = CpuMeter([p.pid for p, _ in started] + ([lb.pid] if lb is not None else []))
        with HealthPoller(base) as poller:
            students = asyncio.run(drive(base, n, args, expect_cookie=setup == "two"))
        row.update(cpu.read())
    # --- the row ---
    chart = [c for st in students for c, _, _ in st.sliders]
    busy = [c for st in students for c, _, b in st.sliders if b]
    calm = [c for st in students for c, _, b in st.sliders if not b]
    rates = [st.steps_per_s for st in students if st.steps_per_s is not None]
    errors = Counter(re.sub(r"\d+(\.\d+)?", "#", e)[:70] for st in students for e in st.errors)
    errors.update(f"exception element: {e[:50]}" for st in students for e in st.exceptions)
    split, unsticky = backend_split(lb.log_path) if lb is not None else ({}, 0)
    errors.update({"lost run (no request of ours waiting)": sum(max(0, st.lost_runs - st.interrupted)
                                                                for st in students),
                   "health check failed": len(poller.failures), "stream not routed by its GFLSRV cookie": unsticky,
                   "traceback in a server log": server.traceback_count(logs)})
    errors = +errors                                          # only the kinds that occurred
    row.update(
        slider_p50=pct(chart, 0.5), slider_p95=pct(chart, 0.95), slider_n=len(chart),
        slider_busy_p50=pct(busy, 0.5), slider_busy_n=len(busy), slider_calm_p50=pct(calm, 0.5),
        slider_calm_n=len(calm), run_p50=pct([f for st in students for _, f, _ in st.sliders], 0.5),
        connect_p50=pct([st.connect_s for st in students if st.connect_s is not None], 0.5),
        steps_mean=statistics.fmean(rates) if rates else math.nan, steps_min=min(rates, default=math.nan),
        steps_total=sum(rates) if rates else math.nan, rated=len(rates), starved=sum(r == 0 for r in rates),
        waiting=statistics.fmean(shares) if (shares := [st.waiting_share for st in students
                                                        if st.waiting_share is not None]) else math.nan,
        health_p50=pct(poller.latencies, 0.5), health_max=max(poller.latencies, default=math.nan),
        health_n=len(poller.latencies) + len(poller.failures),
        errors=sum(errors.values()), error_kinds=dict(errors),
        split=split,
    )
    if args.verbose:
        for st in students:
            print(f"    student {st.index}: connect {st.connect_s}, sliders {[round(c, 3) for c, _, _ in st.sliders]}, "
                  f"steps/s {st.steps_per_s}, errors {st.errors} {st.notes}", flush=True)
    return row


# ----------------------------------------------------------------------------------------------- report ----

LOAD_COLUMNS = [("setup", "setup", -1), ("N", "n", 0), ("|slider p50", "slider_p50", 3), ("p95", "slider_p95", 3),
                ("calm p50", "slider_calm_p50", 3), ("busy p50", "slider_busy_p50", 3),
                ("|steps/s/student", "steps_mean", 1), ("min", "steps_min", 1), ("total", "steps_total", 1),
                ("|health p50", "health_p50", 3), ("max", "health_max", 3), ("|errors", "errors", 0),
                ("|srv CPU", "server_cpu", 2), ("gen CPU", "client_cpu", 2), ("other", "other_cpu", 2),
                ("|wait%", "wait", 0)]
HOSTILE_COLUMNS = [("case", "case", -1), ("steps/s mean", "steps_mean", 1), ("min", "steps_min", 1),
                   ("vs alone %", "share", 0), ("phase s", "phase_s", 2), ("health p50 ms", "health_p50_ms", 0),
                   ("p99 ms", "health_p99_ms", 0), ("RSS MB", "rss_mb", 0), ("attacks", "attacks", 0),
                   ("errors", "errors", 0)]


def print_table(rows: list[dict[str, Any]]) -> None:
    print(table(LOAD_COLUMNS, [{**r, "wait": 100 * r["waiting"]} for r in rows]))
    print(__doc__[__doc__.index("Measured per"):__doc__.index("Targets (issue)")].rstrip())
    for r in rows:
        extra = []
        if r["error_kinds"]:
            extra.append("errors: " + "; ".join(f"{k} x{v}" for k, v in r["error_kinds"].items()))
        if r["split"]:
            extra.append("streams per backend: " + ", ".join(f"{k} {v}" for k, v in sorted(r["split"].items())))
        if r["starved"]:
            extra.append(f"{r['starved']} student(s) trained 0 steps in the window")
        extra.append(f"connect p50 {fmt(r['connect_p50'], 2)} s, slider run end p50 {fmt(r['run_p50'])} s")
        extra.append(f"{r['slider_n']} slider moves ({r['slider_busy_n']} busy), {r['rated']}/{r['n']} students "
                     f"rated, {r['health_n']} health polls, {r['wall']:.0f} s")
        print(f"  {r['setup']} N={r['n']}: " + " | ".join(extra))


def print_targets(rows: list[dict[str, Any]]) -> None:
    by, ns = {(r["setup"], r["n"]): r for r in rows}, sorted({r["n"] for r in rows})
    print("\nTargets:")
    for setup in [s for s in ("one", "two") if (s, ns[-1]) in by]:
        e = by[(setup, ns[-1])]["errors"]
        print(f"  0 errors at N = {ns[-1]} ({setup}): {e} -> {'MET' if e == 0 else 'NOT MET'}"
              + ("" if ns[-1] == 30 else "  (target is stated for N = 30)"))
    for setup in [s for s in ("one", "two") if (s, 1) in by and (s, 10) in by]:
        a, b = by[(setup, 1)]["slider_p50"], by[(setup, 10)]["slider_p50"]
        print(f"  slider p50 N=10 <= 2 x N=1 ({setup}): {b:.3f} / {a:.3f} = {b / a:.2f}x -> "
              f"{'MET' if b <= 2 * a else 'NOT MET'}")
    for n in [n for n in ns if ("one", n) in by and ("two", n) in by]:
        a, b = by[("one", n)]["steps_total"], by[("two", n)]["steps_total"]
        ratio = b / a if a and not math.isnan(a) and not math.isnan(b) else math.nan
        print(f"  training throughput two/one at N={n}: {fmt(b, 1)} / {fmt(a, 1)} steps/s = {fmt(ratio, 2)}x -> "
              f"{'MET' if ratio >= 1.5 else 'NOT MET'}"
              + ("  (one student uses one process: not expected to scale)" if n == 1 else ""))


# ------------------------------------------------------------------------------------------ hostile scenario ----
# --hostile: 5 students train on one process while (a) nobody else, (b) one person with 2 tabs keeps re-seeding
# the heaviest Gradient flow link, (c) 60 sessions from one client without the person cookie do the same; in
# each, a third person opens a default Phase diagram after the attack has begun. (The 60 sessions carry
# X-Forwarded-For as HAProxy adds it: one client behind the proxy, not a local one, which the app does not
# pace.) Per case: the students' steps/s (mean, min; and as a share of case (a)), the Phase diagram's time to its
# finished run, health p50/p99, the server's peak RSS, errors (the students', the third person's, failed health checks,
# tracebacks in the log).

HEAVY_LINK = "cell=lstm&seq_len=2000&hidden=512&batch=1"        # the heaviest job of the report
HOSTILE_STUDENTS = 5


async def hostile_student(i: int, base: str, state: dict, args: argparse.Namespace) -> None:
    """Open the Training lab, Start, record the step count until state["stop"], Pause."""
    st = state["students"][i]
    timeout = args.request_timeout
    try:
        async with StreamlitSession() as s:
            check(st, "connect", await s.connect(base, "training", timeout=args.connect_timeout,
                                                 headers=with_person(None, 1000 + i)))
            check(st, "Start", await s.click("Start", timeout=timeout))
            state["training"] += 1
            await sample_steps(s, st, state["stop"].is_set, args.sample_every)
            check(st, "Pause", await s.click("Pause", timeout=timeout))
            st.exceptions = list(s.exceptions)
    except Exception as exc:                                  # noqa: BLE001 -- counted
        st.errors.append(f"{type(exc).__name__}: {exc}"[:160])


async def attacker_tab(tab: int, person: int | str, base: str, state: dict, args: argparse.Namespace) -> None:
    """Keep re-seeding the heavy link: every finished run (or refusal) is followed by the next seed. A tab of person
    `person` (its cookie), or ("proxied") one of many cookie-less sessions of a single client as the server sees
    them behind HAProxy: on loopback, with the client's address in X-Forwarded-For."""
    seed = 1000 * tab
    headers = {"X-Forwarded-For": "203.0.113.60"} if person == "proxied" else with_person(None, person)
    with suppress(Exception):
        async with StreamlitSession() as s:
            with suppress(TimeoutError):          # its first job may run longer than a page load may take
                await s.connect(base, "gradient-flow", query_string=HEAVY_LINK + f"&seed={seed}",
                                timeout=args.request_timeout, headers=headers)
            while not state["stop"].is_set():
                seed += 1
                try:
                    await s.set_widget("Seed", seed, timeout=args.request_timeout)
                    state["attacks"] += 1
                except LookupError:               # the page has not drawn its controls yet
                    with suppress(TimeoutError):
                        await s.wait_idle(timeout=args.request_timeout)
                    await asyncio.sleep(0.5)
                except TimeoutError:
                    state["attacks"] += 1


async def third_person(base: str, state: dict, args: argparse.Namespace) -> None:
    try:
        async with StreamlitSession() as s:
            t = await s.connect(base, "phase", timeout=args.connect_timeout, headers=with_person(None, 99))
            state["phase_s"] = t.finished if t.status == "FINISHED_SUCCESSFULLY" else math.nan
    except Exception as exc:                                  # noqa: BLE001 -- counted
        state["phase_s"] = math.nan
        state["errors"].append(f"phase: {type(exc).__name__}: {exc}"[:160])


async def hostile_case(case: str, base: str, args: argparse.Namespace) -> dict:
    state = {"students": [Student(i) for i in range(HOSTILE_STUDENTS)], "training": 0, "stop": asyncio.Event(),
             "attacks": 0, "errors": [], "phase_s": math.nan}
    students = [asyncio.create_task(hostile_student(i, base, state, args)) for i in range(HOSTILE_STUDENTS)]
    end = time.perf_counter() + args.start_deadline
    while state["training"] < HOSTILE_STUDENTS and time.perf_counter() < end and not all(t.done() for t in students):
        await asyncio.sleep(0.2)
    tabs = {"alone": [], "two tabs": [7, 7], "60 sessions": ["proxied"] * 60}[case]
    attackers = [asyncio.create_task(attacker_tab(k, person, base, state, args)) for k, person in enumerate(tabs)]
    await asyncio.sleep(args.hostile_warmup)                  # the attack is under way
    w0 = time.perf_counter()
    await third_person(base, state, args)
    await asyncio.sleep(max(0.0, args.train_seconds - (time.perf_counter() - w0)))
    w1 = time.perf_counter()
    state["stop"].set()
    await asyncio.wait(students + attackers, timeout=args.request_timeout + 30)
    for task in students + attackers:
        task.cancel()
    rates = [steps_per_s(st.samples, w0, w1) or 0.0 for st in state["students"]]
    errors = state["errors"] + [e for st in state["students"] for e in st.errors + st.exceptions]
    return {"case": case, "steps_mean": statistics.mean(rates), "steps_min": min(rates), "phase_s": state["phase_s"],
            "attacks": state["attacks"], "error_list": errors}


def run_hostile(args: argparse.Namespace, workdir: Path) -> list[dict]:
    rows = []
    for case in [c.strip() for c in args.hostile_cases.split(",")]:
        log = workdir / f"hostile-{case.replace(' ', '-')}.log"
        with app_servers([log], args.heavy_slots, args) as [(proc, base)]:
            with HealthPoller(base, interval=0.25) as health, RssSampler(proc.pid) as rss:
                row = asyncio.run(hostile_case(case, base, args))
        row.update(health_p50=pct(health.latencies, 0.5), health_p99=pct(health.latencies, 0.99), rss_peak=rss.peak,
                   errors=len(row["error_list"]) + len(health.failures) + server.traceback_count([log]))
        rows.append(row)
        print(f"    {case}: {fmt(row['steps_mean'], 1)} steps/s per student, phase {fmt(row['phase_s'], 2)} s, "
              f"errors {row['errors']}", flush=True)
    base_rate = rows[0]["steps_mean"] if rows else math.nan
    print()
    print(table(HOSTILE_COLUMNS, [{**r, "share": 100 * r["steps_mean"] / base_rate if base_rate else math.nan,
                                   "health_p50_ms": 1000 * r["health_p50"], "health_p99_ms": 1000 * r["health_p99"],
                                   "rss_mb": r["rss_peak"] / 2**20} for r in rows]))
    for r in rows:
        for e in r["error_list"][:5]:
            print(f"  {r['case']}: {e}")
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", default="1,10,30", help=f"comma-separated N (each <= {MAX_USERS})")
    p.add_argument("--setups", default="one,two", help="one, two or both")
    p.add_argument("--train-seconds", type=float, default=30.0, help="common training window (all students)")
    p.add_argument("--moves", type=int, default=8, help="slider moves per student")
    p.add_argument("--think", default="0.5,1.5", help="think time between actions, uniform in [a, b] s")
    p.add_argument("--stagger", type=float, default=0.2, help="seconds between two students' arrivals")
    p.add_argument("--sample-every", type=float, default=0.2, help="s between reads of the step count")
    p.add_argument("--request-timeout", type=float, default=60.0, help="deadline of each page run / click (s)")
    p.add_argument("--connect-timeout", type=float, default=90.0, help="deadline of opening a session (s)")
    p.add_argument("--start-deadline", type=float, default=150.0, help="max s of training waiting for the others")
    p.add_argument("--start-timeout", type=float, default=120.0, help="deadline of a server becoming healthy (s)")
    p.add_argument("--run-timeout", type=float, default=None, help="deadline of one (set-up, N) run (s)")
    p.add_argument("--total-timeout", type=float, default=1200.0, help="deadline of all runs (s); the rest skipped")
    p.add_argument("--heavy-slots", type=int, default=None,
                   help="GFL_HEAVY_SLOTS for every server (default: the environment's, else the app's own default "
                        "for one process and cores / 2 for each of two)")
    p.add_argument("--snapshot", action="store_true", help="run the servers on a copy of the committed HEAD")
    p.add_argument("--hostile", action="store_true", help="the hostile scenario instead (see its section)")
    p.add_argument("--hostile-warmup", type=float, default=5.0, help="s of attack before the measured window")
    p.add_argument("--hostile-cases", default="alone,two tabs,60 sessions", help="which cases, comma-separated")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, help="also write the rows here")
    p.add_argument("--verbose", action="store_true", help="print every student")
    args = p.parse_args(argv)
    users = [int(u) for u in args.users.split(",") if u.strip()]
    setups = [s.strip() for s in args.setups.split(",") if s.strip()]
    if not users or any(not 1 <= u <= MAX_USERS for u in users):
        p.error(f"--users takes integers from 1 to {MAX_USERS}")
    if not setups or any(s not in ("one", "two") for s in setups):
        p.error("--setups takes one, two or one,two")
    args.think = tuple(float(x) for x in args.think.split(","))
    if args.run_timeout is None:   # arrivals + a slow slider phase + waiting for the last starter + training
        args.run_timeout = 120 + args.stagger * max(users) + args.moves * 10 + args.train_seconds + args.start_deadline
    print(f"bench_load: users {users}, setups {setups}, {args.moves} moves, train {args.train_seconds:.0f} s, "
          f"stagger {args.stagger} s; load before: {server.loadavg()}", flush=True)
    slots = ", ".join(f"{s}: {slots_for(1 if s == 'one' else 2, args.heavy_slots) or 'app default'}"
                      for s in setups)
    workdir = Path(tempfile.mkdtemp(prefix="gfl-bench-load-"))
    global APP_DIR
    if args.snapshot:
        APP_DIR = workdir / "app"
        version = f"snapshot of HEAD {server.snapshot_head(APP_DIR)} in {APP_DIR}"
    else:
        version = f"working tree at {server.code_version()}"
    print(f"code: {version}; GFL_TORCH_THREADS=1, GFL_HEAVY_SLOTS={slots}", flush=True)
    mtime0 = server.code_mtime()
    if args.hostile:
        run_hostile(args, workdir)
        return 0
    rows = []
    t0 = time.perf_counter()
    try:
        for setup in setups:
            for n in users:
                remaining = args.total_timeout - (time.perf_counter() - t0)
                if remaining < 120:
                    print(f"  skipping {setup} N={n}: {remaining:.0f} s left of --total-timeout", flush=True)
                    continue
                print(f"  running {setup} N={n} ...", flush=True)
                try:
                    run_args = argparse.Namespace(**{**vars(args), "run_timeout": min(args.run_timeout,
                                                                                      remaining - 60)})
                    row = run_setup(setup, n, run_args, workdir)
                except Exception as exc:                    # noqa: BLE001 -- the other runs still go ahead
                    print(f"    {setup} N={n} failed: {type(exc).__name__}: {exc}", flush=True)
                    continue
                rows.append(row)
                print(f"    slider p50 {fmt(row['slider_p50'])} s, steps/s/student {fmt(row['steps_mean'], 1)}, "
                      f"errors {row['errors']} ({row['wall']:.0f} s)", flush=True)
    finally:
        if rows:
            print()
            print_table(rows)
            print_targets(rows)
            print(f"\ntotal {time.perf_counter() - t0:.0f} s; server and HAProxy logs in {workdir}")
            if not args.snapshot and server.code_mtime() != mtime0:
                print(f"WARNING: the app's code changed during the run (now {server.code_version()}): rows may differ "
                      "in what they measured")
        if args.json and rows:
            args.json.write_text(json.dumps(rows, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
