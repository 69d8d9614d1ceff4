"""The training loop of the lab: one step at a time, with the metrics that show vanishing and
exploding gradients while a network learns (or fails to learn) a long-range task.

The model is torch.nn.RNN / LSTM / GRU (the fused kernels) with a linear readout. Every
`probe_every` steps the loss's total derivative ∂L/∂h_t is measured for every t on a few
sequences of the current batch, by stepping cells that share the model's weights under autograd
(torch.autograd.grad on the retained states), so training itself runs at full speed.
"""
from __future__ import annotations

import math
import threading
import time
import uuid
import weakref
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Callable, Iterator

import numpy as np
import torch

from . import floss
from .budget import BUDGETS, Budget, check, check_deadline, deadline, scale, train_step_cost
from .cells import CELLS, INITS
from .cells.base import denormals_as_zero
from .config import UNROLL_FIELDS, ConfigError, FieldSpec
from .norms import clip_gradients, step_norms, total_norm
from .tasks import TASKS

TRAIN_INITS = ("pytorch",) + INITS
PROBE_SEQUENCES = 8
HELDOUT_PROBE = 100               # held-out sequences measured on probe steps (the digits: 10 of each, core/digits.py)
TRAIN_LOWER = "the sequence length T, the batch or the hidden size"

TASK_OPTION_FIELDS: dict[str, FieldSpec] = {
    "pixel_order": FieldSpec("choice", "digits: the pixels row by row, or in a fixed random order (permuted).",
                             ("row", "permuted")),
    "perm_seed": FieldSpec("int", "digits: the seed of the fixed pixel permutation.", lo=0, hi=2**31 - 1),
    "delay": FieldSpec("int", "xor: steps from the first bit to the second (the last step); at most T − 1.",
                       lo=1, hi=999),
}
FLOSS_FIELDS: dict[str, FieldSpec] = {
    "floss_k": FieldSpec("int", "Gradient flossing: how many of the top Lyapunov exponents to push to 0 (0: off; "
                         "at most the state size).", lo=0, hi=1024),
    "floss_every": FieldSpec("int", "Gradient flossing: add Σλᵢ² to the loss every this many training steps "
                             "(0: never during training).", lo=0, hi=100_000),
    "floss_before": FieldSpec("int", "Gradient flossing: this many steps of flossing alone (Σλᵢ², no task loss) "
                              "before training.", lo=0, hi=100_000),
    "floss_weight": FieldSpec("float", "Gradient flossing: the weight of Σλᵢ² in the loss.", lo=0.0, hi=100.0,
                              lo_open=True),
}

TRAIN_FIELDS: dict[str, FieldSpec] = {
    "task": FieldSpec("choice", "Long-range task to learn: the adding problem, copy (recall a string after a "
                      "delay), temporal order (which of X/Y came first and second), sequential digits (an 8×8 "
                      "handwritten digit pixel by pixel) or delayed XOR.", tuple(TASKS)),
    "seq_len": replace(UNROLL_FIELDS["seq_len"], lo=2, hi=1000, help="Sequence length T of the task."),
    "cell": UNROLL_FIELDS["cell"],
    "activation": replace(UNROLL_FIELDS["activation"], choices=("tanh", "relu"),
                          help="Nonlinearity of the vanilla RNN (torch.nn.RNN offers tanh and ReLU)."),
    "bias": replace(UNROLL_FIELDS["bias"], help="minGRU: the gate's initial bias (negative: gates start closed, so "
                                                "the state keeps more)."),
    "forget_bias": FieldSpec("float", "LSTM: the forget gate's bias at initialisation (its rows of bias_ih; those of "
                             "bias_hh set to 0): σ(b) of the cell state is kept per step at first (Gers et al. 2000; "
                             "Jozefowicz et al. 2015 use 1). 0 keeps the initialisation's own.", lo=-10.0, hi=10.0),
    "r_min": UNROLL_FIELDS["r_min"],
    "r_max": UNROLL_FIELDS["r_max"],
    "max_phase": UNROLL_FIELDS["max_phase"],
    "lru_norm": UNROLL_FIELDS["lru_norm"],
    "init": FieldSpec("choice", "Recurrent matrix: PyTorch's default, or one of the Gradient flow page's "
                      "initialisations × s.", TRAIN_INITS),
    "weight_scale": UNROLL_FIELDS["weight_scale"],
    "hidden": replace(UNROLL_FIELDS["hidden"], hi=512),
    "batch": replace(UNROLL_FIELDS["batch"], hi=512, help="Sequences per training batch."),
    "optimizer": FieldSpec("choice", "Optimiser.", ("adam", "sgd")),
    "lr": FieldSpec("float", "Learning rate.", lo=0.0, hi=10.0, lo_open=True),
    "clip": UNROLL_FIELDS["clip"],
    "clip_mode": UNROLL_FIELDS["clip_mode"],
    "seed": UNROLL_FIELDS["seed"],
    "steps": FieldSpec("int", "Training steps (batches).", lo=1, hi=100_000),
    "probe_every": FieldSpec("int", "Measure ‖∂L/∂h_t‖ by distance every this many steps.", lo=1, hi=10_000),
    **TASK_OPTION_FIELDS,
    **FLOSS_FIELDS,
}


