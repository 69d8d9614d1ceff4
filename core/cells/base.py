"""What every recurrent cell shares: activations, initialisations of recurrent matrices, the network's
weights, the raw result of a probe, and the registry entry (`CellSpec`) that tells the engine, the pages,
the CLI and the budgets everything they need about a cell.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Protocol

import numpy as np
import torch

from ..deadline import within_deadline

if TYPE_CHECKING:                     # both import the registry that imports this module
    from ..config import UnrollConfig
    from ..training import TrainConfig
    from .layers import TrainLayer

ACTIVATIONS = ("tanh", "sigmoid", "relu", "linear")
INITS = ("gaussian", "orthogonal", "identity", "xavier")

# sup |f'|: the γ of Pascanu, Mikolov & Bengio (2013), arXiv 1211.5063, section 3.
GAMMA = {"tanh": 1.0, "sigmoid": 0.25, "relu": 1.0, "linear": 1.0}

ACTIVATION_FN = {
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "linear": lambda a: a,
}


def derivative_from_output(activation: str, h: torch.Tensor) -> torch.Tensor:
    """f'(a) written in terms of h = f(a), so the backward pass needs no pre-activations."""
    if activation == "tanh":
        return torch.addcmul(torch.ones((), dtype=h.dtype), h, h, value=-1.0)   # 1 − h²
    if activation == "sigmoid":
        return torch.addcmul(h, h, h, value=-1.0)                              # h − h²
    if activation == "relu":
        return (h > 0).to(h.dtype)
    return torch.ones_like(h)


def recurrent_matrix(init: str, scale: float, hidden: int, generator: torch.Generator,
                     dtype: torch.dtype) -> torch.Tensor:
    """An H×H recurrent matrix drawn by `init` and multiplied by `scale`."""
    if init == "gaussian":      # entries N(0, s²/H): circular law, spectral radius ≈ s
        w = torch.randn(hidden, hidden, generator=generator, dtype=torch.float64) / hidden**0.5
    elif init == "orthogonal":  # QR of a gaussian matrix, sign-corrected (Saxe et al. 2014)
        q, r = torch.linalg.qr(torch.randn(hidden, hidden, generator=generator, dtype=torch.float64))
        w = q * torch.sign(torch.diagonal(r)).unsqueeze(0)
    elif init == "identity":    # Le, Jaitly & Hinton (2015), arXiv 1504.00941
        w = torch.eye(hidden, dtype=torch.float64)
    elif init == "xavier":      # Glorot & Bengio (2010): U(±sqrt(6/(fan_in+fan_out)))
        bound = (6.0 / (2 * hidden)) ** 0.5
        w = (torch.rand(hidden, hidden, generator=generator, dtype=torch.float64) * 2 - 1) * bound
    else:
        raise ValueError(f"unknown init {init!r}")
    return (w * scale).to(dtype)


SCAN_LOOP_FROM = 1500      # values per step × log2(T) from which linear_scan loops instead of doubling


def linear_scan(values: torch.Tensor, mult: torch.Tensor, reverse: bool = False) -> torch.Tensor:
    """In place along dim 0, the elementwise linear recursion s_t = values_t + mult_t ⊙ s_{t−1} (reverse:
    s_t = values_t + mult_t ⊙ s_{t+1}), with mult broadcastable to values (real or complex). Small states take
    log2(T) vectorised doubling passes (Python's per-step cost would dominate a loop); larger ones a loop of two
    NumPy calls per step (a third of torch's per-call cost), which does log2(T) times less arithmetic; the
    crossover SCAN_LOOP_FROM was measured (README, Benchmarks). Returns values, now holding s."""
    steps = values.shape[0]
    mult = mult.resolve_conj().expand_as(values)    # (a conjugate view resolved before it is broadcast: small)
    if values[0].numel() * math.log2(max(steps, 2)) < SCAN_LOOP_FROM:
        carry = torch.zeros_like(values)
        if reverse:                           # carry[t] multiplies what sits d steps later
            carry[:-1] = mult[:-1]
        else:
            carry[1:] = mult[1:]
        d = 1
        while d < steps:
            if reverse:
                values[:-d] = values[:-d] + carry[:-d] * values[d:]
                carry[:-d] = carry[:-d] * carry[d:]
            else:
                values[d:] = values[d:] + carry[d:] * values[:-d]
                carry[d:] = carry[d:] * carry[:-d]
            d *= 2
        return values
    s, m = values.detach().numpy(), mult.detach().numpy()          # views of the same memory
    term = np.empty_like(s[0])
    before = 1 if reverse else -1
    for t in within_deadline(range(steps - 2, -1, -1) if reverse else range(1, steps)):
        np.multiply(m[t], s[t + before], out=term)
        s[t] += term
    return values


