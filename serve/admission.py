"""One admission point for heavy work, fair between persons: at most `slots` jobs run at once in this process,
each person has at most one of them running and a few waiting, and the slots go round-robin between persons.

A server runs many users' jobs side by side. More jobs than cores only thrash (each one slower, and the
interpreter lock starves the event loop that answers health checks and redraws), so an unroll, a sweep, a
phase grid, a loss-cliff grid and every training chunk pass through here; figure updates and cache hits
never do. Slots: $GFL_HEAVY_SLOTS, else the cores this process may run on.

Fairness. The unit is a person (ui/heavy.py `person()`: a browser's cookie, else its address), not a tab
or a session: two tabs of one person share that person's turn. Between persons the order is fair queueing on
virtual time: each person carries the slot time it has used, counted in quanta of QUANTUM_S (at least
MIN_TURN of one, so jobs of a few milliseconds simply alternate), and the next slot goes to the waiting person
with the least; a person who comes (back) after a pause starts no lower than a virtual clock that follows the
least-served of those in line (fair queueing's start time), so a newcomer cannot jump a class that has been
training for an hour, and a person who just used a long job does not lose its debt by pausing. A 30 s unroll
thus costs its owner as much as a hundred of the class's 0.3 s training chunks. Per person: one job running, at most
`max_waiting` waiting; a new job of the same tab (and lane) replaces that tab's waiting one (the old waiter gets
`Superseded`), and a job beyond the bound is refused with `TooManyWaiting`.

Two lanes. One-shot jobs (`slot()`) and training chunks (`ticket()`) each have `slots` places, and both lanes
together `slots` + 1: training never waits behind one-shot jobs only (a 30 s unroll takes a place from the
one-shot lane, not from the class's training), a one-shot job never waits behind training chunks only, and at
most one job more than there are slots runs at once.

Two ways in:
- `with ADMISSION.slot(person, tab, on_wait=...)`: blocks (polling) until admitted; `on_wait(place)` is called
  while waiting, from the waiting thread, with a `Place` (how many people are ahead, or that this person's own
  earlier job is), so a page can say so (and a Streamlit rerun or stop raised inside it leaves the line).
  `light=True`: a job of a few milliseconds runs at once, without a slot, when its person has nothing else
  running and fewer than `slots` light jobs run (otherwise it waits like any other).
- A `Ticket` that keeps its place across calls, for work done in short chunks (a training run's ticks):
  `try_start()` runs a chunk only when its turn has come, `done()` gives the slot back and queues again, so
  several runs take turns. A ticket not polled for `stale_s` seconds (its page was closed) loses its place.
"""
from __future__ import annotations

import itertools
import os
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass

SLOTS_ENV = "GFL_HEAVY_SLOTS"
QUANTUM_S = 0.5                 # slot time counted as one turn
MIN_TURN = 0.1                  # what a job costs at least, in turns (a job of a few milliseconds is not free)
MAX_WAITING = 3                 # jobs one person may have waiting at once (all tabs together)
ANONYMOUS = "anonymous"         # the person of a job whose caller named none (CLI, tests, scripts)


