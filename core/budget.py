"""Budgets: every job a user can start is estimated up front, in memory and in time, and refused with a
message naming what to lower when it would not fit.

A job is one unroll, one training step (with its periodic ∂L/∂h probe; a race counts both runs), one
phase-diagram grid or one loss-cliff surface. The estimates depend only on the sizes of the job, never
on its seed or on what happens to be cached, so no choice of values gets round them. They are cost
models fitted to measurements on the reference machine (2-core x86-64, one torch thread; see
`benchmarks/bench_budget.py`, which prints estimate against measurement for a spread of jobs) and err
on the high side. Budgets per job:

    job              memory   time
    unroll           2 GiB    30 s    (an LSTM at T = 10,000, H = 256, batch 8 fits)
    training step    1 GiB    1.5 s   (a step is what Pause waits for, so it stays short)
    phase diagram    2 GiB    30 s
    loss cliff       1 GiB    10 s
    inspect          2 GiB    30 s    (a user's own network, core/inspect.py; an upload is checked before any work)

An operator with a bigger machine can raise every budget by the same factor with the environment
variable GFL_BUDGET_SCALE (e.g. 4); the app and the CLI read it at startup.

The time budget also holds while a job runs, whatever its estimate said: `with deadline(job):` gives the
calling thread a deadline of the job's budget in CPU time of that thread (the server's load does not count
against a job; torch runs on the calling thread, one thread per job), and the engine's loops over time steps
(`within_deadline(range(T))`) and between training steps check it and stop the job with a `DeadlineExceeded`
naming the budget and what to lower. No deadline set (the CLI, the Python API): nothing is checked.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass

from .cells import CELLS
from .deadline import DeadlineExceeded, check_deadline, cpu_deadline, within_deadline  # noqa: F401 (re-exported)
from .errors import ConfigError

GIB = 1024**3
SCALE_ENV = "GFL_BUDGET_SCALE"


@dataclass(frozen=True)
class Budget:
    memory_bytes: float
    seconds: float


BUDGETS = {
    "unroll": Budget(2 * GIB, 30.0),
    "training step": Budget(1 * GIB, 1.5),
    "phase diagram": Budget(2 * GIB, 30.0),
    "loss cliff": Budget(1 * GIB, 10.0),
    "weight-scale sweep": Budget(1 * GIB, 10.0),
    "inspect": Budget(2 * GIB, 30.0),
    "flossing demo": Budget(1 * GIB, 30.0),       # the lesson's flossing step: a few hundred small flossing steps
    "digit gradient demo": Budget(1 * GIB, 10.0),  # the lesson's digit step: two probes of untrained networks
}

# The cost model: seconds = steps × overhead per step + floating-point operations / rate, where a probe's
# operations count at least the cell's batch floor of sequences (benchmarks/bench_budget.py --grid: at batch 1 and
# H 512-1024 a step streams its weights from memory, 2-5x slower than the batch's flops alone say; float64 runs
# these products about as fast as float32 on the reference machine).
FLOP_RATE = {"float32": 29e9, "float64": 29e9}   # flop/s of the probes' matrix products on one thread
PHASE_FLOP_RATE = 8e9                  # the batched phase grid does more elementwise work per flop
JOB_MEMORY = 64 * 2**20                # what any job allocates besides its tensors (workspaces, allocator)
JOB_SECONDS = 0.02                     # what any job spends besides its steps (weights, spectrum, norms)
# Per cell (core/cells/<cell>.py): SPEC.cost for the probe, SPEC.train_gates, train_step_overhead_s,
# train_batch_floor and train_tensors_per_step. A training step's time per step of the sequence and per unit of
# weights (gates × H × (H + inputs)), fitted on bench_budget.py --grid with a quarter added:
TRAIN_FLOOR_S = 0.85e-9                # streaming the weights (every step of a dense recurrence, at any batch)
TRAIN_SEQUENCE_S = 6.8e-11             # each sequence of the batch, through the fused kernels
PROBE_SEQUENCE_S = 3.3e-10             # each sequence of the ∂L/∂h probe (cells stepped under autograd)
# A stacked unroll (core/stack.py: core/inspect.py's forward kernels and hand-written backward pass, each layer's
# Lyapunov exponents): per step and layer at least STACK_STEP_S × (1 + the cell's gate blocks) of Python and kernel
# calls, and the one-layer model's memory and time × STACK_MEMORY and STACK_TIME per layer. Fitted 2026-12-07
# (one thread, quiet machine) on peak RSS and CPU time: an LSTM at T 1000, B 32, H 256 took 426 MB and 2.2 s in one
# layer, 1278 MB and 4.0 s in two, 1540 MB and 5.7 s in three (its estimate 1.1–1.3× that); a GRU at B 32 H 256 two
# layers 1080 MB, 3.6 s; small stacks (T 200–2000, H 64) 0.03–0.1 ms a step and layer.
STACK_STEP_S = 30e-6
STACK_MEMORY = 1.8
STACK_TIME = 1.0


class BudgetError(ConfigError):
    """A job that would not fit its budget; the message says what it needs and what to lower."""

    def __init__(self, job: str, need: Budget, budget: Budget, lower: str):
        self.job, self.need, self.budget = job, need, budget
        self.field, self.allowed, self.value = f"{job} budget", lower, None
        over = []
        if need.memory_bytes > budget.memory_bytes:
            over.append(f"about {_bytes(need.memory_bytes)} of memory (the budget is {_bytes(budget.memory_bytes)})")
        if need.seconds > budget.seconds:
            over.append(f"about {_seconds(need.seconds)} (the budget is {_seconds(budget.seconds)})")
        ValueError.__init__(self, f"this {job} is too big: it would need {' and '.join(over)}; lower {lower}")


LOWER = {
    "unroll": "the sequence length T, the batch or the hidden size",
    "training step": "the sequence length T, the batch or the hidden size",
    "phase diagram": "the number of grid points, the batch, the hidden size or T",
    "loss cliff": "the grid resolution, the unrolled steps T or the descent steps",
    "weight-scale sweep": "the sequence length T, the batch or the hidden size",
    "inspect": "the sequence length T or the batch",
    "flossing demo": "the flossing steps (floss_before), T or the hidden size",
    "digit gradient demo": "the blank delay (T) or the hidden size",
}


@contextmanager
def deadline(job: str, seconds: float | None = None):
    """Within: this thread's work on `job` stops with DeadlineExceeded once it has used `seconds` of CPU
    (default: the job's time budget × GFL_BUDGET_SCALE); the message names what to lower (LOWER)."""
    limit = BUDGETS[job].seconds * scale() if seconds is None else seconds
    with cpu_deadline(job, limit, LOWER[job]):
        yield


def _bytes(n: float) -> str:
    return f"{n / GIB:.1f} GB" if n >= 0.1 * GIB else f"{n / 1024**2:.0f} MB"


def _seconds(s: float) -> str:
    return f"{s:.0f} s" if s >= 10 else f"{s:.2g} s" if s < 1 else f"{s:.2f} s"


def scale() -> float:
    """GFL_BUDGET_SCALE if it is a positive number, else 1."""
    try:
        value = float(os.environ.get(SCALE_ENV, "1"))
    except ValueError:
        return 1.0
    return value if value > 0 else 1.0


def check(job: str, need: Budget, lower: str) -> None:
    """Raise BudgetError when `need` exceeds the job's budget (times GFL_BUDGET_SCALE)."""
    base, k = BUDGETS[job], scale()
    budget = Budget(base.memory_bytes * k, base.seconds * k)
    if need.memory_bytes > budget.memory_bytes or need.seconds > budget.seconds:
        raise BudgetError(job, need, budget, lower)


def itemsize(dtype: str) -> int:
    return 8 if dtype == "float64" else 4


def unroll_cost(cell: str, seq_len: int, batch: int, hidden: int, dtype: str, layers: int = 1) -> Budget:
    """One probe: a forward and a backward pass through seq_len steps (the cell's own cost model), times the
    layers of a stack (core/stack.py: at least STACK_STEP_S a step and layer)."""
    cost = CELLS[cell].cost
    per_step = batch * hidden * itemsize(dtype)
    memory = (JOB_MEMORY + seq_len * per_step * cost.tensors_per_step + 8 * hidden * hidden * itemsize(dtype)
              + (min(seq_len * per_step * cost.chunk_tensors, cost.chunk_bytes) if cost.chunk_tensors else 0))
    floor = cost.batch_floor * hidden * itemsize(dtype) / 512
    flops = cost.flops_per_bh2 * (batch + floor) * hidden * hidden * seq_len
    elementwise = cost.elementwise_s * itemsize(dtype) / 4 * seq_len * batch * hidden
    if layers == 1:
        seconds = JOB_SECONDS + seq_len * cost.overhead_s + flops / FLOP_RATE[dtype] + elementwise
        return Budget(memory, seconds)
    memory = JOB_MEMORY + layers * (memory - JOB_MEMORY) * STACK_MEMORY
    step_s = max(cost.overhead_s, STACK_STEP_S * (1 + CELLS[cell].train_gates))
    seconds = JOB_SECONDS + layers * (seq_len * step_s + flops / FLOP_RATE[dtype] + elementwise) * STACK_TIME
    return Budget(memory, seconds)


def train_step_cost(cell: str, seq_len: int, batch: int, hidden: int, input_size: int,
                    probe_sequences: int, layers: int = 1) -> Budget:
    """One training step of a fused torch.nn.RNN/LSTM/GRU layer, including the ∂L/∂h probe that runs
    every probe_every steps (the slowest step is what a user waits for); a stack of `layers` costs each layer's
    (the layers above read H inputs, at least as many as the bottom one's where the task's input is smaller)."""
    spec = CELLS[cell]
    weights = spec.train_gates * hidden * (hidden + input_size)
    per_unit = (TRAIN_FLOOR_S * spec.train_batch_floor + TRAIN_SEQUENCE_S * batch
                + PROBE_SEQUENCE_S * probe_sequences)
    seconds = seq_len * (spec.train_step_overhead_s + weights * per_unit)
    memory = 4 * seq_len * (batch * (spec.train_tensors_per_step * hidden + input_size)
                            + probe_sequences * spec.cost.tensors_per_step * hidden)
    if layers > 1:
        upper = train_step_cost(cell, seq_len, batch, hidden, max(hidden, input_size), probe_sequences)
        return Budget(memory + (layers - 1) * upper.memory_bytes, seconds + (layers - 1) * upper.seconds)
    return Budget(memory, seconds)


def phase_cost(seq_len: int, cells: int, groups: int, batch: int, hidden: int, dtype: str) -> Budget:
    """`groups` batched unrolls one after another, each of `cells` grid cells (memory: one group at a time)."""
    size = itemsize(dtype)
    memory = JOB_MEMORY + 1.3 * seq_len * cells * batch * hidden * size
    flops = groups * seq_len * cells * batch * (4 * hidden * hidden + 30 * hidden)
    seconds = JOB_SECONDS + groups * seq_len * 40e-6 + flops / PHASE_FLOP_RATE * (2 if dtype == "float64" else 1)
    return Budget(memory, seconds)


def cliff_cost(resolution: int, seq_len: int, steps: int) -> Budget:
    """The (w, b) grid under autograd in float64, and two descents of `steps` single-point unrolls."""
    points = resolution * resolution
    memory = 64 * points * seq_len + 64 * points
    seconds = points * seq_len * 40e-9 + 2 * (steps + 1) * seq_len * 60e-6
    return Budget(memory, seconds)
