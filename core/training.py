"""The training loop of the lab: one step at a time, with the metrics that show vanishing and
exploding gradients while a network learns (or fails to learn) a long-range task.

The model is torch.nn.RNN / LSTM / GRU (the fused kernels) with a linear readout. Every
`probe_every` steps the loss's total derivative ∂L/∂h_t is measured for every t on a few
sequences of the current batch, by stepping cells that share the model's weights under autograd
(torch.autograd.grad on the retained states), so training itself runs at full speed.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Callable, Iterator

import numpy as np
import torch

from . import floss
from .budget import Budget, check, train_step_cost
from .cells import CELL_SETTINGS, CELLS, INITS, check_cell_settings
from .cells.base import denormals_as_zero
from .config import HIDDEN_SIZES, UI_MAX_SEED, UNROLL_FIELDS, ConfigError, FieldSpec
from .fields import add_settings
from .norms import clip_gradients, step_norms, total_norm
from .tasks import TASKS

TRAIN_INITS = ("pytorch",) + INITS
PROBE_SEQUENCES = 8
HELDOUT_PROBE = 100               # held-out sequences measured on probe steps (the digits: 10 of each, core/digits.py)
TRAIN_LOWER = "the sequence length T, the batch or the hidden size"

# The Training lab's controls (what they offer is also what its URL accepts). Every size on the sliders fits the
# training-step budget with the others at their defaults (core/budget.py): an LSTM step at H = 512 would take ~4 s,
# longer than a Pause should wait.
TRAIN_HIDDEN_SIZES = [h for h in HIDDEN_SIZES if h <= 256]
LEARNING_RATES = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0]
BATCHES = [8, 16, 32, 64, 128, 256]
FORGET_BIASES = (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0)   # the Training lab's forget-gate biases
FLOSS_KS = [0, 1, 2, 4, 8, 16, 32, 64]
FLOSS_WEIGHTS = [0.1, 0.3, 1.0, 3.0, 10.0]
FLOSS_UI_MAX = 5000
# The slider's range: every synthetic task is valid at every length it offers (the digits task needs the 64 pixels
# and says so below that), and a race of any two cells at the longest length fits the training-step budget (two
# LSTMs at T = 500: ~1.2 s a step).
SEQ_LENS = (max(t.min_seq_len for t in TASKS.values() if t.name != "digits"), 500)

TASK_OPTION_FIELDS: dict[str, FieldSpec] = {
    "pixel_order": FieldSpec("choice", "digits: the pixels row by row, or in a fixed random order (permuted).",
                             ("row", "permuted"), widget="radio", label="Pixel order",
                             option_labels={"row": "row by row"}),
    "perm_seed": FieldSpec("int", "digits: the seed of the fixed pixel permutation.", lo=0, hi=2**31 - 1,
                           widget="number_input", label="Permutation seed", ui_hi=UI_MAX_SEED),
    "delay": FieldSpec("int", "xor: steps from the first bit to the second (the last step); at most T − 1.",
                       lo=1, hi=999, widget="slider", label="Delay d (steps between the bits)", ui_hi=SEQ_LENS[1] - 1),
}
FLOSS_FIELDS: dict[str, FieldSpec] = {
    "floss_k": FieldSpec("int", "Gradient flossing: how many of the top Lyapunov exponents to push to 0 (0: off; "
                         "at most the state size).", lo=0, hi=1024, widget="select_slider",
                         label="Exponents to floss, K", ui_options=tuple(FLOSS_KS), option_labels={0: "off"},
                         ui_help="Gradient flossing (Engelken 2023): push this many of the top Lyapunov exponents of "
                                 "the forward dynamics towards 0 by adding Σλᵢ² (× the weight) to the loss; 0 is off. "
                                 "The exponents are computed along the batch's first sequence with a QR at every "
                                 "step. At most the state size (2H for an LSTM)."),
    "floss_every": FieldSpec("int", "Gradient flossing: add Σλᵢ² to the loss every this many training steps "
                             "(0: never during training).", lo=0, hi=100_000, widget="number_input",
                             label="Floss every N training steps (0: never)", ui_hi=FLOSS_UI_MAX),
    "floss_before": FieldSpec("int", "Gradient flossing: this many steps of flossing alone (Σλᵢ², no task loss) "
                              "before training.", lo=0, hi=100_000, widget="number_input",
                              label="Flossing alone before training (steps)", ui_hi=FLOSS_UI_MAX),
    "floss_weight": FieldSpec("float", "Gradient flossing: the weight of Σλᵢ² in the loss.", lo=0.0, hi=100.0,
                              lo_open=True, widget="select_slider", label="Weight of Σλᵢ²",
                              ui_options=tuple(FLOSS_WEIGHTS)),
}

TRAIN_FIELDS: dict[str, FieldSpec] = {
    "task": FieldSpec("choice", "Long-range task to learn: the adding problem, copy (recall a string after a "
                      "delay), temporal order (which of X/Y came first and second), sequential digits (an 8×8 "
                      "handwritten digit pixel by pixel) or delayed XOR.", tuple(TASKS), widget="selectbox",
                      label="Task", option_labels={name: t.label for name, t in TASKS.items()}),
    "seq_len": replace(UNROLL_FIELDS["seq_len"], lo=2, hi=1000, help="Sequence length T of the task.",
                       ui_lo=SEQ_LENS[0], ui_hi=SEQ_LENS[1]),
    "cell": replace(UNROLL_FIELDS["cell"], ui_help="Vanilla RNN, LSTM, GRU (torch's fused layers), LRU or minGRU, "
                                                   "with a linear readout."),
    "activation": replace(UNROLL_FIELDS["activation"], choices=("tanh", "relu"), label="Activation", option_labels={},
                          help="Nonlinearity of the vanilla RNN (torch.nn.RNN offers tanh and ReLU)."),
    "bias": replace(UNROLL_FIELDS["bias"], label="Gate bias",
                    help="minGRU: the gate's initial bias (negative: gates start closed, so the state keeps more)."),
    "forget_bias": FieldSpec("float", "LSTM: the forget gate's bias at initialisation (its rows of bias_ih; those of "
                             "bias_hh set to 0): σ(b) of the cell state is kept per step at first (Gers et al. 2000; "
                             "Jozefowicz et al. 2015 use 1). 0 keeps the initialisation's own.", lo=-10.0, hi=10.0,
                             widget="select_slider", label="Forget-gate bias", ui_options=FORGET_BIASES),
    **{name: s.spec for name, s in CELL_SETTINGS.items()},      # each cell's own (e.g. the LRU's, core/cells/lru.py)
    "init": FieldSpec("choice", "Recurrent matrix: PyTorch's default, or one of the Gradient flow page's "
                      "initialisations × s.", TRAIN_INITS, widget="selectbox", label="Initialisation"),
    "weight_scale": replace(UNROLL_FIELDS["weight_scale"],
                            ui_help="Scale s of the recurrent matrix for the initialisations other than PyTorch's "
                                    "default."),
    "hidden": replace(UNROLL_FIELDS["hidden"], hi=512, label="Hidden size", ui_options=tuple(TRAIN_HIDDEN_SIZES),
                      ui_help="Hidden size H: units in each recurrent layer."),
    "layers": replace(UNROLL_FIELDS["layers"], help="Stacked layers (torch.nn's num_layers; vanilla RNN, LSTM and "
                      "GRU); the readout and the ‖∂L/∂h‖ heatmap are the top layer's."),
    "batch": replace(UNROLL_FIELDS["batch"], hi=512, help="Sequences per training batch.", widget="select_slider",
                     ui_hi=None, ui_options=tuple(BATCHES),
                     ui_help="Sequences per training batch (each step trains on one batch)."),
    "optimizer": FieldSpec("choice", "Optimiser.", ("adam", "sgd"), widget="radio", label="Optimiser",
                           option_labels={"adam": "Adam", "sgd": "SGD"},
                           ui_help="Adam adapts the step size per parameter; SGD takes plain gradient steps "
                                   "(learning rate × gradient)."),
    "lr": FieldSpec("float", "Learning rate.", lo=0.0, hi=10.0, lo_open=True, widget="select_slider",
                    label="Learning rate", ui_options=tuple(LEARNING_RATES),
                    ui_help="Learning rate: the size of each update."),
    "clip": replace(UNROLL_FIELDS["clip"], label="Clipping threshold",
                    ui_help="Rescale the gradient when it passes this threshold (off: slide to the left end). "
                            "Clipping tames exploding gradients; it cannot revive vanishing ones."),
    "clip_mode": replace(UNROLL_FIELDS["clip_mode"], label="Clip by", option_labels={},
                         ui_help="By norm: shrink the whole gradient so its total norm is the threshold (direction "
                                 "kept). By value: cap each entry at ± the threshold (direction may turn)."),
    "seed": replace(UNROLL_FIELDS["seed"], ui_help="Seeds the weights and the batches: the same seed gives the same "
                                                   "run."),
    "steps": FieldSpec("int", "Training steps (batches).", lo=1, hi=100_000),
    "probe_every": FieldSpec("int", "Measure ‖∂L/∂h_t‖ by distance every this many steps.", lo=1, hi=10_000),
    **TASK_OPTION_FIELDS,
    **FLOSS_FIELDS,
}


@dataclass(frozen=True)
@add_settings(CELL_SETTINGS, after="bias")
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
    # ...then every cell's own settings (core/cells: CELL_SETTINGS), e.g. the LRU's ring
    hidden: int = 64
    layers: int = 1                   # stacked layers (rnn, lstm, gru)
    batch: int = 64
    optimizer: str = "adam"
    lr: float = 1e-3
    clip: float | None = 1.0
    clip_mode: str = "norm"
    seed: int = 0
    steps: int = 1000                 # for the CLI; the page trains until paused
    probe_every: int = 20             # the probe costs a fraction of a step: every 20 steps keeps
                                      # the loop close to a plain one (benchmarks/bench_training.py)
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
        check_cell_settings(self)
        if self.task == "xor" and self.delay > self.seq_len - 1:
            raise ConfigError("delay", f"from 1 to T − 1 = {self.seq_len - 1} for the xor task (T is the sequence "
                              "length)", self.delay)
        if self.layers > 1 and not CELLS[self.cell].stacks:
            raise ConfigError("layers", f"1 for the {self.cell} cell (stacked layers: "
                              f"{', '.join(n for n, c in CELLS.items() if c.stacks)})", self.layers)
        if self.floss_k and self.layers > 1:
            raise ConfigError("floss_k", "0 (off) with stacked layers (flossing works on one layer)", self.floss_k)
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
                                 min(PROBE_SEQUENCES, self.batch), self.layers)]
        if self.records_exponents:
            k = self.floss_k or min(floss.REPORT_K, floss.state_size(self.cell, self.hidden))
            parts.append(floss.cost(self.cell, self.seq_len, self.hidden, k, min(floss.FLOSS_SEQUENCES, self.batch),
                                    backward=bool(self.floss_k)))
        if task.heldout is not None:      # the held-out sample through the fused layer: at most a step's cost
            parts.append(train_step_cost(self.cell, self.seq_len, HELDOUT_PROBE, self.hidden, task.input_size, 0,
                                         self.layers))
        return Budget(sum(p.memory_bytes for p in parts), sum(p.seconds for p in parts))

    @property
    def records_exponents(self) -> bool:
        """Probe steps record the top Lyapunov exponents (core/floss.py: cells it knows, one layer)."""
        return self.cell in floss.FLOSS and self.layers == 1

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
# H = 32 and Adam 3e-2 for the LSTM: on seeds 0-5 it is under MSE 0.01 after 520-940 steps; at H = 64 and 1e-2
# it took 640-820+ steps of twice the cost. The RNN stays on the chance line either way.
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
        task = TASKS[self.cfg.task]
        if self.heldout is None or task.accuracy is None:
            raise ValueError(f"the {self.cfg.task} task has no held-out set")
        x, target = self.heldout
        x, target = x[:, :sequences], target[:sequences]
        with torch.no_grad():
            outputs = self.model(x)
            return float(task.loss(outputs, target)), task.accuracy(outputs, target)

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
        # are subnormal and torch's kernels read them many times slower (README, Benchmarks), while what they add to
        # an update is nothing Adam or SGD could feel. The ∂L/∂h probe below runs outside, so the heatmap keeps the
        # values torch computes.
        with denormals_as_zero():
            self.optimizer.zero_grad(set_to_none=True)
            with torch.set_grad_enabled(not floss_only):
                states = self.model.core(x)
                outputs = self.model.readout(states[-self.model.answer_steps:])
                loss = task.loss(outputs, target)
            if flossed:                   # Engelken (2023): Σλᵢ² pulls the top exponents towards 0
                # a step that also trains shares its forward pass: one backward through the layer carries both
                shared = not floss_only and cfg.cell in floss.SHARES_STATES
                lyap = self.exponents(x, states if shared else None)
                term = cfg.floss_weight * floss.penalty(lyap)
                objective = term if floss_only else loss + term
            else:
                objective = loss
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
            if record.lyapunov is None and cfg.records_exponents:
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
        x, target = batches.next()
        record = trainer.step(x, target, final=i == total - 1)
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
        assert self.clipped_steps is not None and self.probe_count is not None      # counted by __post_init__
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