@dataclass(frozen=True)
class TrainConfig:
    """One network, optimiser and task."""
    task: str = "adding"
    seq_len: int = 100
    cell: str = "lstm"
    activation: str = "tanh"          # vanilla RNN only
    init: str = "pytorch"
    weight_scale: float = 1.0         # used by every init but "pytorch"
    bias: float = 0.0                 # minGRU's gate bias
    forget_bias: float = 0.0          # LSTM's forget-gate bias at initialisation (0: the init's own)
    r_min: float = 0.9                # LRU ring initialisation (core/cells/lru.py)
    r_max: float = 0.999
    max_phase: float = 6.28
    lru_norm: str = "on"
    hidden: int = 64
    batch: int = 64
    optimizer: str = "adam"
    lr: float = 1e-3
    clip: float | None = 1.0
    clip_mode: str = "norm"
    seed: int = 0
    steps: int = 1000                 # for the CLI; the page trains until paused
    probe_every: int = 20             # the probe costs ~10 ms: every 20 steps keeps the loop within 10% of plain
    pixel_order: str = "row"          # digits task
    perm_seed: int = 0                # digits task, pixel_order "permuted"
    delay: int = 10                   # xor task
    floss_k: int = 0                  # gradient flossing (core/floss.py): 0 = off
    floss_every: int = 1
    floss_before: int = 0
    floss_weight: float = 1.0

    def __post_init__(self):
        for f in fields(self):
            object.__setattr__(self, f.name, TRAIN_FIELDS[f.name].parse(f.name, getattr(self, f.name)))
        need = TASKS[self.task].min_seq_len
        if self.seq_len < need:
            raise ConfigError("seq_len", f"at least {need} for the {self.task} task", self.seq_len)
        if self.r_max < self.r_min:
            raise ConfigError("r_max", f"at least r_min ({self.r_min:g})", self.r_max)
        if self.task == "xor" and self.delay > self.seq_len - 1:
            raise ConfigError("delay", f"from 1 to T − 1 = {self.seq_len - 1} for the xor task (T is the sequence "
                              "length)", self.delay)
        if self.floss_k:
            if self.cell not in floss.FLOSS:
                raise ConfigError("floss_k", f"0 (off) for the {self.cell} cell: its Lyapunov exponents cannot be "
                                  f"computed (flossing works with {', '.join(floss.FLOSS)})", self.floss_k)
            size = floss.state_size(self.cell, self.hidden)
            if self.floss_k > size:
                raise ConfigError("floss_k", f"from 0 to the state size {size} of this {self.cell} "
                                  f"(H = {self.hidden})", self.floss_k)
        check("training step", self.step_cost(), TRAIN_LOWER + (", or floss_k" if self.floss_k else ""))

    @property
    def task_options(self) -> dict:
        """The settings the task's batch maker reads besides T and the batch size."""
        return {name: getattr(self, name) for name in TASKS[self.task].options}

    def step_cost(self) -> Budget:
        """Memory and time of this run's slowest step (one with the ∂L/∂h probe, the exponents recorded or flossed,
        and the held-out evaluation of a task that has one)."""
        task = TASKS[self.task]
        parts = [train_step_cost(self.cell, self.seq_len, self.batch, self.hidden, task.input_size,
                                 min(PROBE_SEQUENCES, self.batch))]
        if self.cell in floss.FLOSS:
            k = self.floss_k or min(floss.REPORT_K, floss.state_size(self.cell, self.hidden))
            parts.append(floss.cost(self.cell, self.seq_len, self.hidden, k, min(floss.FLOSS_SEQUENCES, self.batch),
                                    backward=bool(self.floss_k)))
        if task.heldout is not None:      # the held-out sample through the fused layer: at most a step's cost
            parts.append(train_step_cost(self.cell, self.seq_len, HELDOUT_PROBE, self.hidden, task.input_size, 0))
        return Budget(sum(p.memory_bytes for p in parts), sum(p.seconds for p in parts))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_mapping(cls, values: dict) -> "TrainConfig":
        return cls(**{k: v for k, v in values.items() if k in TRAIN_FIELDS})


