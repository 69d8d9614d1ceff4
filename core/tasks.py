"""Long-range tasks for the training lab, each with the loss of the best answer that ignores memory. One registry:
a new task is a batch maker, a loss and one entry in TASKS.

- adding (Hochreiter & Schmidhuber 1997, as in Le, Jaitly & Hinton 2015): two channels, a value
  U[0, 1] and a marker; exactly two steps are marked, one in each half; the target is the sum of the
  two marked values. Always answering 1 (the mean) gives MSE Var(u1 + u2) = 2/12 = 1/6.
- copy: a string of COPY_LENGTH symbols out of COPY_SYMBOLS, then blanks, then a "go" marker; the
  network must reproduce the string in the last COPY_LENGTH steps. Guessing uniformly gives a
  cross-entropy of ln(COPY_SYMBOLS) per recalled symbol.
- order (Hochreiter & Schmidhuber 1997, experiment 6a, "temporal order"): a start marker, random
  distractors a-d, an end marker; one of the symbols X/Y sits in the second tenth of the sequence and
  another in the sixth; the answer, read at the end, is which of XX, XY, YX, YY it was. The four
  classes are equally likely, so guessing gives a cross-entropy of ln 4, and the first relevant
  symbol is about 0.8·T steps back.
- digits (core/digits.py): the 8×8 handwritten digits pixel by pixel (row by row or in a fixed permuted order),
  then a blank delay up to T; the digit is read at the last step. The held-out classes are balanced, so a constant
  answer scores 10 % and its best cross-entropy is ln 10.
- xor (the delayed XOR of Engelken 2023, "Gradient flossing"): two random bits, the first `delay` steps before the
  last step and the second at the last step; the answer, read there, is their XOR. Guessing gives ln 2, and
  nothing but remembering the first bit for `delay` steps beats it.

Classification tasks also report an accuracy (the share of answers whose largest output is the right class).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from . import digits
from .digits import Batch

COPY_SYMBOLS = 8
COPY_LENGTH = 5
ORDER_DISTRACTORS = 4            # a, b, c, d; then X, Y, start, end
ORDER_X, ORDER_Y, ORDER_START, ORDER_END = 4, 5, 6, 7
ORDER_CLASSES = 4                # XX, XY, YX, YY


def adding_batch(seq_len: int, batch: int, generator: torch.Generator) -> Batch:
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


def copy_batch(seq_len: int, batch: int, generator: torch.Generator) -> Batch:
    """Inputs (T, B, K+2) one-hot (K symbols, blank, go) and target symbols (COPY_LENGTH, B)."""
    k, n = COPY_SYMBOLS, COPY_LENGTH
    symbols = torch.randint(0, k, (n, batch), generator=generator)
    codes = torch.full((seq_len, batch), k, dtype=torch.long)       # blank
    codes[:n] = symbols
    codes[seq_len - n - 1] = k + 1                                  # go: recall from the next step on
    return torch.nn.functional.one_hot(codes, k + 2).float(), symbols


def order_positions(seq_len: int) -> tuple[range, range]:
    """Where the two relevant symbols may sit: the second and the sixth tenth of the sequence
    (between the start and end markers, and apart, however short the sequence)."""
    first = range(max(1, seq_len // 10), max(2, 2 * seq_len // 10))
    second = range(max(first.stop, 5 * seq_len // 10), max(first.stop + 1, 6 * seq_len // 10))
    return first, second


def order_batch(seq_len: int, batch: int, generator: torch.Generator) -> Batch:
    """Inputs (T, B, 8) one-hot (a-d, X, Y, start, end) and target classes (B,) = 2·[first is Y] + [second is Y]."""
    codes = torch.randint(0, ORDER_DISTRACTORS, (seq_len, batch), generator=generator)
    codes[0], codes[-1] = ORDER_START, ORDER_END
    cols = torch.arange(batch)
    is_y = torch.randint(0, 2, (2, batch), generator=generator)
    for which, where in enumerate(order_positions(seq_len)):
        at = torch.randint(where.start, where.stop, (batch,), generator=generator)
        codes[at, cols] = ORDER_X + is_y[which]
    return torch.nn.functional.one_hot(codes, ORDER_END + 1).float(), 2 * is_y[0] + is_y[1]


def xor_batch(seq_len: int, batch: int, generator: torch.Generator, delay: int = 10) -> Batch:
    """Inputs (T, B, 2): channel 0 a bit as ±1 at the two marked steps (0 elsewhere), channel 1 the marker; the
    bits sit at steps T − 1 − delay and T − 1. Targets (B,): their XOR."""
    bits = torch.randint(0, 2, (2, batch), generator=generator)
    x = torch.zeros(seq_len, batch, 2)
    for which, at in enumerate((seq_len - 1 - delay, seq_len - 1)):
        x[at, :, 0] = 2.0 * bits[which] - 1.0
        x[at, :, 1] = 1.0
    return x, bits[0] ^ bits[1]


def mse_of_last_step(outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """outputs (answer_steps, B, 1): the mean squared error of the one answer."""
    return torch.nn.functional.mse_loss(outputs[-1], target)


def cross_entropy_of_last_step(outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cross_entropy(outputs[-1], target)


def cross_entropy_of_recall(outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """outputs (COPY_LENGTH, B, K): the cross-entropy over the recall steps only."""
    return torch.nn.functional.cross_entropy(outputs[-COPY_LENGTH:].reshape(-1, COPY_SYMBOLS), target.reshape(-1))


def accuracy_of_last_step(outputs: torch.Tensor, target: torch.Tensor) -> float:
    """The share of sequences whose largest output at the answer step is the right class."""
    return float((outputs[-1].argmax(-1) == target).float().mean())


def accuracy_of_recall(outputs: torch.Tensor, target: torch.Tensor) -> float:
    """The share of recalled symbols (COPY_LENGTH per sequence) that are right."""
    return float((outputs[-COPY_LENGTH:].argmax(-1) == target).float().mean())


def first_sequences(target: torch.Tensor, n: int) -> torch.Tensor:
    """The targets of the first n sequences, when the batch is the first dimension."""
    return target[:n]


def first_sequences_of_recall(target: torch.Tensor, n: int) -> torch.Tensor:
    return target[:, :n]


@dataclass(frozen=True, kw_only=True)
class Task:
    name: str
    input_size: int
    output_size: int
    baseline: float          # loss of the best memoryless answer
    baseline_label: str
    loss_name: str
    min_seq_len: int
    batch: Callable[..., Batch]       # (seq_len, batch, generator, **the task's options) -> (inputs (T, B, D), targets)
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]    # (outputs at the answer steps, targets) -> loss
    take: Callable[[torch.Tensor, int], torch.Tensor] = first_sequences   # the targets of the first n sequences
    answer_steps: int = 1    # the readout is scored on this many final steps
    label: str = ""          # for people: the task's name ...
    description: str = ""    # ... what the network sees, what is scored, and what T counts
    options: tuple = ()      # TrainConfig fields the batch maker reads besides (seq_len, batch, generator)
    accuracy: Callable[[torch.Tensor, torch.Tensor], float] | None = None   # share right, for classification tasks
    heldout: Callable[..., Batch] | None = None   # (seq_len, **the task's options) -> a fixed held-out set


TASKS = {
    "adding": Task(name="adding", input_size=2, output_size=1, baseline=1 / 6,
                   baseline_label="predict 1 always: MSE 1/6", loss_name="MSE", min_seq_len=2, batch=adding_batch,
                   loss=mse_of_last_step, label="adding problem",
                   description="Each step shows a random number in [0, 1] and a marker; exactly two steps are "
                               "marked, one in each half of the sequence. After the last step the network must "
                               "answer the sum of the two marked numbers; scored by the mean squared error of that "
                               "one answer. T is the whole sequence length. Always answering 1 scores 1/6."),
    "copy": Task(name="copy", input_size=COPY_SYMBOLS + 2, output_size=COPY_SYMBOLS, baseline=math.log(COPY_SYMBOLS),
                 baseline_label=f"guess: cross-entropy ln {COPY_SYMBOLS}", loss_name="cross-entropy",
                 min_seq_len=2 * COPY_LENGTH + 1, batch=copy_batch, loss=cross_entropy_of_recall,
                 take=first_sequences_of_recall, answer_steps=COPY_LENGTH, accuracy=accuracy_of_recall,
                 label="copy / memory",
                 description=f"The first {COPY_LENGTH} steps show symbols out of {COPY_SYMBOLS}, then blanks, then a "
                             f"'go' marker; in the last {COPY_LENGTH} steps the network must repeat the {COPY_LENGTH} "
                             f"symbols in order. Scored by the cross-entropy over those {COPY_LENGTH} recall steps "
                             f"only. T is the total length (symbols, delay, marker and recall), so the delay is "
                             f"T − {2 * COPY_LENGTH + 1} steps. Guessing scores ln {COPY_SYMBOLS} ≈ "
                             f"{math.log(COPY_SYMBOLS):.2f}."),
    "order": Task(name="order", input_size=ORDER_END + 1, output_size=ORDER_CLASSES,
                  baseline=math.log(ORDER_CLASSES), baseline_label=f"guess: cross-entropy ln {ORDER_CLASSES}",
                  loss_name="cross-entropy", min_seq_len=10, batch=order_batch, loss=cross_entropy_of_last_step,
                  accuracy=accuracy_of_last_step,
                  label="temporal order",
                  description="Random distractor symbols, with one X or Y hidden in the second tenth of the "
                              "sequence and another in the sixth. At the last step the network must say which "
                              "order it saw (XX, XY, YX or YY); scored by the cross-entropy of that one answer. T "
                              "is the whole sequence length, so the first symbol is about 0.8·T steps back. "
                              f"Guessing scores ln {ORDER_CLASSES} ≈ {math.log(ORDER_CLASSES):.2f}."),
    "digits": Task(name="digits", input_size=1, output_size=digits.CLASSES, baseline=math.log(digits.CLASSES),
                   baseline_label="constant answer: cross-entropy ln 10", loss_name="cross-entropy",
                   min_seq_len=digits.PIXELS, batch=digits.digits_batch, loss=cross_entropy_of_last_step,
                   accuracy=accuracy_of_last_step, options=("pixel_order", "perm_seed"), heldout=digits.heldout_set,
                   label="sequential digits",
                   description="A handwritten 8×8 digit (UCI optdigits), one pixel per step: row by row, or in a "
                               "fixed random order (permuted); then blank steps up to T. At the last step the "
                               "network must name the digit; scored by the cross-entropy of that one answer. "
                               "Training batches come from 1,437 training images; the held-out accuracy is "
                               "measured on 360 other images (36 per digit). T is the whole length, so the last "
                               "pixel is T − 64 steps back. A constant answer scores ln 10 ≈ 2.30 (10 %)."),
    "xor": Task(name="xor", input_size=2, output_size=2, baseline=math.log(2),
                baseline_label="guess: cross-entropy ln 2", loss_name="cross-entropy", min_seq_len=2, batch=xor_batch,
                loss=cross_entropy_of_last_step, accuracy=accuracy_of_last_step, options=("delay",),
                label="delayed XOR",
                description="Two random bits (shown as ±1 with a marker): the first `delay` steps before the last "
                            "step, the second at the last step. There the network must answer their XOR; scored "
                            "by the cross-entropy of that one answer. The delay, not T, is the difficulty. "
                            "Guessing scores ln 2 ≈ 0.69 (50 %)."),
}
