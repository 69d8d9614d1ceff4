"""The LSTM (torch.nn.LSTM's gate order i, f, g, o) and its one-pass probe through the fused kernel.

The probe feeds the fused kernel an input of width H + D, [0 ; x_t], with input weights [W_hh | W_ih]. The
forward pass is unchanged (the zero block adds nothing), but the gradient the kernel's backward pass
returns for that zero block is W_hhᵀ δgates_t, which is exactly ∂L/∂h_{t−1} through the gates of step t.
Adding the loss's direct term gives the total derivative ∂L/∂h_t for every t from one forward and one
backward pass of the fused kernel. The cell state's total derivative then follows from an elementwise
recursion, ∂L/∂c_t = g_t ⊙ o_t ⊙ (1 − tanh² c_t) + f_{t+1} ⊙ ∂L/∂c_{t+1}, with tanh c_t = h_t / o_t.
Long sequences run in chunks (gradient checkpointing): a first pass without autograd keeps the states
where each chunk starts, then each chunk is run again with autograd, last chunk first, so memory stays
bounded whatever T is.
"""
from __future__ import annotations

import numpy as np
import torch

from ..lyapunov import qr_exponents
from .base import CellSpec, Network, Trace, UnrollCost, gated_weights, linear_scan
from .layers import FusedLayer

GATES = 4
CHUNK_BYTES = 320 * 2**20           # activations of one chunk of the backward pass
CHUNK_TENSORS = 16                  # batch × hidden tensors per step of a chunk (kernel, input, gates)


def build(cfg, input_size: int, generator: torch.Generator, dtype: torch.dtype) -> Network:
    params = gated_weights(GATES, cfg, input_size, generator, dtype)
    h = cfg.hidden
    return Network("lstm", "sigmoid/tanh gates", params, params["weight_hh"][2 * h:3 * h])   # the candidate g


def _kernel(params: dict, hidden: int, input_size: int, dtype: torch.dtype) -> torch.nn.LSTM:
    kernel = torch.nn.LSTM(hidden + input_size, hidden, dtype=dtype)
    with torch.no_grad():
        kernel.weight_ih_l0.copy_(torch.cat([params["weight_hh"], params["weight_ih"]], dim=1))
        kernel.weight_hh_l0.copy_(params["weight_hh"])
        kernel.bias_ih_l0.copy_(params["bias_ih"])
        kernel.bias_hh_l0.copy_(params["bias_hh"])
    return kernel


def _bumped(x: torch.Tensor, hidden: int) -> torch.Tensor:
    return torch.cat([x.new_zeros(*x.shape[:2], hidden), x], dim=-1)