# "Why gating matters", the teachers' preset (page: /training?preset=gating; benchmarks/bench_training.py):
# an LSTM and a vanilla tanh RNN on the adding problem at T = 100, the same batches, clipping at 1.
# With Adam 1e-2 the LSTM's mean loss over 20 steps is under 0.01 after 640-1,240 steps on seeds 0-4
# (seed 3: 760; with 1e-3 it needs 3,000+). The RNN gets 1e-3: at 1e-2 it sits on the chance level too
# but with bursts of loss up to ~9 (seed 3, steps 600-700), which would muddle the picture.
# H = 32 and Adam 3e-2 for the LSTM: on seeds 0-5 it is under MSE 0.01 after 520-940 steps (12-19 s alone on one
# thread); at H = 64 and 1e-2 it took 640-820+ steps of twice the cost. The RNN stays on the chance line either way.
GATING_RACE = (
    TrainConfig(task="adding", seq_len=100, batch=64, seed=3, cell="lstm", hidden=32, lr=3e-2, clip=1.0),
    TrainConfig(task="adding", seq_len=100, batch=64, seed=3, cell="rnn", activation="tanh", hidden=32, lr=1e-3,
                clip=1.0),
)
# The same tanh RNN (orthogonal W × 1.5, plain SGD at 0.1) with and without clipping by norm at 1: the
# unclipped run's gradient grows step after step and its loss turns NaN within ~20-40 steps (seconds).
CLIPPING_RACE = tuple(TrainConfig(task="adding", seq_len=30, batch=64, seed=0, cell="rnn", activation="tanh",
                                  init="orthogonal", weight_scale=1.5, optimizer="sgd", lr=0.1, clip=clip)
                      for clip in (1.0, None))


@dataclass
class StepRecord:
    step: int
    loss: float
    grad_norm: float               # total parameter-gradient norm before clipping
    grad_norm_clipped: float       # after clipping (equal to grad_norm when clipping is off or idle)
    clipped: bool                  # clipping changed this step's gradient
    finite: bool                   # loss and gradient were finite (False: the step was not applied)
    seconds: float                 # wall time of the step
    probe: np.ndarray | None = None   # mean ‖∂L/∂h_{T−k}‖ by distance k, on probe steps
    accuracy: float | None = None     # classification tasks: share of right answers in this batch (before the update)
    heldout_loss: float | None = None       # tasks with a held-out set (digits), on probe steps and the last step:
                                            # its first HELDOUT_PROBE sequences
    heldout_accuracy: float | None = None
    lyapunov: list | None = None      # top exponents (nats per step, descending) where computed: every flossing step,
                                      # and every probe step of a cell that has them
    flossed: bool = False             # Σλᵢ² was part of this step's loss
    span: int = 1                  # steps this record covers from `step` on (a long run's older steps are merged)

    def to_json_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k != "probe"}
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


