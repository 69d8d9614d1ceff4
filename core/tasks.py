"""Long-range tasks for the training lab, each with the loss of the best answer that ignores memory.

- adding (Hochreiter & Schmidhuber 1997, as in Le, Jaitly & Hinton 2015): two channels, a value
  U[0, 1] and a marker; exactly two steps are marked, one in each half; the target is the sum of the
  two marked values. Always answering 1 (the mean) gives MSE Var(u1 + u2) = 2/12 = 1/6.
- copy: a string of COPY_LENGTH symbols out of COPY_SYMBOLS, then blanks, then a "go" marker; the
  network must reproduce the string in the last COPY_LENGTH steps. Guessing uniformly gives a
  cross-entropy of ln(COPY_SYMBOLS) per recalled symbol.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

COPY_SYMBOLS = 8
COPY_LENGTH = 5


@dataclass(frozen=True)
class Task:
    name: str
    input_size: int
    output_size: int
    baseline: float          # loss of the best memoryless answer
    baseline_label: str
    loss_name: str
    min_seq_len: int


TASKS = {
    "adding": Task("adding", 2, 1, 1 / 6, "predict 1 always: MSE 1/6", "MSE", 2),
    "copy": Task("copy", COPY_SYMBOLS + 2, COPY_SYMBOLS, math.log(COPY_SYMBOLS),
                 f"guess: cross-entropy ln {COPY_SYMBOLS}", "cross-entropy", 2 * COPY_LENGTH + 1),
}


def adding_batch(seq_len: int, batch: int, generator: torch.Generator):
    """Inputs (T, B, 2) and targets (B, 1)."""
    values = torch.rand(seq_len, batch, generator=generator)
    half = max(seq_len // 2, 1)
    first = torch.randint(0, half, (batch,), generator=generator)
    second = torch.randint(half, seq_len, (batch,), generator=generator) if seq_len > 1 else first
    markers = torch.zeros(seq_len, batch)
    cols = torch.arange(batch)
    markers[first, cols] = 1.0
    markers[second, cols] = 1.0
    target = (values[first, cols] + values[second, cols]).unsqueeze(1)
    return torch.stack([values, markers], dim=-1), target


def copy_batch(seq_len: int, batch: int, generator: torch.Generator):
    """Inputs (T, B, K+2) one-hot (K symbols, blank, go) and target symbols (COPY_LENGTH, B)."""
    k, n = COPY_SYMBOLS, COPY_LENGTH
    symbols = torch.randint(0, k, (n, batch), generator=generator)
    codes = torch.full((seq_len, batch), k, dtype=torch.long)       # blank
    codes[:n] = symbols
    codes[seq_len - n - 1] = k + 1                                  # go: recall from the next step on
    return torch.nn.functional.one_hot(codes, k + 2).float(), symbols


def make_batch(task: str, seq_len: int, batch: int, generator: torch.Generator):
    return adding_batch(seq_len, batch, generator) if task == "adding" else copy_batch(seq_len, batch, generator)


def task_loss(task: str, outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """outputs: (T, B, output_size) read out at every step; only the answer steps count."""
    if task == "adding":
        return torch.nn.functional.mse_loss(outputs[-1], target)
    recall = outputs[-COPY_LENGTH:]                                  # (n, B, K)
    return torch.nn.functional.cross_entropy(recall.reshape(-1, COPY_SYMBOLS), target.reshape(-1))