@contextmanager
def denormals_as_zero():
    """Within: float arithmetic of this thread treats subnormal numbers (below 1.2e-38 in float32) as zero.
    For sums whose terms vanish (a weight gradient summed over every step of a long sequence, the far steps'
    gradients subnormal; a whole training step, core/training.py): a product reading subnormal operands runs many
    times slower on x86 (README, Benchmarks), while what they would add is below 1e-35, far under the float32
    rounding of the sum. Not for the per-step curves themselves (the probes' and the training lab's heatmap),
    which the pages show down to the subnormal range as torch computes them."""
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def gated_weights(gates: int, cfg, input_size: int, generator: torch.Generator, dtype: torch.dtype) -> dict:
    """torch's layout for a gated cell: every H×H block of weight_hh drawn by `init` × s, input weights
    N(0, 1/D), bias_ih constant (cfg.bias), bias_hh zero."""
    hidden = cfg.hidden
    weight_hh = torch.cat([recurrent_matrix(cfg.init, cfg.weight_scale, hidden, generator, dtype)
                           for _ in range(gates)], dim=0)
    weight_ih = (torch.randn(gates * hidden, input_size, generator=generator, dtype=torch.float64)
                 / input_size**0.5).to(dtype)
    return {"weight_ih": weight_ih, "weight_hh": weight_hh,
            "bias_ih": torch.full((gates * hidden,), float(cfg.bias), dtype=dtype),
            "bias_hh": torch.zeros(gates * hidden, dtype=dtype)}


@dataclass
class Network:
    """The weights of one network, by name (the order is the parameter order for clipping)."""
    cell: str
    activation: str
    params: dict[str, torch.Tensor]
    recurrent_block: torch.Tensor | None   # the matrix whose spectrum the app shows (None: the cell has none)
    options: dict = field(default_factory=dict)   # cell-specific switches the probe reads


@dataclass
class Trace:
    """Raw tensors of one probe, in time order (index t = 0..T−1)."""
    h: torch.Tensor               # (T, B, H) states (what the loss reads; complex for the LRU)
    g: torch.Tensor               # (T, B, H) total derivatives ∂L/∂h_t
    gc: torch.Tensor | None       # (T, B, H) ∂L/∂c_t (LSTM cell state)
    saturation: torch.Tensor      # (T, H) of sequence 0: |f'(a_t)|, or the carry of a gated cell
    param_grads: list             # ∂L/∂θ, one tensor per entry of Network.params


@dataclass(frozen=True)
class Theory:
    """What a cell's theory predicts for the curve of one network."""
    rate: float | None              # predicted per-step factor of ‖∂L/∂h‖ (None: no prediction here)
    label: str                      # legend entry
    note: str                       # one sentence: what it is, and when it applies
    curve: object = None            # np.ndarray of ‖∂L/∂h_{T−k}‖ / ‖∂L/∂h_T‖ when not rate^k (e.g. exact)
    mean_field: bool = False        # the mean-field prediction of the vanilla RNN (JSON: mean_field_rate)