class Model(torch.nn.Module):
    """The cell's training layer (core/cells/layers.py, one per registry entry) and a linear readout."""

    def __init__(self, cfg: TrainConfig):
        super().__init__()
        task = TASKS[cfg.task]
        self.cfg = cfg
        gen = torch.Generator().manual_seed(cfg.seed)
        self.core = CELLS[cfg.cell].train_layer(task.input_size, cfg.hidden, cfg, gen)
        self.readout = torch.nn.Linear(cfg.hidden, task.output_size)
        with torch.no_grad():                   # PyTorch's default U(±1/√fan_in), from the run's own generator
            for p in self.readout.parameters():
                p.uniform_(-cfg.hidden ** -0.5, cfg.hidden ** -0.5, generator=gen)
        self.answer_steps = task.answer_steps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Readout at the answer steps, (answer_steps, B, output_size)."""
        return self.readout(self.core(x)[-self.answer_steps:])


def probe_distances(model: Model, x: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    """Mean over the sequences of ‖∂L/∂(state)_{T−k}‖ for k = 0..T−1, through every path."""
    states, outputs = model.core.probe_steps(x)
    loss = TASKS[model.cfg.task].loss(model.readout(outputs[-model.answer_steps:]), target)
    grads = torch.autograd.grad(loss, states, allow_unused=True)
    norms = [step_norms(g.unsqueeze(0)).mean().item() if g is not None else 0.0 for g in grads]
    return np.array(norms[::-1])


class Trainer:
    """Owns one model and its optimiser; `step(x, target)` trains on one batch."""

    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        self.model = Model(cfg)
        self.params = [p for p in self.model.parameters()]
        opt = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.SGD
        self.optimizer = opt(self.params, lr=cfg.lr)
        self.steps_done = 0
        self.diverged_at: int | None = None
        task = TASKS[cfg.task]
        self.heldout = task.heldout(cfg.seq_len, **cfg.task_options) if task.heldout is not None else None

    def flossing(self) -> tuple[bool, bool]:
        """(this step adds Σλᵢ², this step is flossing alone, before training)."""
        cfg, done = self.cfg, self.steps_done
        if not cfg.floss_k:
            return False, False
        if done < cfg.floss_before:
            return True, True
        return bool(cfg.floss_every) and (done - cfg.floss_before) % cfg.floss_every == 0, False

    def evaluate(self, sequences: int | None = None) -> tuple[float, float]:
        """(loss, accuracy) on the task's held-out set (its first `sequences`; default all)."""
        x, target = self.heldout
        x, target = x[:, :sequences], target[:sequences]
        with torch.no_grad():
            outputs = self.model(x)
            return float(TASKS[self.cfg.task].loss(outputs, target)), TASKS[self.cfg.task].accuracy(outputs, target)

    def exponents(self, x: torch.Tensor, states: torch.Tensor | None = None) -> torch.Tensor:
        """(sequences, k) top Lyapunov exponents along the first FLOSS_SEQUENCES sequences of x, under autograd
        (`states`: the layer's outputs on x, when this step's forward has them)."""
        cfg = self.cfg
        k = cfg.floss_k or min(floss.REPORT_K, floss.state_size(cfg.cell, cfg.hidden))
        n = floss.FLOSS_SEQUENCES
        return floss.exponents(cfg.cell, self.model.core, x[:, :n], k, None if states is None else states[:, :n])

    def step(self, x: torch.Tensor, target: torch.Tensor, final: bool = False) -> StepRecord:
        """Train on one batch; `final`: the run's last step (probed and evaluated like a probe step)."""
        cfg = self.cfg
        task = TASKS[cfg.task]
        start = time.perf_counter()
        flossed, floss_only = self.flossing()
        lyap = None
        # The update treats subnormal numbers (below 1.2e-38) as zero: on a long sequence the far steps' gradients
        # are subnormal and torch's kernels read them ~10x slower (an LSTM step at T 300, H 128, batch 128: 2.9 s
        # against 0.29 s), while what they add to an update is nothing Adam or SGD could feel. The ∂L/∂h probe
        # below runs outside, so the heatmap keeps the values torch computes.
        with denormals_as_zero():
            self.optimizer.zero_grad(set_to_none=True)
            with torch.set_grad_enabled(not floss_only):
                states = self.model.core(x)
                outputs = self.model.readout(states[-self.model.answer_steps:])
                loss = task.loss(outputs, target)
            objective = None if floss_only else loss
            if flossed:                   # Engelken (2023): Σλᵢ² pulls the top exponents towards 0
                # a step that also trains shares its forward pass: one backward through the layer carries both
                shared = not floss_only and cfg.cell in floss.SHARES_STATES
                lyap = self.exponents(x, states if shared else None)
                term = cfg.floss_weight * floss.penalty(lyap)
                objective = term if objective is None else objective + term
            objective.backward()
            loss_value = float(loss.detach())
            if not math.isfinite(float(objective.detach())):
                loss_value = math.nan         # a blown-up flossing term stops the run like a blown-up loss
            if cfg.clip is None:
                before = after = total_norm(p.grad for p in self.params)
                clipped = False
            else:
                before, after, clipped = clip_gradients(self.params, cfg.clip, cfg.clip_mode)
            finite = math.isfinite(loss_value) and math.isfinite(before)
            self.steps_done += 1
            if finite:
                self.optimizer.step()
            elif self.diverged_at is None:
                self.diverged_at = self.steps_done
        record = StepRecord(self.steps_done, loss_value, before, after, clipped, finite, 0.0, None,
                            task.accuracy(outputs.detach(), target) if task.accuracy else None, flossed=flossed)
        if lyap is not None:
            record.lyapunov = lyap.detach().mean(0).tolist()
        if finite and (self.steps_done == 1 or self.steps_done % cfg.probe_every == 0 or final):
            n = min(PROBE_SEQUENCES, x.shape[1])
            record.probe = probe_distances(self.model, x[:, :n], task.take(target, n))
            if record.lyapunov is None and cfg.cell in floss.FLOSS:
                with torch.no_grad():
                    record.lyapunov = self.exponents(x).mean(0).tolist()
            if self.heldout is not None:
                record.heldout_loss, record.heldout_accuracy = self.evaluate(HELDOUT_PROBE)
        record.seconds = time.perf_counter() - start
        return record


