"""Pascanu's loss cliff: a one-unit recurrent network whose loss surface has a sheer wall.

Pascanu, Mikolov & Bengio (2013), arXiv 1211.5063, section 3.3: x_t = w·σ(x_{t−1}) + b with
x_0 = 0.5, unrolled T = 50 steps, error E = (σ(x_T) − 0.7)². Near the bifurcation of the map
x ↦ w·σ(x) + b the gradient is huge on a thin wall and tiny elsewhere, so one plain gradient step
from the wall throws the parameters far away; clipping the gradient norm keeps the step sane.
Everything is vectorised over a grid of (w, b) pairs; gradients come from torch.autograd.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

import numpy as np
import torch

from .budget import check, cliff_cost
from .config import UNROLL_FIELDS, ConfigError, FieldSpec
from .deadline import within_deadline

# The page's controls (ui/cliff_controls.py); what they offer is also what its URL accepts, except the learning
# rates, which a link may extend (any valid rate joins the slider as it is), and the start point, which a click on
# the surface sets to any point (a number input keeps what it is given).
RESOLUTIONS = (50, 100, 150, 200, 300, 400)
LEARNING_RATES = (0.001, 0.003, 0.01, 0.03, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)
START_HELP = " Or click the surface."


def _edge(help: str, label: str) -> FieldSpec:
    return FieldSpec("float", help, lo=-20.0, hi=20.0, widget="number_input", label=label, step=0.5)


def _start(help: str, label: str) -> FieldSpec:
    return FieldSpec("float", help, lo=-20.0, hi=20.0, widget="number_input", label=label, step=0.1,
                     ui_help=help + START_HELP)


CLIFF_FIELDS: dict[str, FieldSpec] = {
    "w_min": _edge("Left edge of the w axis.", "w from"),
    "w_max": _edge("Right edge of the w axis (greater than w_min).", "w to"),
    "b_min": _edge("Bottom edge of the b axis.", "b from"),
    "b_max": _edge("Top edge of the b axis (greater than b_min).", "b to"),
    "resolution": FieldSpec("int", "Grid points per axis.", lo=10, hi=400, widget="select_slider",
                            label="Grid resolution", ui_options=RESOLUTIONS),
    "seq_len": replace(UNROLL_FIELDS["seq_len"], hi=200, help="Unrolled steps T (50 in the paper).",
                       label="Unrolled steps T", ui_hi=None),
    "x0": FieldSpec("float", "Initial state x_0.", lo=-5.0, hi=5.0, widget="number_input", label="x_0", step=0.1),
    "target": FieldSpec("float", "Target value of σ(x_T).", lo=0.0, hi=1.0, lo_open=True, widget="number_input",
                        label="target σ(x_T)", step=0.05, ui_lo=0.01),
    "w0": _start("Starting w of gradient descent.", "start w"),
    "b0": _start("Starting b of gradient descent.", "start b"),
    "lr": FieldSpec("float", "Learning rate of gradient descent.", lo=0.0, hi=100.0, lo_open=True,
                    widget="select_slider", label="Learning rate", ui_options=LEARNING_RATES, ui_open=True),
    "steps": FieldSpec("int", "Gradient-descent steps.", lo=1, hi=500, widget="slider", label="Steps", ui_hi=200),
    "clip": FieldSpec("float", "Gradient-norm clipping threshold for the clipped run.", lo=0.0, hi=1e6,
                      lo_open=True, widget="slider", label="Clipping threshold", step=0.05, ui_lo=0.05, ui_hi=10.0,
                      ui_help="The clipped run rescales the gradient whenever ‖∇E‖ passes this threshold, so no "
                              "step is longer than learning rate × threshold."),
}


@dataclass(frozen=True)
class CliffConfig:
    """The cliff experiment: a (w, b) grid of the loss and two descents from one start."""
    w_min: float = 1.0
    w_max: float = 8.0
    b_min: float = -5.0
    b_max: float = 0.0
    resolution: int = 200          # grid points per axis
    seq_len: int = 50              # T, as in the paper
    x0: float = 0.5
    target: float = 0.7
    w0: float = 4.5                # start just beside the wall
    b0: float = -2.0
    lr: float = 0.3
    steps: int = 40
    clip: float = 1.0              # threshold of the clipped run (by norm)

    def __post_init__(self):
        for f in fields(self):
            object.__setattr__(self, f.name, CLIFF_FIELDS[f.name].parse(f.name, getattr(self, f.name)))
        if self.w_max <= self.w_min:
            raise ConfigError("w_max", f"greater than w_min ({self.w_min:g})", self.w_max)
        if self.b_max <= self.b_min:
            raise ConfigError("b_max", f"greater than b_min ({self.b_min:g})", self.b_max)
        check("loss cliff", cliff_cost(self.resolution, self.seq_len, self.steps),
              "the grid resolution, the unrolled steps T or the descent steps")

    def to_dict(self) -> dict:
        return asdict(self)


def loss_and_grad(w: torch.Tensor, b: torch.Tensor, seq_len: int, x0: float, target: float):
    """E(w, b) and its gradient, elementwise over tensors of (w, b) pairs (float64, autograd)."""
    w = w.detach().to(torch.float64).requires_grad_()
    b = b.detach().to(torch.float64).requires_grad_()
    x = torch.full_like(w, x0)
    for _ in within_deadline(range(seq_len)):
        x = w * torch.sigmoid(x) + b
    loss = (torch.sigmoid(x) - target) ** 2
    grad_w, grad_b = torch.autograd.grad(loss.sum(), (w, b))   # cells are independent: sum = per cell
    return loss.detach(), grad_w, grad_b


@dataclass
class CliffGrid:
    w: np.ndarray            # (nw,)
    b: np.ndarray            # (nb,)
    loss: np.ndarray         # (nb, nw): rows are b, columns are w
    grad_norm: np.ndarray    # (nb, nw)


@dataclass
class Trajectory:
    """Gradient descent from (w0, b0): one entry per visited point (steps + 1)."""
    w: np.ndarray
    b: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray    # ‖∇E‖ at each point, before clipping
    step_length: np.ndarray  # length of each step taken (steps entries)
    clipped: np.ndarray      # whether clipping changed each step
    clip: float | None

    def to_json_dict(self) -> dict:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in asdict(self).items()}


@dataclass
class CliffResult:
    config: CliffConfig
    grid: CliffGrid
    plain: Trajectory
    clipped: Trajectory

    def to_json_dict(self) -> dict:
        return {"config": self.config.to_dict(),
                "w": self.grid.w.tolist(), "b": self.grid.b.tolist(),
                "loss": self.grid.loss.tolist(), "grad_norm": self.grid.grad_norm.tolist(),
                "plain": self.plain.to_json_dict(), "clipped": self.clipped.to_json_dict()}


def cliff_grid(cfg: CliffConfig) -> CliffGrid:
    """E and ‖∇E‖ over the whole grid in one vectorised pass."""
    w = torch.linspace(cfg.w_min, cfg.w_max, cfg.resolution, dtype=torch.float64)
    b = torch.linspace(cfg.b_min, cfg.b_max, cfg.resolution, dtype=torch.float64)
    ww, bb = torch.meshgrid(w, b, indexing="xy")                 # (nb, nw)
    loss, gw, gb = loss_and_grad(ww, bb, cfg.seq_len, cfg.x0, cfg.target)
    return CliffGrid(w.numpy(), b.numpy(), loss.numpy(), torch.hypot(gw, gb).numpy())


def descend(cfg: CliffConfig, clip: float | None) -> Trajectory:
    """Plain gradient descent (clip=None) or with the gradient norm clipped at `clip`."""
    point = torch.tensor([cfg.w0, cfg.b0], dtype=torch.float64)
    ws, bs, losses, norms, lengths, clipped = [], [], [], [], [], []
    for step in within_deadline(range(cfg.steps + 1)):
        loss, gw, gb = loss_and_grad(point[0:1], point[1:2], cfg.seq_len, cfg.x0, cfg.target)
        grad = torch.cat([gw, gb])
        norm = float(torch.linalg.vector_norm(grad))
        ws.append(float(point[0]))
        bs.append(float(point[1]))
        losses.append(float(loss))
        norms.append(norm)
        if step == cfg.steps or not np.isfinite(norm):
            break
        if clip is not None:
            param = torch.nn.Parameter(point.clone())
            param.grad = grad.clone()
            torch.nn.utils.clip_grad_norm_([param], max_norm=clip)
            was_clipped = bool(norm > clip)
            grad = param.grad
        else:
            was_clipped = False
        update = cfg.lr * grad
        point = point - update
        lengths.append(float(torch.linalg.vector_norm(update)))
        clipped.append(was_clipped)
    return Trajectory(np.array(ws), np.array(bs), np.array(losses), np.array(norms), np.array(lengths),
                      np.array(clipped, dtype=bool), clip)


def cliff(cfg: CliffConfig) -> CliffResult:
    """The grid and both descents."""
    return CliffResult(cfg, cliff_grid(cfg), descend(cfg, None), descend(cfg, cfg.clip))
