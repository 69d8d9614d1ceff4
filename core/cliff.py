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

CLIFF_FIELDS: dict[str, FieldSpec] = {
    "w_min": FieldSpec("float", "Left edge of the w axis.", lo=-20.0, hi=20.0),
    "w_max": FieldSpec("float", "Right edge of the w axis (greater than w_min).", lo=-20.0, hi=20.0),
    "b_min": FieldSpec("float", "Bottom edge of the b axis.", lo=-20.0, hi=20.0),
    "b_max": FieldSpec("float", "Top edge of the b axis (greater than b_min).", lo=-20.0, hi=20.0),
    "resolution": FieldSpec("int", "Grid points per axis.", lo=10, hi=400),
    "seq_len": replace(UNROLL_FIELDS["seq_len"], hi=200, help="Unrolled steps T (50 in the paper)."),
    "x0": FieldSpec("float", "Initial state x_0.", lo=-5.0, hi=5.0),
    "target": FieldSpec("float", "Target value of σ(x_T).", lo=0.0, hi=1.0, lo_open=True),
    "w0": FieldSpec("float", "Starting w of gradient descent.", lo=-20.0, hi=20.0),
    "b0": FieldSpec("float", "Starting b of gradient descent.", lo=-20.0, hi=20.0),
    "lr": FieldSpec("float", "Learning rate of gradient descent.", lo=0.0, hi=100.0, lo_open=True),
    "steps": FieldSpec("int", "Gradient-descent steps.", lo=1, hi=500),
    "clip": FieldSpec("float", "Gradient-norm clipping threshold for the clipped run.", lo=0.0, hi=1e6,
                      lo_open=True),
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
