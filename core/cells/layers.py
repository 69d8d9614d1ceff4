"""The cells as trainable torch modules for the Training lab, one per registry entry (CellSpec.train_layer).

Every layer maps inputs (T, B, D) to outputs (T, B, H) that the task's linear readout reads, and can run again
step by step under autograd (`probe_steps`) so that the lab can measure ∂L/∂(state_t) for every t through every
path. Weights come from a private generator seeded by the run's seed: the global RNG is shared by every session
of the app and must not decide anyone's weights.
"""
from __future__ import annotations

import torch

from ..deadline import within_deadline
from .base import recurrent_matrix


class TrainLayer(torch.nn.Module):
    """What every training layer offers: forward(x (T, B, D)) -> outputs (T, B, H), and probe_steps(x) -> (the
    states of every step, kept under autograd, and the outputs)."""

    def probe_steps(self, x: torch.Tensor) -> tuple[list, torch.Tensor]:
        raise NotImplementedError


class FusedLayer(TrainLayer):
    """torch.nn.RNN / LSTM / GRU with cfg.layers stacked layers (num_layers; the fused kernels train it); cells of
    the matching kind that share each layer's parameters step it by hand for the probe. PyTorch's default
    initialisation U(±1/√H), or every layer's recurrent blocks drawn by `init` × s with zero biases."""

    def __init__(self, layer: type, cell: type, input_size: int, hidden: int, cfg, generator: torch.Generator,
                 **kwargs):
        super().__init__()
        layers = getattr(cfg, "layers", 1)
        self.layer = layer(input_size, hidden, num_layers=layers, **kwargs)
        self.cells = torch.nn.ModuleList(cell(input_size if k == 0 else hidden, hidden, **kwargs)
                                         for k in range(layers))
        with torch.no_grad():
            for p in self.layer.parameters():
                p.uniform_(-hidden ** -0.5, hidden ** -0.5, generator=generator)
            if cfg.init != "pytorch":
                for k in range(layers):
                    weight_hh = getattr(self.layer, f"weight_hh_l{k}")
                    weight_hh.copy_(torch.cat([
                        recurrent_matrix(cfg.init, cfg.weight_scale, hidden, generator, torch.float32)
                        for _ in range(weight_hh.shape[0] // hidden)]))
                    getattr(self.layer, f"bias_hh_l{k}").zero_()
                    getattr(self.layer, f"bias_ih_l{k}").zero_()
        for k, stepped in enumerate(self.cells):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                delattr(stepped, name)
                setattr(stepped, name, getattr(self.layer, f"{name}_l{k}"))

    @property
    def cell(self) -> torch.nn.Module:
        """The bottom layer's cell."""
        return self.cells[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)[0]

    def probe_steps(self, x: torch.Tensor) -> tuple[list, torch.Tensor]:
        """(the top layer's state h_t of every step, the outputs), under autograd (the layers below without it:
        only the top layer's states are asked for, and they reach the loss through the top layer alone)."""
        for below in self.cells[:-1]:
            with torch.no_grad():
                x = torch.stack(self._steps(below, x))
        states = self._steps(self.cells[-1], x)
        return states, torch.stack(states)

    def _steps(self, stepped, x: torch.Tensor) -> list:
        h = x.new_zeros(x.shape[1], self.layer.hidden_size)
        lstm = isinstance(stepped, torch.nn.LSTMCell)
        c = torch.zeros_like(h)
        states = []
        for t in within_deadline(range(x.shape[0])):
            if lstm:
                h, c = stepped(x[t], (h, c))
            else:
                h = stepped(x[t], h)
            states.append(h)
        return states


def _scan(multiplier: torch.Tensor, drive: torch.Tensor) -> list:
    """s_t = multiplier_t ⊙ s_{t−1} + drive_t from s_{−1} = 0, under autograd, one tensor per step. The steps are
    taken with unbind: indexing a graph tensor step by step makes its backward allocate a full-size zero tensor per
    step (several times slower for a minGRU training step; README, Benchmarks)."""
    drives = drive.unbind(0)
    multipliers = multiplier.unbind(0) if multiplier.dim() == drive.dim() else [multiplier] * len(drives)
    state = torch.zeros_like(drives[0])
    states = []
    for m, d in zip(multipliers, drives):
        state = m * state + d
        states.append(state)
    return states


class LRULayer(TrainLayer):
    """The LRU block of Orvieto et al. (2023): x_t = Λ x_{t−1} + γ ⊙ (B u_t), output Re(C x_t) + D u_t. A linear
    recurrence cannot multiply one input by another (the adding problem needs value × marker), and the paper's
    blocks interleave position-wise nonlinear layers with the recurrence: here a gated linear unit on the input,
    u_t = (W_a x_t) ⊙ σ(W_g x_t)."""

    def __init__(self, input_size: int, hidden: int, cfg, generator: torch.Generator):
        super().__init__()
        u1 = torch.rand(hidden, generator=generator)
        u2 = torch.rand(hidden, generator=generator)
        r2 = u1 * (cfg.r_max ** 2 - cfg.r_min ** 2) + cfg.r_min ** 2
        self.nu_log = torch.nn.Parameter(torch.log(-0.5 * torch.log(r2.clamp(min=1e-30))))
        self.theta_log = torch.nn.Parameter(torch.log(cfg.max_phase * u2))
        self.normalize = cfg.lru_norm == "on"

        def gaussian(*shape, var):
            return torch.nn.Parameter(torch.randn(*shape, generator=generator) * var ** 0.5)
        self.glu_a, self.glu_g = gaussian(hidden, input_size, var=1.0 / input_size), gaussian(hidden, input_size,
                                                                                               var=1.0 / input_size)
        self.b_re, self.b_im = gaussian(hidden, hidden, var=0.5 / hidden), gaussian(hidden, hidden, var=0.5 / hidden)
        self.c_re, self.c_im = gaussian(hidden, hidden, var=0.5 / hidden), gaussian(hidden, hidden, var=0.5 / hidden)
        self.d = gaussian(hidden, hidden, var=1.0 / hidden)

    def probe_steps(self, x: torch.Tensor) -> tuple[list, torch.Tensor]:
        lam = torch.exp(torch.complex(-torch.exp(self.nu_log), torch.exp(self.theta_log)))
        gam = torch.sqrt(-torch.expm1(-2 * torch.exp(self.nu_log))) if self.normalize else torch.ones_like(self.nu_log)
        u = (x @ self.glu_a.T) * torch.sigmoid(x @ self.glu_g.T)
        b = torch.complex(self.b_re, self.b_im)
        states = _scan(lam, gam * (u.to(b.dtype) @ b.T))
        outputs = (torch.stack(states) @ torch.complex(self.c_re, self.c_im).T).real + u @ self.d.T
        return states, outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.probe_steps(x)[1]


class MinGRULayer(TrainLayer):
    """minGRU (Feng et al. 2024): z_t = σ(W_z x_t + b_z), h̃_t = W_h x_t + b_h, h_t = (1 − z_t) h_{t−1} + z_t h̃_t."""

    def __init__(self, input_size: int, hidden: int, cfg, generator: torch.Generator):
        super().__init__()
        self.gate = torch.nn.Linear(input_size, hidden)
        self.candidate = torch.nn.Linear(input_size, hidden)
        with torch.no_grad():
            for linear in (self.gate, self.candidate):
                linear.weight.copy_(torch.randn(hidden, input_size, generator=generator) / input_size ** 0.5)
                linear.bias.zero_()
            self.gate.bias.fill_(float(cfg.bias))

    def probe_steps(self, x: torch.Tensor) -> tuple[list, torch.Tensor]:
        z = torch.sigmoid(self.gate(x))
        states = _scan(1 - z, z * self.candidate(x))
        return states, torch.stack(states)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.probe_steps(x)[1]