class Batches:
    """The task's batches, drawn from their own seeded generator (shared by raced trainers)."""

    def __init__(self, task: str, seq_len: int, batch: int, seed: int, options: dict | None = None):
        self.task, self.seq_len, self.batch = task, seq_len, batch
        self.options = options or {}
        self.generator = torch.Generator().manual_seed(seed + 1_000_003)

    def next(self):
        return TASKS[self.task].batch(self.seq_len, self.batch, self.generator, **self.options)


def train(cfg: TrainConfig, steps: int | None = None) -> Iterator[StepRecord]:
    """Yield one record per step; stops after `steps` (default cfg.steps) or at the first
    non-finite step (its record has finite=False)."""
    trainer = Trainer(cfg)
    batches = Batches(cfg.task, cfg.seq_len, cfg.batch, cfg.seed, cfg.task_options)
    total = cfg.steps if steps is None else steps
    for i in range(total):
        record = trainer.step(*batches.next(), final=i == total - 1)
        yield record
        if not record.finite:
            return


HISTORY_CAP = 3000          # records a run's history holds at most (the figures draw 1,500 points)
HISTORY_RECENT = 1000       # ... of which the latest this many are single steps
PROBE_CAP = 400             # ∂L/∂h profiles it holds at most (the heatmap draws 200 columns)


