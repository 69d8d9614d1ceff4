"""The Training lab's run: a Race trained in a background thread while a page watches it, and the run's typed
status (RunStatus) that the page renders and tests read."""
from __future__ import annotations

import threading
import time
import uuid
import weakref
from dataclasses import dataclass
from typing import Literal

from core.budget import BUDGETS, check_deadline, deadline, scale
from core.config import ConfigError
from core.training import History, Race

from .admission import ANONYMOUS, Admission, Place

Mode = Literal["idle", "running", "paused", "diverged"]
RunState = Literal["ready", "running", "waiting", "refused", "pausing", "paused", "stopped"]
SETTLED: dict[Mode, RunState] = {"idle": "ready", "running": "running", "paused": "paused", "diverged": "stopped"}


@dataclass(frozen=True)
class RunStatus:
    """What a run is doing, read at one moment and consistent with the histories read with it
    (Runner.snapshot())."""
    state: RunState                 # ready: nothing trained yet; running; waiting: for a worker (see `waiting`);
                                    # refused: cannot even queue (see `refused`); pausing: the thread finishes the
                                    # step it was in; paused; stopped: a run's step went NaN/inf
    step: int                       # batches drawn so far
    seconds: float                  # time spent training
    losses: tuple[float, ...] = ()  # the latest loss of every run that has trained a step
    waiting: Place | None = None    # state "waiting": where the run stands in line
    refused: str | None = None      # state "refused": why it cannot queue (its person has too many jobs waiting)
    over_budget: str | None = None  # a step ran past its time budget: the budget's message
    error: str | None = None        # what stopped the thread, if it failed
    fast_forward: tuple[int, int] | None = None   # while fast-forwarding: (from step, to step)

    @property
    def steps_per_second(self) -> float:
        return self.step / self.seconds if self.seconds > 0 else 0.0


RUNNERS: "weakref.WeakValueDictionary[str, Runner]" = weakref.WeakValueDictionary()   # this process's runs


class Runner:
    """Trains a Race in a background thread while a page watches it, so drawing the charts and training
    never wait for each other (and a page's reruns cost no training time).

    `status` is what the run was told to do: "idle" (nothing trained yet), "running", "paused", "diverged" (the
    step that went non-finite paused it); `snapshot()` says what it is doing (RunStatus). The thread trains in
    chunks of about `chunk_s` seconds, each one admitted by `admission`'s ticket (serve/admission.py: runs of
    every session take turns on the server's cores), and only while the page keeps calling `watch()`: if nobody
    has looked for `unwatched_s` seconds (the page was closed or left) the thread ends and the run waits; the
    next `watch()` starts it again. `lock` is held for every step, so one session never trains two steps at once
    (a Step press, the thread), and `snapshot()` reads between steps."""

    def __init__(self, race: Race, admission: Admission, chunk_s: float = 0.3, unwatched_s: float = 4.0,
                 person: str = ANONYMOUS, tab=None):
        self.race = race
        self.status: Mode = "idle"
        self.target: tuple[int, int] | None = None     # fast-forward: (from step, to step), then pause
        self.waiting: Place | None = None              # while it waits for a worker: its place in line
        self.refused: str | None = None                # why it cannot even queue (its person has too many waiting)
        self.over_budget: str | None = None            # a step ran past its time budget: the budget's message
        self.error: str | None = None                  # what stopped the thread, if it failed
        self.lock = threading.Lock()
        self.chunk_s, self.unwatched_s = chunk_s, unwatched_s
        self._admission = admission
        self.person, self.tab = person, tab
        self._ticket = admission.ticket(person, tab)
        self._seen = time.monotonic()
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()
        self.run_id = uuid.uuid4().hex[:12]           # names the run in its page's URL (a lost run is told apart)
        RUNNERS[self.run_id] = self

    # -- what the page does ------------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """The thread is alive (it may be finishing the step it was in when paused)."""
        return self._thread is not None and self._thread.is_alive()

    def watch(self) -> None:
        """The page is open: keep the run going (restart the thread if it stopped while nobody looked)."""
        self._seen = time.monotonic()
        with self._starting:                         # two reruns of one session may watch at once
            if self.status == "running" and not self.busy:
                self._thread = threading.Thread(target=self._run, name="gfl-training", daemon=True)
                self._thread.start()

    def start(self, steps: int | None = None) -> None:
        """Train until paused, or (fast-forward) exactly `steps` more steps, then pause."""
        if not self.race.live:
            return
        self.target = None if steps is None else (self.race.steps, self.race.steps + steps)
        self.error = self.over_budget = None
        self.status = "running"
        self.watch()

    def pause(self) -> None:
        """Stop before the next step (the step in progress, if any, finishes)."""
        if self.status == "running":
            self.status = "paused"
        self.target = None

    def step(self) -> None:
        """Train exactly one step now, in the caller's thread (waits for a worker like any heavy job)."""
        with self._admission.slot(self.person, self.tab), self.lock:
            if self.status != "running" and self.race.live:
                self.status = "paused"
                try:
                    self._advance_one()
                except ConfigError as exc:            # past the step's time budget
                    self.over_budget = str(exc)

    def snapshot(self) -> tuple[list[History], RunStatus]:
        """(copies of the histories, the run's status), consistent with each other."""
        with self.lock:
            histories, steps, seconds = [h.copy() for h in self.race.histories], self.race.steps, self.race.seconds
        mode, waiting, refused = self.status, self.waiting, self.refused     # the thread may change them: read once
        state: RunState
        if self.busy and mode != "running":
            state = "pausing"
        elif mode == "running":
            state = "refused" if refused is not None else "waiting" if waiting is not None else "running"
        else:
            state = SETTLED[mode]
        losses = tuple(h.records[-1].loss for h in histories if h.records)
        return histories, RunStatus(state, steps, seconds, losses, waiting, refused, self.over_budget, self.error,
                                    self.target)

    def _advance_one(self) -> None:
        """One step (lock held); a run that goes non-finite pauses the lab as "diverged". The step's time budget
        (both runs of a race) holds while it runs: past it, DeadlineExceeded (its message says what to lower)."""
        race = self.race
        stopped = sum(d is not None for d in race.diverged)
        with deadline("training step", BUDGETS["training step"].seconds * scale() * len(race.configs)):
            race.advance(max_steps=1)
            check_deadline()
        if sum(d is not None for d in race.diverged) > stopped or not race.live:
            self.status, self.target = "diverged", None
        elif self.target is not None and race.steps >= self.target[1]:
            self.status, self.target = "paused", None

    # -- the thread -----------------------------------------------------------------------------------------------
    def _run(self) -> None:
        ticket = self._ticket
        try:
            while self.status == "running" and time.monotonic() - self._seen < self.unwatched_s:
                if not ticket.wait(0.25):
                    self.waiting, self.refused = ticket.place(), ticket.refused
                    continue
                self.waiting = self.refused = None
                try:
                    began = time.perf_counter()
                    while self.status == "running" and time.perf_counter() - began < self.chunk_s:
                        with self.lock:
                            if self.status != "running":
                                break
                            self._advance_one()
                finally:
                    ticket.done()
        except ConfigError as exc:                # past the step's time budget: the budget's own message
            self.over_budget = str(exc)
            self.status = "paused"
        except Exception as exc:                  # shown on the page; the run keeps what it trained
            self.error = f"{type(exc).__name__}: {exc}"
            self.status = "paused"
        finally:
            self.waiting = self.refused = None
            ticket.leave()
