"""The GRU (torch.nn.GRU's gate order r, z, n) and its one-pass probe, written out like the vanilla RNN's.

h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t−1}, n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t−1} + b_hn)).
Forward, without autograd: for small batch × hidden torch.nn.GRU (its loop runs in C++), then every gate of
every step from one batched product; for larger ones a stepped loop of a few in-place ops per step that keeps
the gates (no second product). Backward, for the hidden states only: g_{t−1} = z_t ⊙ g_t + (g_t ⊙ K_t) W_hh,
where K_t holds, per gate block, how the hidden-side pre-activation moves h_t (precomputed for all t at
once), in a NumPy loop (a third of torch's per-call cost at these sizes); the weight gradients afterwards
from one batched product each.
"""
from __future__ import annotations

import numpy as np
import torch

from ..deadline import within_deadline
from ..lyapunov import qr_exponents
from .base import CellSpec, Network, Trace, UnrollCost, denormals_as_zero, gated_weights
from .layers import FusedLayer

GATES = 3
STEPPED_FORWARD = 2048              # batch × hidden from which the stepped forward beats nn.GRU + recompute


def build(cfg, input_size: int, generator: torch.Generator, dtype: torch.dtype) -> Network:
    params = gated_weights(GATES, cfg, input_size, generator, dtype)
    h = cfg.hidden
    return Network("gru", "sigmoid/tanh gates", params, params["weight_hh"][2 * h:3 * h])   # the candidate n


def _stepped_forward(p, x, h0):
    """States, the input- and hidden-side pre-activations, and r, z (activated), n, step by step."""
    T, B, D = x.shape
    H = h0.shape[-1]
    gi = torch.addmm(p["bias_ih"], x.reshape(-1, D), p["weight_ih"].T).view(T, B, GATES * H)
    gh = torch.empty(T, B, GATES * H, dtype=x.dtype)
    rz = torch.empty(T, B, 2 * H, dtype=x.dtype)
    n = torch.empty(T, B, H, dtype=x.dtype)
    h = torch.empty(T, B, H, dtype=x.dtype)
    w_t, b_hh = p["weight_hh"].T, p["bias_hh"]
    h_prev = h0
    for t in within_deadline(range(T)):
        torch.addmm(b_hh, h_prev, w_t, out=gh[t])
        torch.add(gi[t, :, :2 * H], gh[t, :, :2 * H], out=rz[t])
        torch.sigmoid_(rz[t])
        torch.addcmul(gi[t, :, 2 * H:], rz[t, :, :H], gh[t, :, 2 * H:], out=n[t])
        torch.tanh_(n[t])
        torch.sub(h_prev, n[t], out=h[t])
        h[t].mul_(rz[t, :, H:]).add_(n[t])
        h_prev = h[t]
    return h, gh, rz[..., :H], rz[..., H:], n


