"""The vanilla RNN, h_t = f(W h_{t−1} + U x_t + b), and its one-pass probe.

Forward: torch.nn.RNN's fused kernel (tanh, ReLU) or a tight loop (sigmoid, linear), without autograd.
Backward: back-propagation through time written out for the hidden states, g_{t−1} = (g_t ⊙ f'(a_t)) W
(+ v), which is what autograd does for them but without the weight gradients inside the loop; those come
afterwards from one batched product each.
"""
from __future__ import annotations

import torch

from .. import meanfield
from ..deadline import within_deadline
from ..lyapunov import qr_exponents
from .base import (
    GAMMA,
    CellSpec,
    Network,
    Theory,
    Trace,
    UnrollCost,
    denormals_as_zero,
    derivative_from_output,
    recurrent_matrix,
)
from .layers import FusedLayer


def build(cfg, input_size: int, generator: torch.Generator, dtype: torch.dtype) -> Network:
    """W drawn by `init` × s, U ~ N(0, 1/D), b constant."""
    w_hh = recurrent_matrix(cfg.init, cfg.weight_scale, cfg.hidden, generator, dtype)
    w_ih = (torch.randn(cfg.hidden, input_size, generator=generator, dtype=torch.float64) / input_size**0.5).to(dtype)
    b = torch.full((cfg.hidden,), float(cfg.bias), dtype=dtype)
    return Network("rnn", cfg.activation, {"w_hh": w_hh, "w_ih": w_ih, "b": b}, w_hh)


def forward(net: Network, x: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """All states h_1..h_T, without autograd."""
    p = net.params
    with torch.no_grad():
        if net.activation in ("tanh", "relu"):
            rnn = torch.nn.RNN(x.shape[-1], p["w_hh"].shape[0], nonlinearity=net.activation, dtype=x.dtype)
            fused = dict(rnn.named_parameters())
            fused["weight_hh_l0"].copy_(p["w_hh"])
            fused["weight_ih_l0"].copy_(p["w_ih"])
            fused["bias_ih_l0"].copy_(p["b"])
            fused["bias_hh_l0"].zero_()
            return rnn(x, h0.unsqueeze(0))[0]
        f = {"sigmoid": torch.sigmoid_, "linear": lambda a: a}[net.activation]
        pre = torch.addmm(p["b"], x.reshape(-1, x.shape[-1]), p["w_ih"].T).view(*x.shape[:2], -1)
        w_t = p["w_hh"].T
        h = h0
        for t in within_deadline(range(x.shape[0])):
            h = f(torch.addmm(pre[t], h, w_t, out=pre[t]))
        return pre


def backward(net: Network, h: torch.Tensor, x: torch.Tensor, h0: torch.Tensor, v: torch.Tensor,
             loss_on: str) -> Trace:
    """Back-propagation through time for the hidden states, then the weight gradients in one go."""
    with torch.no_grad():
        deriv = derivative_from_output(net.activation, h)          # f'(a_t), (T, B, H)
        g = torch.empty_like(h)
        delta = deriv  # reused in place: delta_t = g_t ⊙ f'(a_t)
        g[-1] = v
        w = net.params["w_hh"]
        for t in within_deadline(range(h.shape[0] - 1, 0, -1)):
            torch.mul(g[t], deriv[t], out=delta[t])
            torch.mm(delta[t], w, out=g[t - 1])
            if loss_on == "all":
                g[t - 1] += v
        saturation = derivative_from_output(net.activation, h[:, 0, :]).abs()
        saturation[~torch.isfinite(h[:, 0, :])] = float("nan")     # no derivative at a blown-up state
        torch.mul(g[0], deriv[0], out=delta[0])
        hid = h.shape[-1]
        flat_delta = delta.reshape(-1, hid)
        with denormals_as_zero():          # the far steps' δ (subnormal in float32) add nothing visible
            grad_w_hh = torch.addmm(delta[0].T @ h0, delta[1:].reshape(-1, hid).T, h[:-1].reshape(-1, hid))
            grad_w_ih = flat_delta.T @ x.reshape(-1, x.shape[-1])
        grad_b = flat_delta.sum(0)
    return Trace(h, g, None, saturation, [grad_w_hh, grad_w_ih, grad_b])


def probe(net: Network, x: torch.Tensor, h0: torch.Tensor, v: torch.Tensor, loss_on: str) -> Trace:
    return backward(net, forward(net, x, h0), x, h0, v, loss_on)


def lyapunov(net: Network, trace: Trace, x: torch.Tensor, h0: torch.Tensor):
    """J_t = diag(f′(a_t)) W along the first sequence's trajectory."""
    w = net.params["w_hh"].to(torch.float64).numpy()
    deriv = derivative_from_output(net.activation, trace.h[:, 0].to(torch.float64)).numpy()[:, :, None]
    return qr_exponents(lambda t, q: deriv[t] * (w @ q), trace.h.shape[0], w.shape[0])


def theory(cfg, net: Network, trace: Trace) -> Theory:
    """Mean-field theory: each step multiplies ‖∂L/∂h‖ by √χ (core/meanfield.py)."""
    if cfg.init not in meanfield.APPLIES_TO_INITS:
        return Theory(None, "mean-field", f"Mean-field theory needs a random W (gaussian, orthogonal or Xavier); "
                      f"{cfg.init} × s is not random, so no line is drawn for it.", mean_field=True)
    dead = meanfield.degenerate(cfg.activation, cfg.input_scale, cfg.bias, cfg.h0_scale)
    if dead:
        return Theory(None, "mean-field", f"No mean-field line: {dead}", mean_field=True)
    rate = meanfield.rate(cfg.activation, cfg.weight_scale, cfg.input_scale, cfg.bias, cfg.h0_scale)
    trust = meanfield.measured_accuracy(cfg.activation, cfg.bias, cfg.input_scale, cfg.hidden)
    caveat = " It is exact as H → ∞." + (f" {trust}" if trust else "")
    return Theory(rate, f"mean-field (√χ)^k, √χ = {rate:.3g}",
                  f"Mean-field theory (Poole et al. 2016; Chen, Pennington & Schoenholz 2018): for a random W each "
                  f"step multiplies the gradient norm by √χ = √(s²·E[f′(a)²]) = {rate:.3g}, at the pre-activation "
                  f"variance the network settles to." + caveat, mean_field=True)


SPEC = CellSpec(
    stacks=True,
    train_uses=("activation", "init", "weight_scale"),
    train_layer=lambda i, h, cfg, g: FusedLayer(torch.nn.RNN, torch.nn.RNNCell, i, h, cfg, g,
                                                nonlinearity=cfg.activation),
    name="rnn", label="Vanilla RNN", short="RNN",
    help="h_t = f(W h_{t−1} + U x_t + b): one matrix and one nonlinearity per step.",
    build=build, probe=probe, carry_label="|f'(a_t)|", spectrum_label="W",
    cost=UnrollCost(flops_per_bh2=10, overhead_s=15e-6, tensors_per_step=8, elementwise_s=35e-9),
    uses_activation=True, gamma=GAMMA.get, lyapunov=lyapunov, theory=theory, train_gates=1, train_tensors_per_step=8,
    train_step_overhead_s=120e-6,
    uses=("activation", "init", "weight_scale", "bias"))