def probe(net: Network, x: torch.Tensor, h0: torch.Tensor, v: torch.Tensor, loss_on: str) -> Trace:
    T, B, D = x.shape
    H = h0.shape[-1]
    p = net.params
    kernel = _kernel(p, H, D, x.dtype)
    steps = max(1, min(T, CHUNK_BYTES // (B * H * x.element_size() * CHUNK_TENSORS)))
    bounds = [(t0, min(T, t0 + steps)) for t0 in range(0, T, steps)]
    c0 = torch.zeros_like(h0)
    starts = [(h0.unsqueeze(0), c0.unsqueeze(0))]
    h = torch.empty(T, B, H, dtype=x.dtype)
    if len(bounds) > 1:                      # checkpoints: the state where each chunk starts
        with torch.no_grad():
            state = starts[0]
            for t0, t1 in bounds[:-1]:
                h[t0:t1], state = kernel(_bumped(x[t0:t1], H), state)
                starts.append(state)
    g = torch.empty(T, B, H, dtype=x.dtype)
    gc = torch.empty(T, B, H, dtype=x.dtype)
    saturation = torch.empty(T, H, dtype=x.dtype)
    dh_next = torch.zeros(B, H, dtype=x.dtype)     # ∂L/∂h at the chunk's last step, through later gates
    dc_next = torch.zeros(B, H, dtype=x.dtype)     # ∂L/∂c at the chunk's last step, through later steps
    # only the forget and output gates are needed afterwards: their rows of [W_ih | W_hh], transposed
    rows = torch.cat([torch.arange(H, 2 * H), torch.arange(3 * H, 4 * H)])
    w_fo = torch.cat([p["weight_ih"], p["weight_hh"]], dim=1)[rows].T
    b_fo = (p["bias_ih"] + p["bias_hh"])[rows]
    for (t0, t1), (hs, cs) in zip(reversed(bounds), reversed(starts)):
        hs, cs = hs.detach().requires_grad_(), cs.detach().requires_grad_()
        xb = _bumped(x[t0:t1], H).requires_grad_()
        out, (_, cn) = kernel(xb, (hs, cs))
        seed = torch.zeros_like(out)
        if loss_on == "all":
            seed += v
        elif t1 == T:
            seed[-1] += v
        seed[-1] += dh_next
        torch.autograd.backward([out, cn], [seed, dc_next.unsqueeze(0)])
        with torch.no_grad():
            h[t0:t1] = out
            gs = g[t0:t1]
            gs.copy_(seed)
            gs[:-1] += xb.grad[1:, :, :H]                      # ∂L/∂h_t through the gates of step t + 1
            h_prev = torch.cat([hs, out[:-1]])
            fo = torch.addmm(b_fo, torch.cat([x[t0:t1], h_prev], dim=-1).reshape(-1, D + H), w_fo)
            fo = torch.sigmoid_(fo).view(t1 - t0, B, 2 * H)
            f, o = fo[..., :H], fo[..., H:]
            tanh_c = torch.where(o > 0, out / o, torch.zeros_like(o))
            gcs = gc[t0:t1]
            torch.mul(gs * o, 1 - tanh_c * tanh_c, out=gcs)       # the path through h_t = o_t tanh(c_t)
            gcs[-1] += dc_next
            linear_scan(gcs, torch.cat([f[1:], f[:1]]), reverse=True)   # through c_{t+1} = f_{t+1} c_t + i g
            saturation[t0:t1] = f[:, 0, :]
            dh_next, dc_next = hs.grad[0], cs.grad[0]
    grads = [kernel.weight_ih_l0.grad[:, H:], kernel.weight_hh_l0.grad, kernel.bias_ih_l0.grad,
             kernel.bias_hh_l0.grad]
    return Trace(h, g, gc, saturation, grads)


def lyapunov(net: Network, trace: Trace, x: torch.Tensor, h0: torch.Tensor):
    """The Jacobian of the state (h_t, c_t) with respect to (h_{t−1}, c_{t−1}) along the first sequence."""
    p = {k: v.to(torch.float64) for k, v in net.params.items()}          # float64; to NumPy for the loop
    H = h0.shape[-1]
    h = trace.h[:, 0].to(torch.float64)
    h_prev = torch.cat([h0[0:1].to(torch.float64), h[:-1]])
    gates = x[:, 0].to(torch.float64) @ p["weight_ih"].T + h_prev @ p["weight_hh"].T + p["bias_ih"] + p["bias_hh"]
    i, f, o = (torch.sigmoid(gates[:, k * H:(k + 1) * H]) for k in (0, 1, 3))
    g = torch.tanh(gates[:, 2 * H:3 * H])
    c = linear_scan(i * g, f)                      # the cell state of one sequence: c_t = f_t c_{t−1} + i_t g_t
    c_before = torch.cat([torch.zeros(1, H, dtype=torch.float64), c[:-1]])
    tanh_c = torch.tanh(c)
    w = p["weight_hh"].numpy()
    # per-step coefficients, computed once for all steps (the step itself only indexes them)
    a_f, a_i, a_g = f * (1 - f) * c_before, i * (1 - i) * g, i * (1 - g * g)
    a_o, b_c = o * (1 - o) * tanh_c, o * (1 - tanh_c * tanh_c)
    a_f, a_i, a_g, a_o, b_c, f = (a.numpy()[:, :, None] for a in (a_f, a_i, a_g, a_o, b_c, f))

    def step(t, q):
        dh, dc = q[:H], q[H:]
        dz = w @ dh                                                   # (4H, m)
        dc_new = a_f[t] * dz[H:2 * H] + f[t] * dc + a_i[t] * dz[:H] + a_g[t] * dz[2 * H:3 * H]
        dh_new = a_o[t] * dz[3 * H:] + b_c[t] * dc_new
        return np.concatenate([dh_new, dc_new])
    return qr_exponents(step, len(h), 2 * H)


SPEC = CellSpec(
    train_layer=lambda i, h, cfg, g: FusedLayer(torch.nn.LSTM, torch.nn.LSTMCell, i, h, cfg, g),
    name="lstm", label="LSTM", short="LSTM",
    help="Long short-term memory: a cell state carried by a forget gate and an addition (Hochreiter & "
         "Schmidhuber 1997).",
    build=build, probe=probe, carry_label="forget gate f_t", spectrum_label="candidate block of W_hh",
    cost=UnrollCost(flops_per_bh2=72, overhead_s=40e-6, tensors_per_step=7, chunk_tensors=CHUNK_TENSORS,
                    chunk_bytes=CHUNK_BYTES),
    lyapunov=lyapunov, train_gates=GATES, train_tensors_per_step=16)