@dataclass(frozen=True)
class UnrollCost:
    """The cell's cost model for one probe (see core/budget.py)."""
    flops_per_bh2: float          # floating-point operations per time step, per batch × hidden²
    overhead_s: float             # seconds per time step that do not scale with the sizes
    tensors_per_step: float       # batch × hidden tensors kept for the whole probe, per time step
    chunk_tensors: float = 0.0    # ... and per step of one chunk, for a probe that runs in chunks
    chunk_bytes: float = 0.0      # the most one chunk may hold
    elementwise_s: float = 0.0    # seconds per value of a step's batch × hidden state (float32; float64 twice)
    batch_floor: float = 1.0      # a step costs at least this × H·itemsize/512 sequences' worth of work: at a small
                                  # batch a step's products stream the weights from memory (matrix-vector products)


class Build(Protocol):
    def __call__(self, cfg: UnrollConfig, input_size: int, generator: torch.Generator, dtype: torch.dtype, /) \
            -> Network: ...


class Probe(Protocol):
    """One forward and one backward pass: every step's state and ∂L/∂h_t (v: ∂L/∂h on the loss's steps)."""
    def __call__(self, net: Network, x: torch.Tensor, h0: torch.Tensor, v: torch.Tensor, loss_on: str, /) \
            -> Trace: ...


class Lyapunov(Protocol):
    """The top exponents along the first sequence's trajectory, descending (core/lyapunov.py)."""
    def __call__(self, net: Network, trace: Trace, x: torch.Tensor, h0: torch.Tensor, /) -> np.ndarray: ...


class TheoryOf(Protocol):
    def __call__(self, cfg: UnrollConfig, net: Network, trace: Trace, /) -> Theory: ...


class BuildTrainLayer(Protocol):
    def __call__(self, input_size: int, hidden: int, cfg: TrainConfig, generator: torch.Generator, /) \
            -> TrainLayer: ...


@dataclass(frozen=True)
class CellSpec:
    """Everything the app needs to know about one recurrent cell: a new cell is one module with one of these."""
    name: str
    label: str                                    # for people: "Vanilla RNN", "LSTM", ...
    short: str                                    # in legends and run names: "RNN", "LSTM", ...
    help: str                                     # one line, shown by the cell picker
    build: Build
    probe: Probe
    train_layer: BuildTrainLayer                  # the cell as a trainable module (layers.py)
    carry_label: str                              # what the saturation heatmap shows
    spectrum_label: str                           # what the spectrum chart shows
    cost: UnrollCost
    uses_activation: bool = False                 # the activation f applies (vanilla RNN only)
    gamma: Callable[[str], float | None] | None = None   # sup|f'| for Pascanu's bound, where it applies
    lyapunov: Lyapunov | None = None
    theory: TheoryOf | None = None
    train_uses: tuple = ("init", "weight_scale")  # the settings its training layer reads
    train_gates: int = 1                          # H-wide real matrix blocks per step in training (cost model;
                                                  # a complex H×H product counts as several)
    train_tensors_per_step: float = 8.0
    train_step_overhead_s: float = 20e-6          # per time step of a probed training step (Python, kernel calls)
    train_batch_floor: float = 1.0                # sequences' worth of work a step's weights cost at any batch
                                                  # (a dense H×H recurrence streams them every step; 0: diagonal)
    uses: tuple = ("init", "weight_scale", "bias")   # the shared settings this cell reads (besides T, H, batch, inputs)
    settings: dict = field(default_factory=dict, hash=False)   # its own settings, by name: Setting(default,
                                                  # FieldSpec) (core/fields.py); the configs, the CLI, the URLs and
                                                  # the pages' controls carry them
    stacks: bool = False                          # layers > 1 (core/stack.py; torch.nn's num_layers in training)
    check: Callable | None = None                 # (cfg) -> None: raises ConfigError when its settings disagree
    describe: Callable | None = None              # (cfg) -> list of str: its settings in the CLI's summary line

    def __post_init__(self):                      # a cell reads its own settings, in the probe and in training
        object.__setattr__(self, "uses", tuple(self.uses) + tuple(n for n in self.settings if n not in self.uses))
        object.__setattr__(self, "train_uses", tuple(self.train_uses)
                           + tuple(n for n in self.settings if n not in self.train_uses))