def merged(a: StepRecord, b: StepRecord) -> StepRecord:
    """One record for the steps of a and b (b the later), at a's first step: mean loss and accuracy, largest norms,
    clipped or flossed if either was, the later probe, held-out figures and exponents."""
    span = a.span + b.span

    def later(name):
        value = getattr(b, name)
        return value if value is not None else getattr(a, name)
    accuracy = ((a.accuracy * a.span + b.accuracy * b.span) / span
                if a.accuracy is not None and b.accuracy is not None else later("accuracy"))
    return StepRecord(step=a.step, loss=(a.loss * a.span + b.loss * b.span) / span,
                      grad_norm=max(a.grad_norm, b.grad_norm),
                      grad_norm_clipped=max(a.grad_norm_clipped, b.grad_norm_clipped),
                      clipped=a.clipped or b.clipped, finite=a.finite and b.finite, seconds=a.seconds + b.seconds,
                      probe=later("probe"), accuracy=accuracy, heldout_loss=later("heldout_loss"),
                      heldout_accuracy=later("heldout_accuracy"), lyapunov=later("lyapunov"),
                      flossed=a.flossed or b.flossed, span=span)


@dataclass
class History:
    """What is recorded of one run (what the page and the CSV export show), bounded: past HISTORY_CAP records,
    all but the latest HISTORY_RECENT are merged in pairs (a record's `span` says how many steps it covers), and
    past PROBE_CAP probes every other older one is dropped, so a live tick's cost and a run's memory stay the
    same however long it trains."""
    config: TrainConfig
    records: list = field(default_factory=list)
    clipped_steps: int | None = None     # steps whose gradient was clipped (kept exact when records merge)
    probe_count: int | None = None

    def __post_init__(self):
        self.diverged_at: int | None = next((r.step for r in self.records if not r.finite), None)
        if self.clipped_steps is None:
            self.clipped_steps = sum(r.span for r in self.records if r.clipped)
        if self.probe_count is None:
            self.probe_count = sum(r.probe is not None for r in self.records)

    def append(self, record: StepRecord) -> None:
        self.records.append(record)
        self.clipped_steps += record.clipped
        self.probe_count += record.probe is not None
        if not record.finite and self.diverged_at is None:
            self.diverged_at = record.step
        if len(self.records) > HISTORY_CAP:
            self._merge_older()
        if self.probe_count > PROBE_CAP:
            self._thin_probes()

    def _merge_older(self) -> None:
        cut = len(self.records) - HISTORY_RECENT
        old = self.records[:cut]
        pairs = [merged(old[i], old[i + 1]) for i in range(0, len(old) - 1, 2)] + old[len(old) - len(old) % 2:]
        self.records = pairs + self.records[cut:]
        self.probe_count = sum(r.probe is not None for r in self.records)

    def _thin_probes(self) -> None:
        """Drop every other probe but the latest one (the heatmap keeps its whole time span)."""
        probed = [i for i, r in enumerate(self.records) if r.probe is not None]
        for i in probed[:-1][1::2]:           # new records: a snapshot another thread draws keeps its own
            self.records[i] = replace(self.records[i], probe=None)
        self.probe_count = sum(r.probe is not None for r in self.records)

    def copy(self) -> "History":
        """The records so far (a run going on in another thread appends to the original, not to this)."""
        return History(self.config, list(self.records), self.clipped_steps, self.probe_count)

    def column(self, name: str) -> np.ndarray:
        return np.array([getattr(r, name) for r in self.records], dtype=float)

    def exponents(self) -> tuple[np.ndarray, np.ndarray]:
        """(steps, matrix steps × k) of the recorded top Lyapunov exponents."""
        rows = [(r.step, r.lyapunov) for r in self.records if r.lyapunov is not None]
        if not rows:
            return np.array([]), np.zeros((0, 0))
        return np.array([s for s, _ in rows]), np.array([v for _, v in rows], dtype=float)

    def probes(self) -> tuple[np.ndarray, np.ndarray]:
        """(steps, matrix distance × probe) of the recorded ∂L/∂h profiles."""
        rows = [(r.step, r.probe) for r in self.records if r.probe is not None]
        if not rows:
            return np.array([]), np.zeros((0, 0))
        return np.array([s for s, _ in rows]), np.stack([p for _, p in rows], axis=1)


