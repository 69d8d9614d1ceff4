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

import torch

from .base import CellSpec, Network, Trace, UnrollCost, gated_weights

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


def carry_back(a: torch.Tensor, f: torch.Tensor) -> None:
    """In place, a_t += f_{t+1} ⊙ a_{t+1} from the last step back: the elementwise linear recursion of the
    cell state's gradient. Small states take log2(T) vectorised doubling passes (the Python loop's per-step
    cost would dominate); larger ones the plain loop, which does less arithmetic."""
    steps = a.shape[0]
    if a[0].numel() <= 1024:
        carry = torch.cat([f[1:], torch.zeros_like(f[:1])])       # carry[t]: what multiplies a[t + d]
        d = 1
        while d < steps:
            a[:-d] = torch.addcmul(a[:-d], carry[:-d], a[d:])
            carry[:-d] = carry[:-d] * carry[d:]
            d *= 2
        return
    a_steps, f_steps = a.unbind(0), f.unbind(0)
    for t in range(steps - 2, -1, -1):
        a_steps[t].addcmul_(f_steps[t + 1], a_steps[t + 1])


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
            carry_back(gcs, f)                                     # the path through c_{t+1} = f c_t + i g
            saturation[t0:t1] = f[:, 0, :]
            dh_next, dc_next = hs.grad[0], cs.grad[0]
    grads = [kernel.weight_ih_l0.grad[:, H:], kernel.weight_hh_l0.grad, kernel.bias_ih_l0.grad,
             kernel.bias_hh_l0.grad]
    return Trace(h, g, gc, saturation, grads)


SPEC = CellSpec(
    name="lstm", label="LSTM",
    help="Long short-term memory: a cell state carried by a forget gate and an addition (Hochreiter & "
         "Schmidhuber 1997).",
    build=build, probe=probe, carry_label="forget gate f_t", spectrum_label="candidate block of W_hh",
    cost=UnrollCost(flops_per_bh2=72, overhead_s=40e-6, tensors_per_step=7, chunk_tensors=CHUNK_TENSORS,
                    chunk_bytes=CHUNK_BYTES),
    train_gates=GATES, train_tensors_per_step=16)
