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

import ctypes
import os
import sys

import numpy  # noqa: F401  (loads NumPy's BLAS, whose threads configure_threads sets)
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
    numpy_blas_threads(n)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    return n


# NumPy's bundled OpenBLAS, by the names its builds export (scipy-openblas 64-bit, then plain OpenBLAS)
OPENBLAS_SETTERS = ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_", "openblas_set_num_threads")


def numpy_blas_threads(n: int) -> bool:
    """Give NumPy's OpenBLAS the same n threads as torch: it otherwise starts one per core for every product, which
    for the engine's per-step products (a few rows times a matrix) costs many times the product on a busy machine.
    (OMP_NUM_THREADS, which the container sets, does the same before NumPy loads.) False where NumPy's BLAS is not
    a loaded OpenBLAS: nothing is changed."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.rsplit("/", 1)[-1].lower()}
    except OSError:
        return False
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in OPENBLAS_SETTERS:
            setter = getattr(lib, name, None)
            if setter is not None:
                setter(ctypes.c_int(n))
                return True
    return False
