"""Activations, initialisations of the recurrent matrix, and the networks built from them.

The vanilla RNN is h_t = f(W h_{t-1} + U x_t + b); LSTM and GRU are torch.nn.LSTMCell / GRUCell
with every H×H block of their recurrent matrix initialised the same way as W.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

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


@dataclass
class Network:
    """Weights of one network; `cell_module` is set for LSTM/GRU."""
    cell: str
    activation: str
    w_hh: torch.Tensor          # (gates·H, H) recurrent weights, torch's layout (h @ w_hh.T)
    w_ih: torch.Tensor          # (gates·H, D) input weights
    b: torch.Tensor             # (gates·H,) bias (b_ih + b_hh folded together)
    cell_module: torch.nn.Module | None = None

    @property
    def recurrent_block(self) -> torch.Tensor:
        """The H×H block whose spectrum the app shows (for gated cells, the candidate block)."""
        h = self.w_hh.shape[1]
        if self.cell == "lstm":          # torch gate order i, f, g, o: g is the candidate
            return self.w_hh[2 * h:3 * h]
        if self.cell == "gru":           # torch gate order r, z, n
            return self.w_hh[2 * h:3 * h]
        return self.w_hh

    def parameters(self) -> list[torch.Tensor]:
        if self.cell_module is not None:
            return list(self.cell_module.parameters())
        return [self.w_hh, self.w_ih, self.b]


GATES = {"rnn": 1, "gru": 3, "lstm": 4}


def build_network(cell: str, activation: str, init: str, weight_scale: float, hidden: int,
                  input_size: int, bias: float, generator: torch.Generator,
                  dtype: torch.dtype) -> Network:
    """Draw the weights: recurrent blocks by `init`, input weights N(0, 1/D), biases constant."""
    gates = GATES[cell]
    w_hh = torch.cat([recurrent_matrix(init, weight_scale, hidden, generator, dtype)
                      for _ in range(gates)], dim=0)
    w_ih = (torch.randn(gates * hidden, input_size, generator=generator, dtype=torch.float64)
            / input_size**0.5).to(dtype)
    b = torch.full((gates * hidden,), float(bias), dtype=dtype)
    if cell == "rnn":
        return Network(cell, activation, w_hh, w_ih, b)
    module_type = torch.nn.LSTMCell if cell == "lstm" else torch.nn.GRUCell
    module = module_type(input_size, hidden, dtype=dtype)
    with torch.no_grad():
        module.weight_hh.copy_(w_hh)
        module.weight_ih.copy_(w_ih)
        module.bias_ih.copy_(b)
        module.bias_hh.zero_()
    return Network(cell, "sigmoid/tanh gates", module.weight_hh, module.weight_ih, b, module)
