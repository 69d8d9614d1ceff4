"""A deadline for the running job, checked by the engine's loops (core/budget.py `deadline()` sets it).

The deadline lives in a context variable, so it belongs to the thread (and context) that set it: a server
thread running one user's job does not see another's. It is counted in CPU time of that thread
(time.thread_time): torch runs a job on its calling thread (one intra-op thread, core/runtime.py), so what is
counted is the job's own cost, not the time it lost to other jobs on a loaded server.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from contextvars import ContextVar

from .errors import ConfigError

EVERY = 8                       # within_deadline() reads the clock once every this many items

_DEADLINE: ContextVar = ContextVar("gfl_deadline", default=None)


class DeadlineExceeded(ConfigError):
    """A running job passed its time budget (its estimate was too low); the message says what to lower."""

    def __init__(self, job: str, seconds: float, lower: str):
        self.job, self.seconds = job, seconds
        self.field, self.allowed, self.value = f"{job} budget", lower, None
        shown = f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.2g} s"
        ValueError.__init__(self, f"this {job} ran past its time budget of {shown} and was stopped; lower {lower}")


@contextmanager
def cpu_deadline(job: str, seconds: float, lower: str):
    """Within: check_deadline() raises DeadlineExceeded once this thread has used `seconds` of CPU."""
    token = _DEADLINE.set((time.thread_time() + seconds, job, seconds, lower))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def check_deadline() -> None:
    """Raise DeadlineExceeded if this thread's deadline (if any) has passed."""
    held = _DEADLINE.get()
    if held is not None and time.thread_time() > held[0]:
        raise DeadlineExceeded(held[1], held[2], held[3])


def within_deadline(items, every: int = EVERY):
    """`items`, checking this thread's deadline every `every` items (the engine's loops over time steps);
    without a deadline, `items` itself."""
    if _DEADLINE.get() is None:
        return items
    return _checked(items, every)


def _checked(items, every: int):
    for n, item in enumerate(items):
        if n % every == 0:
            check_deadline()
        yield item
