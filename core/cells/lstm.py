"""The LSTM (torch.nn.LSTM's gate order i, f, g, o) and its one-pass probe, back-propagation written out.

Forward, without autograd: for small batch × hidden the fused kernel (one call, every h_t); for larger ones a
stepped loop of a few in-place ops per step (one batched input projection, then per step one product with
W_hh) that keeps every gate and cell state, so the backward pass needs no second product. Where the fused
kernel ran, the gates are recomputed from the h_t it returned in one batched product, and the cell states by
an elementwise scan. Backward, for the states only: with a_t = o_t ⊙ (1 − tanh² c_t),

    ∂L/∂c_t = a_t ⊙ ∂L/∂h_t + f_{t+1} ⊙ ∂L/∂c_{t+1},   δ_t = ∂L/∂(gate pre-activations of step t),
    ∂L/∂h_{t−1} = direct term + δ_t W_hh,

a loop of five small NumPy operations and one matrix-vector product per step (NumPy's per-call cost is a
third of torch's at these sizes); the weight gradients afterwards from one batched product each. Long
sequences run in chunks, last first (states checkpointed where each chunk starts), so memory stays bounded
whatever T is.
"""
from __future__ import annotations

import numpy as np
import torch

from ..deadline import within_deadline
from ..lyapunov import qr_exponents
from .base import CellSpec, Network, Trace, UnrollCost, denormals_as_zero, gated_weights, linear_scan
from .layers import FusedLayer

GATES = 4
CHUNK_BYTES = 128 * 2**20           # activations of one chunk of the backward pass
CHUNK_TENSORS = 16                  # batch × hidden tensors per step of a chunk (gates, coefficients, δ, input)
STEPPED_FORWARD = 2048              # batch × hidden from which the stepped forward beats fused + recompute
SIGMOID_FIRST = [0, 1, 3, 2]        # gate blocks reordered i, f, o, g: one sigmoid and one tanh per step


def build(cfg, input_size: int, generator: torch.Generator, dtype: torch.dtype) -> Network:
    params = gated_weights(GATES, cfg, input_size, generator, dtype)
    h = cfg.hidden
    return Network("lstm", "sigmoid/tanh gates", params, params["weight_hh"][2 * h:3 * h])   # the candidate g


def _blocks(t: torch.Tensor, hidden: int) -> torch.Tensor:
    """Rows of a (4H, …) weight or (4H,) bias in the order i, f, o, g."""
    return t.view(GATES, hidden, *t.shape[1:])[SIGMOID_FIRST].reshape(t.shape)


def _stepped_forward(x, hs, cs, w_ih, w_hh, bias, h_out):
    """Gates (activated, order i f o g) and cell states of one chunk; writes h into h_out."""
    n, B, D = x.shape
    H = hs.shape[-1]
    gates = torch.addmm(bias, x.reshape(-1, D), w_ih.T).view(n, B, GATES * H)
    c = torch.empty(n, B, H, dtype=x.dtype)
    tanh_c = torch.empty(n, B, H, dtype=x.dtype)
    w_t = w_hh.T
    h_prev, c_prev = hs, cs
    for t in within_deadline(range(n)):
        gt = gates[t]
        gt.addmm_(h_prev, w_t)
        torch.sigmoid_(gt[:, :3 * H])
        torch.tanh_(gt[:, 3 * H:])
        torch.mul(gt[:, H:2 * H], c_prev, out=c[t])
        c[t].addcmul_(gt[:, :H], gt[:, 3 * H:])
        torch.tanh(c[t], out=tanh_c[t])
        torch.mul(gt[:, 2 * H:3 * H], tanh_c[t], out=h_out[t])
        h_prev, c_prev = h_out[t], c[t]
    return gates.view(n, B, GATES, H), c, tanh_c


def _recompute(x, h_prev, cs, w_ih, w_hh, bias):
    """The same from the states the fused kernel returned: one batched product and a scan."""
    n, B, D = x.shape
    H = cs.shape[-1]
    gates = torch.addmm(bias, torch.cat([x, h_prev], dim=-1).view(-1, D + H),
                        torch.cat([w_ih, w_hh], dim=1).T).view(n, B, GATES, H)
    torch.sigmoid_(gates[:, :, :3])
    torch.tanh_(gates[:, :, 3])
    c = gates[:, :, 0] * gates[:, :, 3]
    c[0].addcmul_(gates[0, :, 1], cs)
    linear_scan(c, gates[:, :, 1])                                   # c_t = f_t c_{t−1} + i_t g_t
    return gates, c, torch.tanh(c)


