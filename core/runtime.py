"""Process-wide settings of the engine, decided once at startup: torch's thread policy.

The work here is small and sequential (one matrix product of a few hundred rows per time step), so
torch's default of one intra-op thread per core mostly buys OpenMP synchronisation, and a server that
runs several users' jobs at once gets its parallelism from running them side by side, not from splitting
each one (benchmarks/bench_threads.py prints both settings; the README's "Budgets and threads" has
figures). The entry points (the Streamlit app, the CLI, the test suite) call `configure_threads()` before
any work; notebooks that import `core` keep torch's defaults unless they call it too.

The same call shortens the interpreter's thread switch interval (5 ms by default) to 0.1 ms. A training run
trains in a thread of the server (serve/runner.py) and releases the interpreter lock for every torch
operation; under Python's default, each time it wants the lock back while another thread (a page drawing its
charts) is busy in Python, it waits up to a whole interval, so a step of a few hundred small operations beside
one busy thread crawls; with 0.1 ms the two share the core (figures in the README).
"""
from __future__ import annotations

import os
import sys

import torch

THREADS_ENV = "GFL_TORCH_THREADS"
DEFAULT_THREADS = 1
SWITCH_INTERVAL_S = 1e-4


def threads_from_env(environ=os.environ) -> int:
    """The intra-op thread count: $GFL_TORCH_THREADS if it is a positive integer, else 1."""
    raw = environ.get(THREADS_ENV, "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    return DEFAULT_THREADS


def configure_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads for the whole process (every thread that runs torch later
    inherits it) and the interpreter's switch interval; return the number of threads set."""
    n = threads_from_env() if threads is None else int(threads)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    return n
