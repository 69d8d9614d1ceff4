"""Heavy work from a page: through the process's one admission point and its shared results (serve/admission.py,
serve/shared.py), with a visible, honest status while a job waits, and the time budget enforced while it runs.

Who is a person (the unit of fairness): the browser, by the cookie `gfl_person` this app sets on the first
visit (`remember_person()`, a random id, one year); a browser without it (its first page load, cookies
off, a script) is its client address. The address is what the server sees: behind a school's NAT a whole
class without cookies would be one person, so the cookie is what tells them apart. Behind HAProxy (deploy/)
the connection comes from the proxy, on loopback, and Streamlit reports no address; the last entry of
X-Forwarded-For, which HAProxy appends (`option forwardfor`), is then the client's. A client that makes up a
new cookie for every connection gets a turn per cookie: fairness holds between browsers that keep theirs.
"""
from __future__ import annotations

import re
import threading
import time
import weakref
from typing import Any, Callable

import streamlit as st

from core.budget import BudgetError, deadline
from serve.admission import Place, TooManyWaiting
from serve.shared import SHARED

COOKIE = "gfl_person"
_COOKIE_VALUE = re.compile(r"[0-9a-f]{32}")

_SET_COOKIE_JS = """
export default function () {
  if (!document.cookie.split("; ").some((c) => c.startsWith("%s="))) {
    const id = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
    document.cookie = "%s=" + id + "; path=/; max-age=31536000; SameSite=Lax";
  }
}
""" % (COOKIE, COOKIE)
_remember = st.components.v2.component("gfl_person", js=_SET_COOKIE_JS)


def remember_person() -> None:
    """On a browser's first visit, set its person cookie (read by the next connection, e.g. a reload)."""
    if not _COOKIE_VALUE.fullmatch(_text(st.context.cookies.get(COOKIE))):
        _remember(key="gfl_person_cookie", height=0)


def person_of(cookies, ip_address: str | None, headers) -> str:
    """The person a connection belongs to (see the module docstring)."""
    cookie = _text(cookies.get(COOKIE))
    if _COOKIE_VALUE.fullmatch(cookie):
        return "browser:" + cookie
    if _loopback(_text(ip_address)):             # a local client, or this app's own proxy
        forwarded = _text(headers.get("X-Forwarded-For")).split(",")[-1].strip()
        return "address:" + (forwarded[:64] or "local")
    return "address:" + ip_address


def _loopback(address: str) -> bool:
    """No address (Streamlit reports none for 127.0.0.1 and ::1) or a loopback one, IPv4-mapped ones included
    (a dual-stack server sees ::ffff:127.0.0.1)."""
    import ipaddress
    if not address:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


def _text(value) -> str:
    """A header's or cookie's value, or "" (absent; a test harness's stand-in)."""
    return value if isinstance(value, str) else ""


def person() -> str:
    return person_of(st.context.cookies, st.context.ip_address, st.context.headers)


class RunBudget:
    """A token bucket of page runs per person: `rate` a second, `burst` at once. A person past it (sixty tabs of
    one script re-seeding a link) waits before its next run instead of taking the interpreter from everyone's
    training and from the health check. Counted: every full page run (app.py) and every heavy job asked for
    (computed(): a control's fragment run does not pass app.py); the Training lab's live ticks are not."""

    def __init__(self, rate: float = 5.0, burst: float = 20.0, max_wait_s: float = 10.0, clock=time.monotonic):
        self.rate, self.burst, self.max_wait_s, self.clock = rate, burst, max_wait_s, clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}      # person -> (tokens, when)

    def delay(self, who: str) -> float:
        """Seconds this run of `who` should wait (0: at once); takes its token."""
        with self._lock:
            now = self.clock()
            tokens, then = self._buckets.get(who, (self.burst, now))
            tokens = min(self.burst, tokens + (now - then) * self.rate) - 1
            if len(self._buckets) > 10_000:                     # forget the full buckets of persons gone quiet
                self._buckets = {p: v for p, v in self._buckets.items() if v[0] < self.burst - 1}
            self._buckets[who] = (max(tokens, -self.max_wait_s * self.rate), now)
            return min(self.max_wait_s, max(0.0, -tokens / self.rate))


RUNS = RunBudget()


LOCAL = "address:local"      # a client on the server's own machine, not through a proxy (development, tests)


_PACED: "weakref.WeakSet" = weakref.WeakSet()    # the script runs already paced (by their one-run coordinator)


def pace_runs() -> None:
    """Once per script run (app.py for full runs, computed() for a control's fragment run): wait as long as this
    person's run budget says (a local client without the cookie is not paced)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx
    ctx = get_script_run_ctx()
    run = getattr(ctx, "parallel_coordinator", None)         # a fresh object for every script run
    if run is not None:
        if run in _PACED:
            return
        _PACED.add(run)
    who = person()
    if who == LOCAL:
        return
    wait = RUNS.delay(who)
    if wait > 0:
        time.sleep(wait)


def tab() -> str | None:
    """This browser tab's session id (a new job of the same tab replaces its waiting one)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else None


def wait_message(place: Place) -> str:
    if place.sharing:
        return "Another visitor is computing exactly this view: sharing their result…"
    if place.own_first:
        return ("Waiting for your earlier job (in this or another tab) to finish: each person runs one job at a "
                "time. This one starts right after it.")
    people = "nobody" if place.people_ahead == 0 else (
        "1 person" if place.people_ahead == 1 else f"{place.people_ahead} people")
    return (f"Waiting for a free worker: {people} ahead of you ({place.running} of {place.slots} workers busy; "
            "people take turns). The page fills in as soon as it is your turn.")


BUDGET_OF = {"unroll": "unroll", "sweep": "weight-scale sweep", "cliff": "loss cliff", "phase": "phase diagram",
             "floss": "flossing demo", "digit gradient": "digit gradient demo"}
LIGHT_SECONDS = 0.05         # estimated cost under which a job skips the queue (it would wait longer than it runs)


def computed(name: str, cfg: Any, compute: Callable[[], Any], seconds: float | None = None) -> Any:
    """compute() for this (name, cfg), shared with every session (each config is computed once and never twice
    at once); while it waits for a worker the page says so. `seconds`: the job's estimated cost (core/budget.py);
    below LIGHT_SECONDS it runs at once when this person has nothing else running. The job's time budget
    (core/budget.py BUDGETS[BUDGET_OF[name]]) is enforced while it runs: past it, the page shows the budget's
    message."""
    status = st.empty()

    def on_wait(place: Place) -> None:
        status.info(wait_message(place), icon=":material/hourglass_top:")

    def bounded():
        with deadline(BUDGET_OF[name]):
            return compute()
    pace_runs()                  # a control's fragment run (Gradient flow) does not pass app.py's
    try:
        return SHARED.get((name, repr(cfg)), bounded, on_wait, light=seconds is not None and seconds < LIGHT_SECONDS,
                          person=person(), tab=tab())
    except TooManyWaiting as exc:
        st.warning(f"Not started: {exc}.", icon=":material/hourglass_disabled:")
        st.stop()
    except BudgetError as exc:
        st.error(f"Stopped: {exc}.", icon=":material/timer_off:")
        st.stop()
    finally:
        status.empty()