def probe(net: Network, x: torch.Tensor, h0: torch.Tensor, v: torch.Tensor, loss_on: str) -> Trace:
    T, B, D = x.shape
    H = h0.shape[-1]
    p = net.params
    w_ih, w_hh, bias = _blocks(p["weight_ih"], H), _blocks(p["weight_hh"], H), _blocks(p["bias_ih"] + p["bias_hh"], H)
    steps = max(1, min(T, CHUNK_BYTES // (B * H * x.element_size() * CHUNK_TENSORS)))
    bounds = [(t0, min(T, t0 + steps)) for t0 in range(0, T, steps)]
    h = torch.empty(T, B, H, dtype=x.dtype)
    starts, kept = _forward(x, h0, p, (w_ih, w_hh, bias), bounds, h)
    g = torch.empty(T, B, H, dtype=x.dtype)
    gc = torch.empty(T, B, H, dtype=x.dtype)
    saturation = torch.empty(T, H, dtype=x.dtype)
    grad_w = torch.zeros(GATES * H, D + H, dtype=x.dtype)             # torch's gate order, [W_ih | W_hh]
    grad_b = torch.zeros(GATES * H, dtype=x.dtype)
    back = _Backward(g.numpy(), gc.numpy(), v.numpy(), p["weight_hh"].numpy(), loss_on == "all")
    back.g[T - 1] = 0
    with torch.no_grad(), np.errstate(all="ignore"):
        for (t0, t1), (hs, cs) in zip(reversed(bounds), reversed(starts)):
            h_prev = torch.cat([hs.unsqueeze(0), h[t0:t1 - 1]])
            if kept is not None and t1 == T:
                gates, c, tanh_c = kept
            else:
                gates, c, tanh_c = _recompute(x[t0:t1], h_prev, cs, w_ih, w_hh, bias)
            kept = None
            f, a, coef = _coefficients(gates, c, tanh_c, cs)
            saturation[t0:t1] = f[:, 0]
            del gates, c, tanh_c
            flat = back.chunk(t0, f, a, coef).view(-1, GATES * H)
            with denormals_as_zero():          # the far steps' δ (subnormal in float32) add nothing visible
                grad_w[:, :D].addmm_(flat.T, x[t0:t1].reshape(-1, D))
                grad_w[:, D:].addmm_(flat.T, h_prev.reshape(-1, H))
            grad_b += flat.sum(0)
    return Trace(h, g, gc, saturation, [grad_w[:, :D], grad_w[:, D:], grad_b, grad_b.clone()])


def _forward(x, h0, p, blocks, bounds, h) -> tuple[list, tuple | None]:
    """The states of every step into h, chunk by chunk, without autograd. Returns (h, c) where each chunk starts
    and, when the last chunk was stepped by hand, its (gates, c, tanh c) for the backward pass (else None)."""
    T = x.shape[0]
    w_ih, w_hh, bias = blocks                      # the gate blocks of _blocks()
    stepped = x.shape[1] * h0.shape[-1] >= STEPPED_FORWARD
    starts, kept = [], None
    with torch.no_grad():
        hs, cs = h0, torch.zeros_like(h0)
        weights = [p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"]]
        for t0, t1 in bounds:
            starts.append((hs, cs))
            if stepped and t1 == T:                # only the last chunk's gates are used before a recompute
                kept = _stepped_forward(x[t0:t1], hs, cs, w_ih, w_hh, bias, h[t0:t1])
                hs, cs = h[t1 - 1], kept[1][-1]
            else:
                out, hn, cn = torch._VF.lstm(x[t0:t1], (hs.unsqueeze(0), cs.unsqueeze(0)), weights,
                                             True, 1, 0.0, False, False, False)
                h[t0:t1] = out
                hs, cs = hn[0], cn[0]
    return starts, kept


def _coefficients(gates, c, tanh_c, cs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A chunk's per-step factors of the backward pass: (f, ∂h_t/∂c_t, the four gates' derivatives (n, B, 4, H))."""
    n, B, _, H = gates.shape
    i, f, o, gg = gates.unbind(2)
    c_prev = torch.cat([cs.unsqueeze(0), c[:-1]])
    a = o * (1 - tanh_c * tanh_c)                                # ∂h_t/∂c_t
    coef = torch.empty(n, B, GATES, H, dtype=gates.dtype)       # torch's order i, f, g, o
    torch.mul(gg * i, 1 - i, out=coef[:, :, 0])                  # ∂c_t/∂(pre-activation of i)
    torch.mul(c_prev * f, 1 - f, out=coef[:, :, 1])              # … of f
    torch.mul(i, 1 - gg * gg, out=coef[:, :, 2])                 # … of g
    torch.mul(tanh_c * o, 1 - o, out=coef[:, :, 3])              # ∂h_t/∂(pre-activation of o)
    return f, a, coef


class _Backward:
    """∂L/∂h_t and ∂L/∂c_t written into g and gc (NumPy views), chunk by chunk from the last step back; `e` hands
    f_{t+1} ⊙ ∂L/∂c_{t+1} to the chunk before."""

    def __init__(self, g: np.ndarray, gc: np.ndarray, v: np.ndarray, w_hh: np.ndarray, every_step: bool):
        self.g, self.gc, self.v, self.w_hh, self.every_step = g, gc, v, w_hh, every_step
        self.e = np.zeros(g.shape[1:], dtype=g.dtype)
        self.spare = np.empty(g.shape[1:], dtype=g.dtype)       # ∂L/∂h_{−1}, not needed

    def chunk(self, t0: int, f: torch.Tensor, a: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
        """The steps t0.. of one chunk, last to first; returns their gates' pre-activation gradients δ (n, B, 4, H)."""
        n, B, _, H = coef.shape
        T = len(self.g)
        gn, gcn, vn, e, w_back = self.g, self.gc, self.v, self.e, self.w_hh
        f_n, a_n = f.contiguous().numpy(), a.numpy()
        k_n, o_n = coef[:, :, :3].numpy(), coef[:, :, 3].numpy()
        delta = torch.empty(n, B, GATES, H, dtype=coef.dtype)
        d_n = delta.numpy()
        d3, dflat = d_n[:, :, :3], d_n.reshape(n, B, GATES * H)
        for s in within_deadline(range(n - 1, -1, -1)):             # s: step t0 + s
            t = t0 + s
            gt, gct = gn[t], gcn[t]                                  # gt holds the path through step t + 1
            if self.every_step or t == T - 1:
                gt += vn
            np.multiply(gt, a_n[s], out=gct)
            gct += e
            np.multiply(k_n[s], gct[:, None, :], out=d3[s])
            np.multiply(o_n[s], gt, out=d_n[s, :, 3])
            np.multiply(f_n[s], gct, out=e)
            np.dot(dflat[s], w_back, out=gn[t - 1] if t else self.spare)
        return delta


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
    a_f, a_i, a_g, a_o, b_c, f_n = (a.numpy()[:, :, None] for a in (
        f * (1 - f) * c_before, i * (1 - i) * g, i * (1 - g * g), o * (1 - o) * tanh_c, o * (1 - tanh_c * tanh_c), f))

    def step(t, q):
        dh, dc = q[:H], q[H:]
        dz = w @ dh                                                   # (4H, m)
        dc_new = a_f[t] * dz[H:2 * H] + f_n[t] * dc + a_i[t] * dz[:H] + a_g[t] * dz[2 * H:3 * H]
        dh_new = a_o[t] * dz[3 * H:] + b_c[t] * dc_new
        return np.concatenate([dh_new, dc_new])
    return qr_exponents(step, len(h), 2 * H)


def train_layer(input_size: int, hidden: int, cfg, generator: torch.Generator) -> FusedLayer:
    """torch.nn.LSTM for the Training lab; a non-zero cfg.forget_bias sets every layer's forget-gate bias (bias_ih's
    rows H..2H, bias_hh's rows zeroed: torch adds the two), so the cell state is kept by σ(forget_bias) per step at
    first."""
    layer = FusedLayer(torch.nn.LSTM, torch.nn.LSTMCell, input_size, hidden, cfg, generator)
    if cfg.forget_bias:
        with torch.no_grad():
            for k in range(layer.layer.num_layers):
                getattr(layer.layer, f"bias_ih_l{k}")[hidden:2 * hidden] = cfg.forget_bias
                getattr(layer.layer, f"bias_hh_l{k}")[hidden:2 * hidden] = 0.0
    return layer


SPEC = CellSpec(
    stacks=True,
    train_layer=train_layer, train_uses=("init", "weight_scale", "forget_bias"),
    name="lstm", label="LSTM", short="LSTM",
    help="Long short-term memory: a cell state carried by a forget gate and an addition (Hochreiter & "
         "Schmidhuber 1997).",
    build=build, probe=probe, carry_label="forget gate f_t", spectrum_label="candidate block of W_hh",
    cost=UnrollCost(flops_per_bh2=48, overhead_s=40e-6, tensors_per_step=7, elementwise_s=135e-9,
                    chunk_tensors=CHUNK_TENSORS,
                    chunk_bytes=CHUNK_BYTES),
    lyapunov=lyapunov, train_gates=GATES, train_tensors_per_step=16, train_step_overhead_s=260e-6)