class Race:
    """One or two trainers fed the same batches (the shared data comes from the first config's
    task, length, batch size and seed). Advanced in bounded chunks so a page can stay live."""

    def __init__(self, configs: list[TrainConfig]):
        first = configs[0]
        for other in configs[1:]:
            for name in ("task", "seq_len", "batch", *TASKS[first.task].options):
                if getattr(other, name) != getattr(first, name):
                    raise ConfigError(name, f"the same in both raced runs ({getattr(first, name)})",
                                      getattr(other, name))
        costs = [c.step_cost() for c in configs]
        check("training step", Budget(sum(c.memory_bytes for c in costs), sum(c.seconds for c in costs)),
              TRAIN_LOWER + " (a race trains both runs in every step)")
        self.configs = configs
        self.trainers = [Trainer(c) for c in configs]
        self.histories = [History(c) for c in configs]
        self.batches = Batches(first.task, first.seq_len, first.batch, first.seed, first.task_options)
        self.seconds = 0.0                      # time spent training

    @property
    def steps(self) -> int:
        """Batches drawn so far (a run that diverged has fewer records)."""
        return max(len(h.records) for h in self.histories)

    @property
    def diverged(self) -> list[int | None]:
        return [h.diverged_at for h in self.histories]

    @property
    def live(self) -> bool:
        """Some run can still train (a run stops for good at its first non-finite step)."""
        return any(d is None for d in self.diverged)

    def advance(self, max_steps: int = 1, budget_s: float | None = None,
                should_stop: Callable[[], bool] | None = None) -> int:
        """Train every live run on the same next batches: up to max_steps, or until budget_s has
        passed, or until should_stop() says so (checked before every step), or until a run produces a
        non-finite step (the other run may go on at the next call). Returns the number of steps taken."""
        start = time.perf_counter()
        done = 0
        while done < max_steps and self.live and not (should_stop is not None and should_stop()):
            x, target = self.batches.next()
            diverged_before = sum(d is not None for d in self.diverged)
            for trainer, history in zip(self.trainers, self.histories):
                if history.diverged_at is None:
                    history.append(trainer.step(x, target))
            done += 1
            if sum(d is not None for d in self.diverged) > diverged_before:
                break
            if budget_s is not None and time.perf_counter() - start >= budget_s:
                break
        self.seconds += time.perf_counter() - start
        return done


RUNNERS: "weakref.WeakValueDictionary[str, Runner]" = weakref.WeakValueDictionary()   # this process's runs


class Runner:
    """Trains a Race in a background thread while a page watches it, so drawing the charts and training
    never wait for each other (and a page's reruns cost no training time).

    Status: "idle" (nothing trained yet), "running", "paused", "diverged" (the step that went non-finite
    paused it). The thread trains in chunks of about `chunk_s` seconds, each one admitted by `admission`'s
    ticket (core/admission.py: runs of every session take turns on the server's cores), and only while the
    page keeps calling `watch()`: if nobody has looked for `unwatched_s` seconds (the page was closed or
    left) the thread ends and the run waits; the next `watch()` starts it again. `lock` is held for every
    step, so one session never trains two steps at once (a Step press, the thread), and `snapshot()` reads
    between steps."""

    def __init__(self, race: Race, admission, chunk_s: float = 0.3, unwatched_s: float = 4.0,
                 person: str = "anonymous", tab=None):
        self.race = race
        self.status = "idle"
        self.target: tuple[int, int] | None = None     # fast-forward: (from step, to step), then pause
        self.waiting = None                            # while it waits for a worker: its admission Place
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

    def snapshot(self) -> tuple[list[History], int, float]:
        """(copies of the histories, steps, seconds trained), consistent with each other."""
        with self.lock:
            return [h.copy() for h in self.race.histories], self.race.steps, self.race.seconds

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
