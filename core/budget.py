"""Budgets: every job a user can start is estimated up front, in memory and in time, and refused with a
message naming what to lower when it would not fit.

A job is one unroll, one training step (with its periodic ∂L/∂h probe; a race counts both runs), one
phase-diagram grid or one loss-cliff surface. The estimates depend only on the sizes of the job, never
on its seed or on what happens to be cached, so no choice of values gets round them. They are cost
models fitted to measurements on the reference machine (2-core x86-64, one torch thread; see
`benchmarks/bench_budget.py`, which prints estimate against measurement for a spread of jobs) and err
on the high side. Budgets per job:

    job              memory   time
    unroll           2 GiB    10 s
    training step    1 GiB    1.5 s   (a step is what Pause waits for, so it stays short)
    phase diagram    2 GiB    15 s
    loss cliff       1 GiB    5 s

An operator with a bigger machine can raise every budget by the same factor with the environment
variable GFL_BUDGET_SCALE (e.g. 4); the app and the CLI read it at startup.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import ConfigError

GIB = 1024**3
SCALE_ENV = "GFL_BUDGET_SCALE"


@dataclass(frozen=True)
class Budget:
    memory_bytes: float
    seconds: float


BUDGETS = {
    "unroll": Budget(2 * GIB, 10.0),
    "training step": Budget(1 * GIB, 1.5),
    "phase diagram": Budget(2 * GIB, 15.0),
    "loss cliff": Budget(1 * GIB, 5.0),
}

# The cost model: seconds = steps × overhead per step + floating-point operations / rate.
FLOP_RATE = {"float32": 8e9, "float64": 4e9}     # flop/s of small matrix products on one thread
UNROLL_FLOPS_PER_BH2 = {"rnn": 10, "lstm": 48, "gru": 36}     # per time step, × batch × hidden²
UNROLL_STEP_OVERHEAD = {"rnn": 15e-6, "lstm": 650e-6, "gru": 600e-6}
UNROLL_TENSORS_PER_STEP = {"rnn": 8, "lstm": 18, "gru": 16}   # batch × hidden tensors kept per step
TRAIN_GATES = {"rnn": 1, "lstm": 4, "gru": 3}
TRAIN_TENSORS_PER_STEP = {"rnn": 8, "lstm": 16, "gru": 12}    # kept by the fused kernels for backward
TRAIN_FLOP_RATE = 12e9                 # the fused kernels of torch.nn.RNN/LSTM/GRU run faster
TRAIN_STEP_OVERHEAD = 20e-6            # per time step inside the fused kernel
PROBE_STEP_OVERHEAD = 600e-6           # per time step of the ∂L/∂h probe (cells under autograd)


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


def _bytes(n: float) -> str:
    return f"{n / GIB:.1f} GB" if n >= 0.1 * GIB else f"{n / 1024**2:.0f} MB"


def _seconds(s: float) -> str:
    return f"{s:.0f} s" if s >= 10 else f"{s:.1f} s"


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


def unroll_cost(cell: str, seq_len: int, batch: int, hidden: int, dtype: str) -> Budget:
    """One forward and one backward pass through seq_len steps, every state kept."""
    size = itemsize(dtype)
    memory = seq_len * batch * hidden * size * UNROLL_TENSORS_PER_STEP[cell] + 8 * hidden * hidden * size
    flops = UNROLL_FLOPS_PER_BH2[cell] * batch * hidden * hidden * seq_len
    seconds = seq_len * UNROLL_STEP_OVERHEAD[cell] + flops / FLOP_RATE[dtype]
    return Budget(memory, seconds)


def train_step_cost(cell: str, seq_len: int, batch: int, hidden: int, input_size: int,
                    probe_sequences: int) -> Budget:
    """One training step of a fused torch.nn.RNN/LSTM/GRU layer, including the ∂L/∂h probe that runs
    every probe_every steps (the slowest step is what a user waits for)."""
    gates = TRAIN_GATES[cell]
    flops = 6 * seq_len * batch * gates * hidden * (hidden + input_size)
    probe_flops = 6 * seq_len * probe_sequences * gates * hidden * (hidden + input_size)
    seconds = (seq_len * (TRAIN_STEP_OVERHEAD + PROBE_STEP_OVERHEAD)
               + (flops + probe_flops) / TRAIN_FLOP_RATE)
    memory = 4 * seq_len * (batch * (TRAIN_TENSORS_PER_STEP[cell] * hidden + input_size)
                            + probe_sequences * UNROLL_TENSORS_PER_STEP[cell] * hidden)
    return Budget(memory, seconds)


def phase_cost(seq_len: int, cells: int, groups: int, batch: int, hidden: int, dtype: str) -> Budget:
    """`groups` batched unrolls one after another, each of `cells` grid cells (memory: one group at a time)."""
    size = itemsize(dtype)
    memory = 1.3 * seq_len * cells * batch * hidden * size
    flops = groups * seq_len * cells * batch * (4 * hidden * hidden + 30 * hidden)
    seconds = groups * seq_len * 40e-6 + flops / FLOP_RATE[dtype]
    return Budget(memory, seconds)


def cliff_cost(resolution: int, seq_len: int, steps: int) -> Budget:
    """The (w, b) grid under autograd in float64, and two descents of `steps` single-point unrolls."""
    points = resolution * resolution
    memory = 64 * points * seq_len + 64 * points
    seconds = points * seq_len * 40e-9 + 2 * (steps + 1) * seq_len * 60e-6
    return Budget(memory, seconds)
