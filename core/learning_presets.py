"""The Training lab's presets on the digits and delayed-XOR tasks (page: /training?preset=forgetting and
/training?preset=flossing; measured in benchmarks/bench_learning.py and tests/test_learning_presets.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .budget import Budget, check
from .digits import PIXELS
from .tasks import TASKS
from .training import PROBE_SEQUENCES, Batches, Model, TrainConfig, Trainer, probe_distances

# "Forgetting a digit": an LSTM against a tanh RNN (32 units each) on the digits task with a blank delay of 20 steps
# (T = 84: the last pixel is 20 steps back, the first 83), the same batches, clipping at 1, Adam 3e-3 for the LSTM and
# 1e-3 for the RNN (which learns the undelayed task, T = 64, at that rate: 39 % held-out after 400 steps). The LSTM's
# forget gates start at bias 2 (σ(2) = 0.88 of the cell state kept per step): with PyTorch's initialisation (bias
# ≈ 0, half of it kept) it forgets across these 20 blank steps too, 10 % held-out after 800 steps at Adam 3e-3 and
# 1e-2. Measured on seeds 0-4 (held-out accuracy on all 360 held-out images, 400 steps): the LSTM at 34-49 %, the
# RNN at 10 % (it stays there until 600 steps on every seed; on seed 0 it starts to learn at 650). Bias 1 and 3
# learn less reliably (seed 2: 23 % and 10 % after 500 steps), Adam 5e-3 later on some seeds.
_DIGITS: dict[str, Any] = dict(task="digits", seq_len=84, batch=32, seed=0, hidden=32, clip=1.0)
FORGETTING_RACE = (TrainConfig(cell="lstm", forget_bias=2.0, lr=3e-3, **_DIGITS),
                   TrainConfig(cell="rnn", activation="tanh", lr=1e-3, **_DIGITS))

# "Gradient flossing": the same tanh RNN (32 units, PyTorch's initialisation) twice on delayed XOR at delay 40, the
# same batches: run B first flosses the top 16 exponents for 200 steps (Σλᵢ² alone), then trains plainly.
# benchmarks/bench_learning.py --xor: after 800 steps 9 of 10 seeds solve it with flossing (2026-12-07: seed 7 reaches
# 73 %; the runs move with rounding: with a QR at every step it was 10 of 10, with the flossing term under autograd
# seed 2 stayed at chance), 0 of 10 without. This race itself (its batches start one earlier than the benchmark's),
# seeds 0-9 (2026-12-07): flossing solves it on 9 (0-8; seed 9 stays at chance), plain training on none.
_XOR: dict[str, Any] = dict(task="xor", seq_len=41, delay=40, batch=32, seed=0, cell="rnn", activation="tanh",
                            hidden=32, lr=3e-3, clip=1.0)
FLOSSING_RACE = (TrainConfig(**_XOR), TrainConfig(**_XOR, floss_k=16, floss_before=200, floss_every=0))


@dataclass(frozen=True)
class FlossingEffect:
    """What flossing alone does to an untrained network (the lesson's flossing step): ‖∂L/∂h_{T−k}‖ by distance k
    and the top Lyapunov exponents, on one fixed batch, before and after `floss_before` steps of Σλᵢ²."""
    distance: np.ndarray
    grad_norm_before: np.ndarray
    grad_norm_after: np.ndarray
    exponents_before: np.ndarray          # top K, nats per step, descending
    exponents_after: np.ndarray


def flossing_effect(cfg: TrainConfig) -> FlossingEffect:
    """Train `cfg` (a flossing config) for its `floss_before` steps of flossing alone on its own batches, and
    measure the gradient by distance and the exponents on the first batch before and after."""
    step = cfg.step_cost()
    check("flossing demo", Budget(step.memory_bytes, step.seconds * max(cfg.floss_before, 1)), "lower floss_before")
    trainer = Trainer(cfg)
    batches = Batches(cfg.task, cfg.seq_len, cfg.batch, cfg.seed, cfg.task_options)
    x, target = batches.next()

    def measure():
        grads = probe_distances(trainer.model, x, target)
        with torch.no_grad():
            lyap = trainer.exponents(x).mean(0).numpy()
        return grads, lyap
    grads_before, lyap_before = measure()
    trainer.step(x, target)
    for _ in range(cfg.floss_before - 1):
        trainer.step(*batches.next())
    grads_after, lyap_after = measure()
    return FlossingEffect(np.arange(cfg.seq_len), grads_before, grads_after, lyap_before, lyap_after)


@dataclass(frozen=True)
class ForgettingGradient:
    """What reaches the digit across the blank delay (the lesson's digit step): ‖∂L/∂h_{T−k}‖ by distance k of each
    network of the forgetting race at its initialisation, on the race's first batch (mean over its first
    sequences, as the lab's probe)."""
    distance: np.ndarray
    grad_norm: tuple                  # one array per network, in the configs' order
    delay: int                        # blank steps after the image: k = delay is its last pixel, k = T − 1 its first


def forgetting_gradient(configs: tuple = FORGETTING_RACE) -> ForgettingGradient:
    """Probe each untrained network of `configs` (one digits task, lengths and batch) on the first PROBE_SEQUENCES
    sequences of their shared first batch."""
    first = configs[0]
    costs = [cfg.step_cost() for cfg in configs]
    check("digit gradient demo", Budget(max(c.memory_bytes for c in costs), sum(c.seconds for c in costs)),
          "the blank delay (T) or the hidden size")
    x, target = Batches(first.task, first.seq_len, first.batch, first.seed, first.task_options).next()
    n = min(PROBE_SEQUENCES, first.batch)                 # as many as the lab's probe steps measure
    grads = tuple(probe_distances(Model(cfg), x[:, :n], TASKS[first.task].take(target, n)) for cfg in configs)
    return ForgettingGradient(np.arange(first.seq_len), grads, first.seq_len - PIXELS)