def _fused_forward(p, x, h0):
    """The same from torch.nn.GRU's states and two batched products."""
    T, B, D = x.shape
    H = h0.shape[-1]
    h = torch._VF.gru(x, h0.unsqueeze(0), [p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"]],
                      True, 1, 0.0, False, False, False)[0]
    h_prev = torch.cat([h0.unsqueeze(0), h[:-1]])
    gi = torch.addmm(p["bias_ih"], x.reshape(-1, D), p["weight_ih"].T).view(T, B, GATES * H)
    gh = torch.addmm(p["bias_hh"], h_prev.reshape(-1, H), p["weight_hh"].T).view(T, B, GATES * H)
    r = torch.sigmoid(gi[..., :H] + gh[..., :H])
    z = torch.sigmoid(gi[..., H:2 * H] + gh[..., H:2 * H])
    n = torch.tanh(gi[..., 2 * H:] + r * gh[..., 2 * H:])
    return h, gh, r, z, n


def probe(net: Network, x: torch.Tensor, h0: torch.Tensor, v: torch.Tensor, loss_on: str) -> Trace:
    T, B, D = x.shape
    H = h0.shape[-1]
    p = net.params
    with torch.no_grad(), np.errstate(all="ignore"):
        h, gh, r, z, n = (_stepped_forward if B * H >= STEPPED_FORWARD else _fused_forward)(p, x, h0)
        h_prev = torch.cat([h0.unsqueeze(0), h[:-1]])
        dn = (1 - z) * (1 - n * n)                        # ∂h_t/∂(n pre-activation)
        coeff = torch.empty(T, B, GATES, H, dtype=x.dtype)  # ∂h_t/∂(hidden-side pre-activation), per gate
        torch.mul(dn * gh[..., 2 * H:], r * (1 - r), out=coeff[:, :, 0])
        torch.mul(h_prev - n, z * (1 - z), out=coeff[:, :, 1])
        torch.mul(dn, r, out=coeff[:, :, 2])
        del gh, r, n
        g = torch.empty(T, B, H, dtype=x.dtype)
        delta = torch.empty(T, B, GATES, H, dtype=x.dtype)     # δ of the hidden-side pre-activations
        z_n = z.contiguous().numpy()
        gn, cn, dn_, w, vn = g.numpy(), coeff.numpy(), delta.numpy(), p["weight_hh"].numpy(), v.numpy()
        dflat = dn_.reshape(T, B, GATES * H)
        carry = np.empty((B, H), dtype=gn.dtype)
        every_step = loss_on == "all"
        gn[-1] = vn
        for t in within_deadline(range(T - 1, -1, -1)):
            gt = gn[t]
            np.multiply(cn[t], gt[:, None, :], out=dn_[t])
            if t:
                np.dot(dflat[t], w, out=gn[t - 1])
                np.multiply(z_n[t], gt, out=carry)
                gn[t - 1] += carry
                if every_step:
                    gn[t - 1] += vn
        flat = delta.view(-1, GATES * H)
        with denormals_as_zero():          # the far steps' δ (subnormal in float32) add nothing visible
            grad_w_hh = flat.T @ h_prev.reshape(-1, H)
            grad_b_hh = flat.sum(0)
            delta[:, :, 2] = g * dn                       # the input side of n is not gated by r
            grad_w_ih = flat.T @ x.reshape(-1, D)
            grad_b_ih = flat.sum(0)
    return Trace(h, g, None, z[:, 0, :].clone(), [grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh])


def lyapunov(net: Network, trace: Trace, x: torch.Tensor, h0: torch.Tensor):
    """∂h_t/∂h_{t−1} along the first sequence's trajectory."""
    p = {k: v.to(torch.float64) for k, v in net.params.items()}          # float64; to NumPy for the loop
    H = h0.shape[-1]
    h = trace.h[:, 0].to(torch.float64)
    h_prev = torch.cat([h0[0:1].to(torch.float64), h[:-1]])
    gi = x[:, 0].to(torch.float64) @ p["weight_ih"].T + p["bias_ih"]
    gh = h_prev @ p["weight_hh"].T + p["bias_hh"]
    r = torch.sigmoid(gi[:, :H] + gh[:, :H])
    z = torch.sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
    n = torch.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
    w = p["weight_hh"].numpy()
    # per-step coefficients, computed once for all steps (the step itself only indexes them)
    a_r, a_z, a_n, r_n, z_n, d = (a.numpy()[:, :, None] for a in (
        r * (1 - r) * gh[:, 2 * H:], z * (1 - z), 1 - n * n, r, z, h_prev - n))

    def step(t, q):
        dz_all = w @ q                                                # (3H, m)
        dn = a_n[t] * (r_n[t] * dz_all[2 * H:] + a_r[t] * dz_all[:H])
        return (1 - z_n[t]) * dn + d[t] * (a_z[t] * dz_all[H:2 * H]) + z_n[t] * q
    return qr_exponents(step, len(h), H)


SPEC = CellSpec(
    stacks=True,
    train_layer=lambda i, h, cfg, g: FusedLayer(torch.nn.GRU, torch.nn.GRUCell, i, h, cfg, g),
    name="gru", label="GRU", short="GRU",
    help="Gated recurrent unit: the update gate z mixes the old state and a candidate (Cho et al. 2014).",
    build=build, probe=probe, carry_label="update gate z_t", spectrum_label="candidate block of W_hh",
    cost=UnrollCost(flops_per_bh2=36, overhead_s=30e-6, tensors_per_step=19, elementwise_s=90e-9),
    lyapunov=lyapunov, train_gates=GATES, train_tensors_per_step=12, train_step_overhead_s=380e-6)
