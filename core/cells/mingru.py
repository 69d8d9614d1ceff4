"""minGRU (Feng et al. 2024, "Were RNNs all we needed?", arXiv 2410.01201): the GRU with its gates cut loose from
the state, z_t = σ(W_z x_t + b_z), h̃_t = W_h x_t + b_h, h_t = (1 − z_t) ⊙ h_{t−1} + z_t ⊙ h̃_t.

The gates depend on the input only, so the Jacobian ∂h_t/∂h_{t−1} = diag(1 − z_t) has entries in (0, 1): the
gradient cannot explode, and it vanishes exactly as fast as the gates open. Weights: W_z, W_h ~ N(0, 1/D), b_z the
config's bias (it sets how open the gates start), b_h = 0. Everything is elementwise, so the probe is vectorised:
states and ∂L/∂h_t by linear scans, parameter gradients from batched products.
"""
from __future__ import annotations

import torch

from ..lyapunov import diagonal_exponents
from .base import CellSpec, Network, Theory, Trace, UnrollCost, linear_scan
from .layers import MinGRULayer


def build(cfg, input_size: int, generator: torch.Generator, dtype: torch.dtype) -> Network:
    h = cfg.hidden
    w_z = torch.randn(h, input_size, generator=generator, dtype=torch.float64) / input_size ** 0.5
    w_h = torch.randn(h, input_size, generator=generator, dtype=torch.float64) / input_size ** 0.5
    params = {"w_z": w_z.to(dtype), "b_z": torch.full((h,), float(cfg.bias), dtype=dtype),
              "w_h": w_h.to(dtype), "b_h": torch.zeros(h, dtype=dtype)}
    return Network("mingru", "gate σ, candidate linear", params, None)


def gates(params: dict, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """z_t and h̃_t for every step and sequence, (T, B, H) each."""
    z = torch.sigmoid(torch.einsum("tbd,hd->tbh", x, params["w_z"]) + params["b_z"])
    candidate = torch.einsum("tbd,hd->tbh", x, params["w_h"]) + params["b_h"]
    return z, candidate


def probe(net: Network, x: torch.Tensor, h0: torch.Tensor, v: torch.Tensor, loss_on: str) -> Trace:
    with torch.no_grad():
        z, candidate = gates(net.params, x)
        keep = 1 - z
        h = z * candidate
        h[0] += keep[0] * h0
        linear_scan(h, keep, reverse=False)                          # h_t = (1 − z_t) h_{t−1} + z_t h̃_t
        seed = torch.zeros_like(h)
        if loss_on == "all":
            seed += v
        else:
            seed[-1] += v
        g = linear_scan(seed, torch.cat([keep[1:], keep[:1]]), reverse=True)    # g_t += (1 − z_{t+1}) g_{t+1}
        prev = torch.cat([h0.unsqueeze(0), h[:-1]])
        d_z = g * (candidate - prev) * z * keep                       # ∂L/∂(W_z x + b_z)
        d_candidate = g * z                                           # ∂L/∂h̃
        flat_x = x.reshape(-1, x.shape[-1])
        grads = [d_z.reshape(-1, d_z.shape[-1]).T @ flat_x, d_z.sum(dim=(0, 1)),
                 d_candidate.reshape(-1, d_z.shape[-1]).T @ flat_x, d_candidate.sum(dim=(0, 1))]
    return Trace(h, g, None, keep[:, 0].clone(), grads)


def lyapunov(net: Network, trace: Trace, x: torch.Tensor, h0: torch.Tensor):
    """diag(1 − z_t): the exponents are the time averages of ln(1 − z_t) (the first sequence's, as for every cell)."""
    return diagonal_exponents(torch.log(trace.saturation.to(torch.float64)))


def theory(cfg, net: Network, trace: Trace) -> Theory:
    """Each unit keeps 1 − z of the gradient per step: the typical factor is exp(mean of ln(1 − z_t))."""
    keep = trace.saturation.to(torch.float64)                          # 1 − z_t of the first sequence
    rate = float(torch.exp(torch.log(keep).mean()))
    return Theory(rate, f"exp(mean ln(1 − z))^k = {rate:.3g}^k",
                  "minGRU's Jacobian is diag(1 − z_t): no matrix mixes the units, so each keeps 1 − z_t of its "
                  f"gradient per step and none can grow. On average a unit keeps exp(mean ln(1 − z)) = {rate:.3g} "
                  "per step; the measured curve, a norm over units, falls more slowly because the most open units "
                  "dominate it at long distances.")


SPEC = CellSpec(
    train_uses=("bias",),
    train_layer=MinGRULayer,
    name="mingru", label="minGRU", short="minGRU",
    help="Feng et al. 2024: a GRU whose gate reads the input only, so its Jacobian is diagonal and between 0 and 1.",
    build=build, probe=probe, carry_label="keep 1 − z_t", spectrum_label="(none: no recurrent matrix)",
    cost=UnrollCost(flops_per_bh2=8, overhead_s=5e-6, tensors_per_step=10, batch_floor=0.1,
                    elementwise_s=45e-9),
    lyapunov=lyapunov, theory=theory, train_gates=1, train_step_overhead_s=75e-6, train_batch_floor=0.0,
    train_tensors_per_step=14, uses=("bias",))