def slots_from_env(environ=os.environ) -> int:
    raw = environ.get(SLOTS_ENV, "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:                        # not on Linux
        return max(1, os.cpu_count() or 1)


class Superseded(Exception):
    """A newer job of the same tab took this waiting job's place."""


class TooManyWaiting(Exception):
    """The person already has `max_waiting` jobs waiting (in other tabs)."""

    def __init__(self, waiting: int):
        super().__init__(f"you already have {waiting} jobs waiting for a worker (in this or other tabs); "
                         "this one can start when one of them is done")
        self.waiting = waiting


@dataclass(frozen=True)
class Place:
    """Where a waiting job stands: `own_first` is True while this person's own earlier job runs or waits ahead
    of it (it goes as soon as that one is done); `people_ahead` other persons go before it."""
    people_ahead: int
    own_first: bool
    running: int
    slots: int
    sharing: bool = False        # another visitor computes exactly this result (serve/shared.py)


@dataclass
class _Job:
    person: str
    tab: object
    lane: str                    # "job" (one-shot) or "chunk" (a training ticket's chunk)
    order: int                   # arrival
    seen: float                  # last poll
    granted: bool = False
    superseded: bool = False
    started: float = 0.0


class Admission:
    def __init__(self, slots: int | None = None, stale_s: float = 5.0, max_waiting: int = MAX_WAITING,
                 quantum_s: float = QUANTUM_S):
        self.slots = slots or slots_from_env()
        self.stale_s, self.max_waiting, self.quantum_s = stale_s, max_waiting, quantum_s
        self._cond = threading.Condition()
        self._waiting: OrderedDict[int, _Job] = OrderedDict()    # by arrival; granted ones until taken
        self._running: dict[int, _Job] = {}
        self._light: dict[str, int] = {}           # person -> light jobs running
        self._vtime: dict[str, float] = {}         # person -> turns used (virtual time)
        self._clock = 0.0                          # virtual time of the least-served active person (monotone)
        self._ids = itertools.count()

    # -- state ---------------------------------------------------------------------------------------------
    @property
    def running(self) -> int:
        return len(self._running)

    @property
    def waiting(self) -> int:
        with self._cond:
            self._expire()
            return sum(not j.granted for j in self._waiting.values())

    def _busy_persons(self) -> set[str]:
        held = {j.person for j in self._running.values()} | {p for p, n in self._light.items() if n}
        return held | {j.person for j in self._waiting.values() if j.granted}

    def _taken(self, lane: str | None = None) -> int:
        jobs = list(self._running.values()) + [j for j in self._waiting.values() if j.granted]
        return sum(lane is None or j.lane == lane for j in jobs)

    def _has_room(self, lane: str) -> bool:
        """Each lane holds at most `slots` jobs, both together `slots` + 1."""
        return self._taken(lane) < self.slots and self._taken() < self.slots + 1

    def _key(self, job: _Job) -> tuple[float, int]:
        return self._vtime.get(job.person, 0.0), job.order

    def _expire(self) -> None:
        now = time.monotonic()
        stale = [tid for tid, j in self._waiting.items() if now - j.seen > self.stale_s]
        for tid in stale:
            del self._waiting[tid]
        if stale:
            self._grant()

    def _grant(self) -> None:
        """Give free slots to the waiting jobs whose turn it is (lock held)."""
        while True:
            busy = self._busy_persons()
            ready = [j for j in self._waiting.values()
                     if not j.granted and j.person not in busy and self._has_room(j.lane)]
            if not ready:
                break
            min(ready, key=self._key).granted = True
        self._cond.notify_all()

    def _join(self, person: str, tab, lane: str) -> int:
        """Enter the line (lock held): replace this tab's waiting job of the lane, or refuse past the bound."""
        now = time.monotonic()
        self._expire()
        order = None
        for tid, job in list(self._waiting.items()):
            if tab is not None and job.tab == tab and job.lane == lane and not job.granted:
                job.superseded = True                 # the new job takes its place in line
                order = job.order if order is None else min(order, job.order)
                del self._waiting[tid]
        mine = sum(j.person == person for j in self._waiting.values())
        if mine >= self.max_waiting:
            self._cond.notify_all()
            raise TooManyWaiting(mine)
        self._vtime[person] = max(self._vtime.get(person, 0.0), self._clock)   # back after a pause: level, not ahead
        tid = next(self._ids)
        self._waiting[tid] = _Job(person, tab, lane, tid if order is None else order, now)
        self._grant()
        return tid

    def _take(self, tid: int) -> bool:
        """A granted job starts running (lock held)."""
        job = self._waiting.get(tid)
        if job is None or not job.granted:
            return False
        del self._waiting[tid]
        job.started = time.monotonic()
        self._running[tid] = job
        return True

    def _release(self, tid: int) -> None:
        with self._cond:
            job = self._running.pop(tid)
            held = time.monotonic() - job.started
            self._vtime[job.person] = self._vtime.get(job.person, 0.0) + max(MIN_TURN, held / self.quantum_s)
            self._advance_clock()
            self._grant()

    def _advance_clock(self) -> None:
        """The virtual clock follows the least virtual time among persons in line or running (it never goes
        back); persons who left and are at or behind it are forgotten (they come back at the clock anyway)."""
        active = {j.person for j in list(self._waiting.values()) + list(self._running.values())}
        if active:
            self._clock = max(self._clock, min(self._vtime.get(p, 0.0) for p in active))
        if len(self._vtime) > 2 * len(active) + 64:
            self._vtime = {p: v for p, v in self._vtime.items() if p in active or v > self._clock}

    def place(self, tid: int) -> Place:
        """Where waiting job tid stands (lock held)."""
        job = self._waiting[tid]
        own = job.person in {j.person for j in self._running.values()} or any(
            j.person == job.person and j.order < job.order for j in self._waiting.values())
        mine = self._key(job)
        first: dict[str, tuple] = {}
        for other in self._waiting.values():
            if other.person != job.person and not other.granted:
                first[other.person] = min(first.get(other.person, (float("inf"), 0)), self._key(other))
        ahead = sum(k < mine for k in first.values())
        return Place(ahead, own, self._taken(), self.slots)

    # -- blocking --------------------------------------------------------------------------------------------
    @contextmanager
    def slot(self, person: str = ANONYMOUS, tab=None, on_wait=None, poll_s: float = 0.25, light: bool = False):
        if light:
            with self._cond:              # at most `slots` light jobs at once, one per person: a bounded extra
                alone = person not in self._busy_persons() and sum(self._light.values()) < self.slots
                if alone:
                    self._light[person] = self._light.get(person, 0) + 1
            if alone:
                try:
                    yield
                finally:
                    with self._cond:
                        self._light[person] -= 1
                        if not self._light[person]:
                            del self._light[person]
                        self._grant()
                return
        tid = self._wait_for_slot(person, tab, on_wait, poll_s)
        try:
            yield
        finally:
            self._release(tid)

    def _wait_for_slot(self, person: str, tab, on_wait, poll_s: float) -> int:
        with self._cond:
            tid = self._join(person, tab, "job")
            job = self._waiting[tid]
        admitted = False
        try:
            while True:
                with self._cond:
                    if job.superseded:
                        raise Superseded()
                    job.seen = time.monotonic()
                    if tid not in self._waiting:            # expired (cannot happen while polled): queue again
                        tid = self._join(person, tab, "job")
                        job = self._waiting[tid]
                    if not job.granted:
                        self._cond.wait(poll_s)
                    if self._take(tid):
                        admitted = True
                        return tid
                    if job.superseded:
                        raise Superseded()
                    place = self.place(tid) if tid in self._waiting else None
                if on_wait is not None and place is not None:
                    on_wait(place)
        finally:
            if not admitted:
                with self._cond:
                    if self._waiting.pop(tid, None) is not None:
                        self._grant()

    # -- chunked -----------------------------------------------------------------------------------------------
    def ticket(self, person: str = ANONYMOUS, tab=None) -> "Ticket":
        return Ticket(self, person, tab)


class Ticket:
    """A place in line kept across calls (see the module docstring)."""

    def __init__(self, admission: Admission, person: str = ANONYMOUS, tab=None):
        self._adm = admission
        self.person, self.tab = person, tab
        self._tid: int | None = None          # in line
        self._held: int | None = None         # running
        self.refused: str | None = None       # why the last try could not queue (TooManyWaiting)

    @property
    def holding(self) -> bool:
        return self._held is not None

    def try_start(self) -> bool:
        """Take a slot if this ticket's turn has come (joining the line if it is not in it)."""
        adm = self._adm
        with adm._cond:
            if self._held is not None:
                return True
            adm._expire()
            tid = self._tid
            job = adm._waiting.get(tid) if tid is not None else None
            if tid is None or job is None or job.superseded:
                try:
                    tid = self._tid = adm._join(self.person, self.tab, "chunk")
                    self.refused = None
                except TooManyWaiting as exc:
                    self._tid, self.refused = None, str(exc)
                    return False
                job = adm._waiting[tid]
            job.seen = time.monotonic()
            if adm._take(tid):
                self._held, self._tid = tid, None
        return self._held is not None

    def wait(self, timeout: float) -> bool:
        """try_start(), waiting up to `timeout` s for this ticket's turn if it has not come."""
        if self.try_start():
            return True
        with self._adm._cond:
            job = self._adm._waiting.get(self._tid) if self._tid is not None else None
            if job is None or not job.granted:
                self._adm._cond.wait(timeout)
        return self.try_start()

    def place(self) -> Place | None:
        with self._adm._cond:
            tid = self._tid
            return self._adm.place(tid) if tid is not None and tid in self._adm._waiting else None

    def ahead(self) -> int:
        place = self.place()
        return place.people_ahead if place is not None else 0

    def done(self) -> None:
        """Give the slot back (the next chunk queues again: whoever has used less goes first)."""
        if self._held is not None:
            held, self._held = self._held, None
            self._adm._release(held)

    def leave(self) -> None:
        """Leave the line (paused, reset, closed)."""
        self.done()
        with self._adm._cond:
            if self._tid is not None and self._adm._waiting.pop(self._tid, None) is not None:
                self._adm._grant()
            self._tid = None


ADMISSION = Admission()
