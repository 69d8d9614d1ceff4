"""One admission point for heavy work: at most `slots` jobs run at once in this process, the rest wait in
first-come order and can say how many are ahead of them.

A server runs many users' jobs side by side. More jobs than cores only thrash (each one slower, and the
interpreter lock starves the event loop that answers health checks and redraws), so an unroll, a sweep, a
phase grid, a loss-cliff grid and every training chunk pass through here; figure updates and cache hits
never do. Slots: $GFL_HEAVY_SLOTS, else the cores this process may run on.

Two ways in:
- `with ADMISSION.slot(on_wait=...)`: blocks (polling) until admitted; `on_wait(ahead, running)` is called
  while waiting, from the waiting thread, so a page can show "waiting, n ahead" (and a Streamlit rerun or stop
  raised inside it leaves the queue cleanly).
- A `Ticket` that keeps its place across calls, for work done in short chunks (a training run's ticks):
  `try_start()` runs a chunk only when its turn has come, `done()` gives the slot back and goes to the back
  of the line, so several runs take turns. A ticket not polled for `stale_s` seconds (its page was closed)
  loses its place.
"""
from __future__ import annotations

import itertools
import os
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager

SLOTS_ENV = "GFL_HEAVY_SLOTS"


def slots_from_env(environ=os.environ) -> int:
    raw = environ.get(SLOTS_ENV, "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:                        # not on Linux
        return max(1, os.cpu_count() or 1)


class Admission:
    def __init__(self, slots: int | None = None, stale_s: float = 5.0):
        self.slots = slots or slots_from_env()
        self.stale_s = stale_s
        self._cond = threading.Condition()
        self._queue: OrderedDict[int, float] = OrderedDict()    # waiting tickets, first come first; last poll time
        self._running = 0
        self._ids = itertools.count()

    # -- state ---------------------------------------------------------------------------------------------
    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        with self._cond:
            self._expire()
            return len(self._queue)

    def _expire(self) -> None:
        now = time.monotonic()
        stale = [t for t, seen in self._queue.items() if now - seen > self.stale_s]
        for tid in stale:
            del self._queue[tid]
        if stale:                                 # the line moved: waiters may be first now
            self._cond.notify_all()

    def _ahead(self, tid: int) -> int:
        for n, other in enumerate(self._queue):
            if other == tid:
                return n
        raise KeyError(tid)

    def _try_take(self, tid: int) -> bool:
        """Called with the lock held: take a slot if tid is first in line and one is free."""
        self._queue[tid] = time.monotonic()
        self._expire()
        if self._ahead(tid) < self.slots - self._running:      # among the first in line, for as many free slots
            del self._queue[tid]
            self._running += 1
            return True
        return False

    def _release(self) -> None:
        with self._cond:
            self._running -= 1
            self._cond.notify_all()

    # -- blocking --------------------------------------------------------------------------------------------
    @contextmanager
    def slot(self, on_wait=None, poll_s: float = 0.25):
        tid = next(self._ids)
        admitted = False
        try:
            with self._cond:
                self._queue[tid] = time.monotonic()
            while True:
                with self._cond:
                    if self._try_take(tid):
                        admitted = True
                        break
                    self._cond.wait(poll_s)
                    if self._try_take(tid):
                        admitted = True
                        break
                    ahead, running = self._ahead(tid), self._running
                if on_wait is not None:
                    on_wait(ahead, running)
        finally:
            if not admitted:
                with self._cond:
                    self._queue.pop(tid, None)
                    self._cond.notify_all()
        try:
            yield
        finally:
            self._release()

    # -- chunked -----------------------------------------------------------------------------------------------
    def ticket(self) -> "Ticket":
        return Ticket(self)


class Ticket:
    """A place in line kept across calls (see the module docstring)."""

    def __init__(self, admission: Admission):
        self._adm = admission
        self._tid: int | None = None
        self.holding = False

    def try_start(self) -> bool:
        """Take a slot if this ticket's turn has come (joining the line if it is not in it)."""
        adm = self._adm
        with adm._cond:
            if self.holding:
                return True
            if self._tid is None or self._tid not in adm._queue:
                self._tid = next(adm._ids)
            if adm._try_take(self._tid):
                self.holding = True
                self._tid = None
        return self.holding

    def wait(self, timeout: float) -> bool:
        """try_start(), waiting up to `timeout` s for a slot to be given back if it is not this ticket's turn."""
        if self.try_start():
            return True
        with self._adm._cond:
            self._adm._cond.wait(timeout)
        return self.try_start()

    def ahead(self) -> int:
        with self._adm._cond:
            return self._adm._ahead(self._tid) if self._tid in self._adm._queue else 0

    def done(self) -> None:
        """Give the slot back (the next chunk queues again, behind whoever is waiting)."""
        if self.holding:
            self.holding = False
            self._adm._release()

    def leave(self) -> None:
        """Leave the line (paused, reset, closed)."""
        self.done()
        with self._adm._cond:
            if self._tid is not None:
                self._adm._queue.pop(self._tid, None)
                self._adm._cond.notify_all()
            self._tid = None


class SharedResults:
    """Results shared by every session of this process, least recently used dropped first. Identical requests
    (a teacher's link opened by a whole class) are computed once: while one session computes a key, the others
    asking for it wait for that result instead of computing it again. Hits never queue. If the computing
    session is interrupted (its user moved on), a waiting one takes over."""

    def __init__(self, max_entries: int = 128, admission: Admission | None = None):
        self.max_entries = max_entries
        self._admission = admission
        self._lock = threading.Lock()
        self._values: OrderedDict = OrderedDict()
        self._inflight: dict = {}
        self.computed = 0                      # how many times compute() ran (tests, benchmarks)

    def get(self, key, compute, on_wait=None, light: bool = False):
        """compute()'s value for key. light: a job of a few milliseconds (a default-size unroll) runs at once
        instead of queueing behind training chunks for longer than it takes; it is still computed once."""
        while True:
            with self._lock:
                if key in self._values:
                    self._values.move_to_end(key)
                    return self._values[key]
                done = self._inflight.get(key)
                owner = done is None
                if owner:
                    done = self._inflight[key] = threading.Event()
            if owner:
                break
            while not done.wait(0.25):                  # someone else computes exactly this
                if on_wait is not None:
                    on_wait(-1, -1)
        try:
            if light:
                value = compute()
            else:
                with (self._admission or ADMISSION).slot(on_wait=on_wait):
                    value = compute()
            self.computed += 1
            with self._lock:
                self._values[key] = value
                while len(self._values) > self.max_entries:
                    self._values.popitem(last=False)
            return value
        finally:
            with self._lock:
                del self._inflight[key]
            done.set()

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


ADMISSION = Admission()
SHARED = SharedResults()
