"""A practitioner's own network: ‖∂L/∂h_t‖ for every layer, direction and step of a torch.nn.RNN, LSTM or GRU.

`inspect(module)` runs the module's weights (read detached, in the module's dtype) through torch's fused kernel
layer by layer and direction by direction, then back-propagates by hand (see "the hand-written backward pass"
below) the app's loss (a fixed unit readout of the top layer's output, both directions concatenated, on the last
step or on every step): each state h_t gets its total derivative, through the recurrence and through the next
layer's input, as autograd would sum it, and no weight's gradient is formed. The module is not changed: it is never
called, so no .grad appears and its training mode and its dropout stay as they are (the unroll has no dropout: it
shows the network at evaluation). The backward pass is summed in float64 whatever the module's dtype: a float32
module's far-step gradients would otherwise turn subnormal (slow) and then exactly 0; its matrix products stay in
float32, each row rescaled first (_dot_into), so the curve reaches as far down as float64's. core/watch.py runs the
same backward pass on a user's own loss, whose seeds may reach the final states too (backprop's final_seeds).

Besides the curves: the per-step factor and regime of each (core/theory.py's rule, against the distance T−1−t of
step t from the last step, in either direction: how much of the signal reaches the early steps), λ1 of its
recurrent matrix, the Lyapunov exponents of the forward dynamics of the whole stack (core/lyapunov.py), the gate
saturation of each layer, and a diagnosis in plain words, each sentence with the number it rests on.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from . import budget
from .cells import ACTIVATION_FN
from .cells.base import denormals_as_zero, derivative_from_output, linear_scan
from .cells.lstm import STEPPED_FORWARD
from .config import FieldSpec
from .deadline import within_deadline
from .errors import ConfigError
from .lyapunov import TOP, qr_exponents
from .norms import step_norms
from .theory import REGIME_FACTOR, REGIME_RULE, classify_regime, fit_rate

KINDS = {"RNN_TANH": "rnn", "RNN_RELU": "rnn", "LSTM": "lstm", "GRU": "gru"}
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
SATURATED = (0.05, 0.95)            # a gate below the first or above the second counts as saturated

INSPECT_FIELDS = {
    "seq_len": FieldSpec("int", "sequence length T of the drawn inputs", lo=1, hi=10000),
    "batch": FieldSpec("int", "sequences in the drawn batch", lo=1, hi=1024),
    "loss_on": FieldSpec("choice", "where the loss reads the top layer: the last step only, or every step",
                         choices=("last", "all")),
    "input_scale": FieldSpec("float", "standard deviation of the drawn gaussian inputs", lo=0.0, hi=100.0),
    "seed": FieldSpec("int", "seed of the readout and of the drawn inputs", lo=0, hi=2**31 - 1),
}


@dataclass(frozen=True)
class Architecture:
    """What a recurrent module is, read off its weights."""
    kind: str                   # rnn | lstm | gru
    num_layers: int
    input_size: int
    hidden_size: int
    proj_size: int              # 0: no projection (LSTM only)
    bidirectional: bool
    nonlinearity: str = "tanh"  # the vanilla RNN's f (tanh | relu); "sigmoid/tanh gates" for gated cells
    bias: bool = True
    batch_first: bool = False

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def output_size(self) -> int:
        """The size of h_t of one direction (the projection's, where there is one)."""
        return self.proj_size or self.hidden_size

    def layer_input_size(self, layer: int) -> int:
        return self.input_size if layer == 0 else self.output_size * self.directions

    def to_dict(self) -> dict:
        return {"kind": self.kind, "num_layers": self.num_layers, "input_size": self.input_size,
                "hidden_size": self.hidden_size, "proj_size": self.proj_size, "bidirectional": self.bidirectional,
                "nonlinearity": self.nonlinearity, "bias": self.bias, "batch_first": self.batch_first}


@dataclass
class LayerFlow:
    """The gradient of one layer and direction."""
    layer: int                            # 0 = the bottom layer
    direction: str                        # forward | reverse
    grad_norm: np.ndarray                 # (T,) mean over the batch of ‖∂L/∂h_t‖, t in time order
    cell_grad_norm: np.ndarray | None     # LSTM: the same for the cell state c_t
    rate: float | None                    # fitted per-step factor against the distance T−1−t from the last step
    regime: str                           # vanishing | stable | exploding (REGIME_RULE)
    lambda1: float                        # largest singular value of the recurrent matrix (see recurrent_block)

    @property
    def by_distance(self) -> np.ndarray:
        """grad_norm by distance k = T−1−t from the last step (what reaches the early steps, either direction)."""
        return self.grad_norm[::-1]

    def to_json_dict(self) -> dict:
        return {"layer": self.layer, "direction": self.direction, "grad_norm": _finite_list(self.grad_norm),
                "cell_grad_norm": None if self.cell_grad_norm is None else _finite_list(self.cell_grad_norm),
                "rate": _finite(self.rate), "regime": self.regime, "lambda1": _finite(self.lambda1)}


@dataclass(frozen=True)
class Saturation:
    """How saturated one layer and direction is, over every step and sequence."""
    layer: int
    direction: str
    quantity: str                 # what was counted: "forget gate f", "update gate z", "|f′(a)|"
    mean: float
    share_low: float              # share of values below SATURATED[0]
    share_high: float             # share of values above SATURATED[1]

    def to_json_dict(self) -> dict:
        return {"layer": self.layer, "direction": self.direction, "quantity": self.quantity, "mean": self.mean,
                "share_low": self.share_low, "share_high": self.share_high,
                "low": SATURATED[0], "high": SATURATED[1]}


@dataclass(frozen=True)
class Finding:
    """One sentence of the diagnosis and the number it rests on, shown beside it."""
    text: str
    value: float
    quantity: str                 # what `value` is, in words

    def to_json_dict(self) -> dict:
        return {"text": self.text, "value": _finite(self.value), "quantity": self.quantity}


@dataclass
class InspectResult:
    architecture: Architecture
    layers: list                          # LayerFlow, bottom layer first, forward before reverse
    lyapunov: np.ndarray                  # largest exponents of the forward dynamics of the stack, nats per step
    saturation: list                      # Saturation, in the order of `layers`
    diagnosis: list                       # Finding
    config: dict                          # seq_len, batch, loss_on, input_scale, seed, inputs, dtype, device
    regime_rule: str = field(default=REGIME_RULE)

    def layer(self, layer: int, direction: str = "forward") -> LayerFlow:
        return next(lf for lf in self.layers if lf.layer == layer and lf.direction == direction)

    def to_json_dict(self) -> dict:
        return {"architecture": self.architecture.to_dict(),
                "layers": [lf.to_json_dict() for lf in self.layers],
                "lyapunov": _finite_list(self.lyapunov),
                "saturation": [s.to_json_dict() for s in self.saturation],
                "diagnosis": [f.to_json_dict() for f in self.diagnosis],
                "regime_rule": self.regime_rule, "config": dict(self.config)}


def _finite(x):
    return None if x is None or not np.isfinite(x) else float(x)


def _finite_list(a) -> list:
    return [float(v) if np.isfinite(v) else None for v in np.asarray(a, dtype=float)]


# ---- the module ---------------------------------------------------------------------------------------------

def architecture_of(module) -> Architecture:
    """The Architecture of a torch.nn.RNN, LSTM or GRU; ConfigError for anything else."""
    mode = getattr(module, "mode", None)
    if not isinstance(module, torch.nn.RNNBase) or mode not in KINDS:
        raise ConfigError("module", "a torch.nn.RNN, torch.nn.LSTM or torch.nn.GRU", type(module).__name__)
    kind = KINDS[mode]
    return Architecture(kind=kind, num_layers=module.num_layers, input_size=module.input_size,
                        hidden_size=module.hidden_size, proj_size=getattr(module, "proj_size", 0) or 0,
                        bidirectional=module.bidirectional,
                        nonlinearity=("relu" if mode == "RNN_RELU" else "tanh" if kind == "rnn"
                                      else "sigmoid/tanh gates"),
                        bias=module.bias, batch_first=module.batch_first)


def _weights(module, arch: Architecture, layer: int, reverse: bool, dtype: torch.dtype, device=None) -> dict:
    """The detached weights of one layer and direction in `dtype` (biases as zeros when the module has none), on
    `device` (None: where they are)."""
    sfx = f"_l{layer}" + ("_reverse" if reverse else "")
    w = {name: getattr(module, name + sfx).detach().to(device=device, dtype=dtype)
         for name in ("weight_ih", "weight_hh")}
    rows = w["weight_hh"].shape[0]
    for name in ("bias_ih", "bias_hh"):
        w[name] = (getattr(module, name + sfx).detach().to(device=device, dtype=dtype) if arch.bias
                   else torch.zeros(rows, dtype=dtype, device=w["weight_hh"].device))
    w["weight_hr"] = (getattr(module, "weight_hr" + sfx).detach().to(device=device, dtype=dtype) if arch.proj_size
                      else None)
    return w


def recurrent_block(arch: Architecture, w: dict) -> torch.Tensor:
    """The matrix λ1 is read from: W_hh of the vanilla RNN, the candidate block (g of the LSTM, n of the GRU)
    otherwise, as on the Gradient flow page."""
    if arch.kind == "rnn":
        return w["weight_hh"]
    h = arch.hidden_size
    return w["weight_hh"][2 * h:3 * h]


def _lambda1(m: torch.Tensor) -> float:
    m64 = m.detach().to("cpu", torch.float64)
    if not torch.isfinite(m64).all():
        return float("nan")
    return float(torch.linalg.eigvalsh(m64.T @ m64)[-1].clamp_min(0)) ** 0.5   # as its SVD, in 2/3 of the time


def _norm_curve(g: torch.Tensor) -> np.ndarray:
    """Mean over the batch of the per-sequence norms (float64) of (T, B, n) gradients."""
    return step_norms(g).mean(dim=1).numpy()



# ---- the hand-written backward pass --------------------------------------------------------------------------
#
# The forward pass of each layer and direction is torch's own fused kernel (one call for every step); the gates
# are then recomputed from the states in one batched product (from STEPPED_FORWARD batch × hidden on, an LSTM steps
# its own forward loop and keeps them), and the backward pass is one reverse loop per layer and direction of a few
# NumPy operations and one matrix product per step (NumPy's per-call cost is a third of torch's at these sizes),
# every per-step coefficient computed beforehand for all steps at once, in the forward pass's dtype. A reverse
# direction runs on the time-reversed sequence. The gradient reaching a layer's input, Σ_t δ_t W_ih for every
# step in one product, is the direct term of the layer below: so ∂L/∂h_t of every layer is the total derivative
# through the recurrence and through every layer above, as autograd would sum it.

@dataclass
class Run:
    """One layer and direction after the backward pass, every array in time order."""
    layer: int
    direction: str                 # forward | reverse
    w: dict                        # the weights it ran with (torch.nn names; weight_hr None without projection)
    inp: torch.Tensor              # (T, B, D) its input
    h: torch.Tensor                # (T, B, P) its states
    c: torch.Tensor | None         # (T, B, H) LSTM cell states
    g: torch.Tensor                # (T, B, P) ∂L/∂h_t, total derivative
    gc: torch.Tensor | None        # (T, B, H) LSTM ∂L/∂c_t
    record: torch.Tensor           # (T, B, H) what the saturation reads: f (LSTM), z (GRU), h (vanilla RNN)
    param_grads: dict | None = None   # ∂L/∂w for each weight in w (when asked for)
    tangent: dict | None = None       # sequence 0's per-step coefficients of its Jacobian (forward directions)


def _fused_forward(kind: str, activation: str, w: dict, x: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor):
    """States h (T, B, P) of one direction in the order of x, by torch's fused kernel (a stepped loop for the
    activations torch has no kernel for)."""
    flat = [w["weight_ih"], w["weight_hh"], w["bias_ih"], w["bias_hh"]]
    if kind == "lstm":
        flat += [w["weight_hr"]] if w.get("weight_hr") is not None else []
        with warnings.catch_warnings():     # torch's note that oneDNN has no projection (it falls back, correctly)
            warnings.filterwarnings("ignore", message="LSTM with projections is not supported")
            return torch._VF.lstm(x, (h0[None], c0[None]), flat, True, 1, 0.0, False, False, False)[0]
    if kind == "gru":
        return torch._VF.gru(x, h0[None], flat, True, 1, 0.0, False, False, False)[0]
    if activation in ("tanh", "relu"):
        fused = torch._VF.rnn_tanh if activation == "tanh" else torch._VF.rnn_relu
        return fused(x, h0[None], flat, True, 1, 0.0, False, False, False)[0]
    f = ACTIVATION_FN[activation]
    xw = torch.addmm(w["bias_ih"] + w["bias_hh"], x.reshape(-1, x.shape[-1]), w["weight_ih"].T)
    xw = xw.view(len(x), len(h0), -1)
    h = torch.empty_like(xw)
    prev, w_hh_t = h0, w["weight_hh"].T
    for t in within_deadline(range(len(x))):
        h[t] = f(torch.addmm(xw[t], prev, w_hh_t))
        prev = h[t]
    return h


def _lstm_stepped(w: dict, x: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor):
    """The LSTM forward step by step, keeping what the backward pass reads: h (T, B, P) and (gates activated
    (T, B, 4, H) in torch's order, c, tanh c). From STEPPED_FORWARD batch × hidden on it beats the fused kernel
    plus the batched recomputation of the gates."""
    T, B, _ = x.shape
    H = c0.shape[-1]
    gates = torch.addmm(w["bias_ih"] + w["bias_hh"], x.reshape(T * B, -1), w["weight_ih"].T).view(T, B, 4 * H)
    h = torch.empty(T, B, h0.shape[-1], dtype=x.dtype)
    c, tanh_c = torch.empty(T, B, H, dtype=x.dtype), torch.empty(T, B, H, dtype=x.dtype)
    w_hh_t, w_hr = w["weight_hh"].T, w.get("weight_hr")
    m = torch.empty(B, H, dtype=x.dtype)
    h_prev, c_prev = h0, c0
    for t in within_deadline(range(T)):
        gt = gates[t]
        gt.addmm_(h_prev, w_hh_t)
        torch.sigmoid_(gt[:, :2 * H])
        torch.tanh_(gt[:, 2 * H:3 * H])
        torch.sigmoid_(gt[:, 3 * H:])
        torch.mul(gt[:, H:2 * H], c_prev, out=c[t])
        c[t].addcmul_(gt[:, :H], gt[:, 2 * H:3 * H])
        torch.tanh(c[t], out=tanh_c[t])
        if w_hr is None:
            torch.mul(gt[:, 3 * H:], tanh_c[t], out=h[t])
        else:
            torch.mul(gt[:, 3 * H:], tanh_c[t], out=m)
            torch.mm(m, w_hr.T, out=h[t])
        h_prev, c_prev = h[t], c[t]
    return h, (gates.view(T, B, 4, H), c, tanh_c)


def _dot_into(v: np.ndarray, m: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out = v @ m. With m in float32 and v, out in float64 (a float32 module's backward pass, summed in float64):
    each row of v is divided by its largest |entry| before the float32 product and multiplied back after, so the
    product neither turns subnormal nor underflows nor overflows before float64 would; what a row loses is the
    float32 rounding of its entries (~6e-8 relative to its largest), as the module's own float32 backward pass."""
    if m.dtype == v.dtype:
        return np.dot(v, m, out=out)
    s = _row_scale(v)
    return np.multiply(np.dot((v / s).astype(m.dtype), m), s, out=out)


def _row_scale(v: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Each row's largest |entry| (1 for a row of zeros), as a column."""
    s = np.max(np.abs(v), axis=-1, keepdims=True, out=out)
    s[s == 0] = 1.0
    return s


class _Scaled:
    """δ_t of every step as _dot_into rescaled it for the recurrent product (float32 rows of largest |entry| 1, and
    each row's scale), kept so that the input's gradient Σ δ_t W_ih is one float32 product afterwards."""

    def __init__(self, T: int, B: int, width: int):
        self.rows = np.empty((T, B, width), dtype=np.float32)
        self.scale = np.empty((T, B, 1))

    def keep(self, t: int, v: np.ndarray) -> np.ndarray:
        s = _row_scale(v, out=self.scale[t])
        np.divide(v, s, out=self.rows[t], casting="same_kind")
        return s

    def dot_into(self, t: int, v: np.ndarray, m: np.ndarray, out: np.ndarray) -> np.ndarray:
        s = self.keep(t, v)
        return np.multiply(np.dot(self.rows[t], m), s, out=out)

    def times(self, m: np.ndarray) -> torch.Tensor:
        T, B, width = self.rows.shape
        prod = np.dot(self.rows.reshape(T * B, width), m)
        return torch.from_numpy(np.multiply(prod, self.scale.reshape(T * B, 1))).view(T, B, -1)


def _step_product(scaled: _Scaled | None, t: int, v: np.ndarray, m: np.ndarray, out: np.ndarray) -> np.ndarray:
    """δ_t W_hh into out: as it is when the backward pass runs in the weights' dtype, else rescaled and kept."""
    return np.dot(v, m, out=out) if scaled is None else scaled.dot_into(t, v, m, out)


def _input_product(scaled: _Scaled | None, delta: torch.Tensor, w_ih: torch.Tensor, T: int, B: int) -> torch.Tensor:
    """Σ δ_t W_ih for every step: from the rows _step_product kept, or from δ itself (T × B rows)."""
    return scaled.times(w_ih.numpy()) if scaled is not None else _input_gradient(delta.reshape(T * B, -1), w_ih, T, B)


def _lstm_backward(w, x, h, h0, c0, seed, weight_grads, kept=None, need_dx=True, c_seed=None, tangent=None):
    """∂L/∂h_t, ∂L/∂c_t and the gates' δ of one LSTM direction (x in processing order). With a_t = o_t ⊙ (1 −
    tanh² c_t) and m_t = o_t ⊙ tanh c_t (h_t = m_t W_hr^T with a projection, else h_t = m_t):
    ∂L/∂c_t = a_t ⊙ ∂L/∂m_t + f_{t+1} ⊙ ∂L/∂c_{t+1}, ∂L/∂h_{t−1} = seed_{t−1} + δ_t W_hh. The backward pass runs in
    seed's dtype: x's, or float64 over a float32 forward pass (then the products go through _dot_into). c_seed
    (B, H): a direct ∂L/∂c of the last step processed (a loss that reads the final cell state). tangent: a dict to
    fill with sequence 0's coefficients, which are its Jacobian's (_tangent_map)."""
    T, B, _ = x.shape
    H = c0.shape[-1]
    wide = seed.dtype
    h_prev = torch.cat([h0[None], h[:-1]])
    if kept is not None:                                         # from _lstm_stepped
        gates, c, tanh_c = kept
        i, f, g, o = gates.unbind(2)
    else:                                                        # from the fused kernel's states
        gates = (torch.addmm(w["bias_ih"] + w["bias_hh"], x.reshape(T * B, -1), w["weight_ih"].T)
                 .addmm_(h_prev.reshape(T * B, -1), w["weight_hh"].T).view(T, B, 4, H))  # torch's order i, f, g, o
        i, f, g, o = gates.unbind(2)
        torch.sigmoid_(i), torch.sigmoid_(f), torch.tanh_(g), torch.sigmoid_(o)
        c = i * g
        c[0].addcmul_(f[0], c0)
        linear_scan(c, f)                                        # c_t = f_t c_{t−1} + i_t g_t
        tanh_c = torch.tanh(c)
    # the coefficients in the forward pass's dtype (as exact as the states they come from), the sums in seed's
    f = f.contiguous()                                           # read every step, and by the saturation
    c_prev = torch.cat([c0[None], c[:-1]])
    a = o * (1 - tanh_c * tanh_c)                                # ∂h_t/∂c_t (before the projection)
    coef = torch.empty_like(gates)
    torch.mul(g * i, 1 - i, out=coef[:, :, 0])                   # ∂c_t/∂(pre-activation of i)
    torch.mul(c_prev * f, 1 - f, out=coef[:, :, 1])              # … of f
    torch.mul(i, 1 - g * g, out=coef[:, :, 2])                   # … of g
    torch.mul(tanh_c * o, 1 - o, out=coef[:, :, 3])              # ∂m_t/∂(pre-activation of o)
    if tangent is not None:
        tangent.update(k=coef[:, 0].clone(), f=f[:, 0].clone(), b_c=a[:, 0].clone())
    w_hh, w_hr = w["weight_hh"].numpy(), (w["weight_hr"].numpy() if w.get("weight_hr") is not None else None)
    scaled = _Scaled(T, B, 4 * H) if w["weight_hh"].dtype != wide else None     # δ_t kept rescaled, not whole
    gh, gc = torch.zeros_like(h, dtype=wide), torch.empty_like(c, dtype=wide)
    delta = torch.empty_like(gates, dtype=wide) if scaled is None else torch.empty(1, B, 4, H, dtype=wide)
    g_n, gc_n, d_n, s_n = gh.numpy(), gc.numpy(), delta.numpy(), seed.numpy()
    a_n, f_n, k3, ko = a.numpy(), f.numpy(), coef[:, :, :3].numpy(), coef[:, :, 3].numpy()
    d_flat = d_n.reshape(len(d_n), B, 4 * H)
    e, dm, spare = np.zeros((B, H), dtype=g_n.dtype), np.empty((B, H), dtype=g_n.dtype), np.empty_like(g_n[0])
    if c_seed is not None:
        e[:] = c_seed.numpy()
    for t in within_deadline(range(T - 1, -1, -1)):
        gt, gct, dt = g_n[t], gc_n[t], (t if scaled is None else 0)
        gt += s_n[t]
        m = gt if w_hr is None else _dot_into(gt, w_hr, dm)
        np.multiply(m, a_n[t], out=gct)
        gct += e
        np.multiply(k3[t], gct[:, None, :], out=d_n[dt, :, :3])
        np.multiply(ko[t], m, out=d_n[dt, :, 3])
        np.multiply(f_n[t], gct, out=e)
        _step_product(scaled, t, d_flat[dt], w_hh, g_n[t - 1] if t else spare)
    flat = delta.view(-1, 4 * H)
    dx = _input_product(scaled, flat, w["weight_ih"], T, B) if need_dx else None
    grads = None
    if weight_grads:
        with denormals_as_zero():
            grads = {"weight_ih": flat.T @ x.reshape(T * B, -1), "weight_hh": flat.T @ h_prev.reshape(T * B, -1),
                     "bias_ih": flat.sum(0)}
        grads["bias_hh"] = grads["bias_ih"].clone()
    return gh, gc, f, c, dx, grads


def _gru_backward(w, x, h, h0, seed, weight_grads, need_dx=True, tangent=None):
    """∂L/∂h_t of one GRU direction (torch's gate order r, z, n; h_t = (1 − z_t) n_t + z_t h_{t−1},
    n_t = tanh(x W_in + b_in + r_t ⊙ (h_{t−1} W_hn + b_hn))), in seed's dtype (see _lstm_backward)."""
    T, B, _ = x.shape
    H = h.shape[-1]
    wide = seed.dtype
    h_prev = torch.cat([h0[None], h[:-1]])
    gi = torch.addmm(w["bias_ih"], x.reshape(T * B, -1), w["weight_ih"].T).view(T, B, 3, H)
    gh = torch.addmm(w["bias_hh"], h_prev.reshape(T * B, -1), w["weight_hh"].T).view(T, B, 3, H)
    r, z = torch.sigmoid(gi[:, :, 0] + gh[:, :, 0]), torch.sigmoid(gi[:, :, 1] + gh[:, :, 1])
    n = torch.tanh(torch.addcmul(gi[:, :, 2], r, gh[:, :, 2]))
    a_n = (1 - z) * (1 - n * n)                                   # ∂h_t/∂(pre-activation of n)
    coef = torch.empty_like(gh)                                   # ∂h_t/∂(h_{t−1} W_hh + b_hh), per block
    torch.mul(a_n * gh[:, :, 2], r * (1 - r), out=coef[:, :, 0])
    torch.mul(h_prev - n, z * (1 - z), out=coef[:, :, 1])
    torch.mul(a_n, r, out=coef[:, :, 2])
    del gi, gh, r, n
    if tangent is not None:
        tangent.update(k=coef[:, 0].clone(), z=z[:, 0].clone())
    w_hh = w["weight_hh"].numpy()
    mixed = w["weight_hh"].dtype != wide                         # δ_t kept rescaled (for the input's gradient)
    scaled_i = _Scaled(T, B, 3 * H) if mixed and need_dx else None
    g = torch.zeros_like(h, dtype=wide)
    delta = torch.empty(1 if mixed else T, B, 3, H, dtype=wide)
    g_n, d_n, s_n, c_n, z_n, a_nn = g.numpy(), delta.numpy(), seed.numpy(), coef.numpy(), z.contiguous().numpy(), \
        a_n.numpy()
    d_flat = d_n.reshape(len(d_n), B, 3 * H)
    carry, spare, d_i = np.empty_like(g_n[0]), np.empty_like(g_n[0]), np.empty((B, 3, H), dtype=g_n.dtype)
    for t in within_deadline(range(T - 1, -1, -1)):
        gt, dt = g_n[t], (0 if mixed else t)
        gt += s_n[t]
        np.multiply(c_n[t], gt[:, None, :], out=d_n[dt])
        out = g_n[t - 1] if t else spare
        _dot_into(d_flat[dt], w_hh, out)
        if scaled_i is not None:                                 # the input's δ: the n block without r_t
            d_i[:, :2] = d_n[0, :, :2]
            np.multiply(a_nn[t], gt, out=d_i[:, 2])
            scaled_i.keep(t, d_i.reshape(B, 3 * H))
        np.multiply(z_n[t], gt, out=carry)
        out += carry
    if mixed:
        return g, z, (scaled_i.times(w["weight_ih"].numpy()) if scaled_i is not None else None), None
    delta_i = delta.clone()
    torch.mul(a_n, g, out=delta_i[:, :, 2])
    flat_h, flat_i = delta.view(T * B, 3 * H), delta_i.view(T * B, 3 * H)
    dx = _input_gradient(flat_i, w["weight_ih"], T, B) if need_dx else None
    grads = None
    if weight_grads:
        with denormals_as_zero():
            grads = {"weight_ih": flat_i.T @ x.reshape(T * B, -1), "weight_hh": flat_h.T @ h_prev.reshape(T * B, -1),
                     "bias_ih": flat_i.sum(0), "bias_hh": flat_h.sum(0)}
    return g, z, dx, grads


def _rnn_backward(w, x, h, h0, seed, activation, weight_grads, need_dx=True, tangent=None):
    """∂L/∂h_t of one vanilla RNN direction: δ_t = f′(a_t) ⊙ ∂L/∂h_t, ∂L/∂h_{t−1} = seed_{t−1} + δ_t W_hh, in seed's
    dtype (see _lstm_backward)."""
    T, B, _ = x.shape
    deriv = derivative_from_output(activation, h)
    if tangent is not None:
        tangent.update(d=deriv[:, 0].clone())
    deriv = deriv.to(seed.dtype)
    g, delta = torch.zeros_like(h, dtype=seed.dtype), torch.empty_like(h, dtype=seed.dtype)
    g_n, d_n, s_n, f_n, w_hh = g.numpy(), delta.numpy(), seed.numpy(), deriv.numpy(), w["weight_hh"].numpy()
    scaled = _Scaled(T, B, h.shape[-1]) if w_hh.dtype != g_n.dtype else None
    spare = np.empty_like(g_n[0])
    for t in within_deadline(range(T - 1, -1, -1)):
        gt = g_n[t]
        gt += s_n[t]
        np.multiply(f_n[t], gt, out=d_n[t])
        _step_product(scaled, t, d_n[t], w_hh, g_n[t - 1] if t else spare)
    flat = delta.view(T * B, -1)
    dx = _input_product(scaled, flat, w["weight_ih"], T, B) if need_dx else None
    grads = None
    if weight_grads:
        h_prev = torch.cat([h0[None], h[:-1]])
        with denormals_as_zero():
            grads = {"weight_ih": flat.T @ x.reshape(T * B, -1), "weight_hh": flat.T @ h_prev.reshape(T * B, -1),
                     "bias_ih": flat.sum(0)}
        grads["bias_hh"] = grads["bias_ih"].clone()
    return g, dx, grads


def _input_gradient(delta: torch.Tensor, w_ih: torch.Tensor, T: int, B: int) -> torch.Tensor:
    """Σ δ_t W_ih for every step in one product: (T, B, D) in δ's dtype."""
    d = delta.numpy()
    return torch.from_numpy(_dot_into(d, w_ih.numpy(), np.empty((T * B, w_ih.shape[1]), dtype=d.dtype))).view(T, B, -1)


def backprop(arch: Architecture, weights: list, x: torch.Tensor, top_seed: torch.Tensor, initial=None,
             weight_grads: bool = False, backward_dtype: torch.dtype | None = None, final_seeds=None) -> list:
    """Every layer and direction's states and total derivatives ∂L/∂h_t (and ∂L/∂c_t), bottom layer first,
    forward before reverse, without autograd. weights[layer * directions + reverse]: dict of torch.nn names on
    CPU in x's dtype; x: (T, B, D); top_seed: (T, B, directions × P) ∂L/∂(top layer's output)_t; initial: None
    (zero states) or the module's (h0, c0) layout, (layers × directions, B, ·) each. backward_dtype: float64 over
    a float32 forward pass sums the backward pass in float64 (its products in float32, rescaled: _dot_into); None
    runs it in x's dtype. The weights' gradients (weight_grads) need the backward pass in x's dtype. final_seeds:
    None, or direct ∂L/∂h_n and ∂L/∂c_n (or None) of every layer and direction's final state in the module's
    (h_n, c_n) layout, (layers × directions, B, ·) each (a loss that reads the final states)."""
    T, B, _ = x.shape
    dtype = x.dtype
    wide = backward_dtype or dtype
    assert not (weight_grads and wide != dtype), "weight gradients are summed in the forward pass's dtype"
    runs: list = []
    inp = x
    # a blown-up network's inf and NaN are carried through to the curves (shown as such), without NumPy's warnings
    with torch.no_grad(), np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for layer in range(arch.num_layers):
            outs = []
            for reverse in ([False, True] if arch.bidirectional else [False]):
                index = layer * arch.directions + int(reverse)
                w = weights[index]
                h0 = torch.zeros(B, arch.output_size, dtype=dtype)
                c0 = torch.zeros(B, arch.hidden_size, dtype=dtype)
                if initial is not None:
                    h0 = initial[0][index].detach().to("cpu", dtype)
                    c0 = initial[1][index].detach().to("cpu", dtype) if initial[1] is not None else c0
                seq = inp.flip(0) if reverse else inp
                kept = None
                if arch.kind == "lstm" and B * arch.hidden_size >= STEPPED_FORWARD:
                    h, kept = _lstm_stepped(w, seq, h0, c0)
                else:
                    h = _fused_forward(arch.kind, arch.nonlinearity, w, seq, h0, c0)
                runs.append([layer, reverse, w, inp, seq, h, h0, c0, kept])
                outs.append(h.flip(0) if reverse else h)
            inp = torch.cat(outs, dim=-1) if len(outs) > 1 else outs[0]
        done: list = [None] * len(runs)
        seed = top_seed.to(wide)
        P = arch.output_size
        for layer in range(arch.num_layers - 1, -1, -1):
            below = None
            for index in range(layer * arch.directions, (layer + 1) * arch.directions):
                _, reverse, w, inp, seq, h, h0, c0, kept = runs[index]
                runs[index] = None                                   # what the backward pass kept goes with it
                part = seed[:, :, (index % arch.directions) * P:(index % arch.directions + 1) * P]
                part = (part.flip(0) if reverse else part).contiguous()
                c_seed = None
                if final_seeds is not None:                          # the final state is the last step processed
                    if final_seeds[0] is not None:
                        part = part.clone()
                        part[-1] += final_seeds[0][index].to(wide)
                    if final_seeds[1] is not None:
                        c_seed = final_seeds[1][index].to(wide)
                c: torch.Tensor | None = None
                gc: torch.Tensor | None = None
                need_dx = layer > 0 or weight_grads             # the bottom layer's input gradient has no reader
                tangent: dict | None = None if reverse else {}       # the Lyapunov exponents follow forward runs
                if arch.kind == "lstm":
                    g, gc, record, c, dx, grads = _lstm_backward(w, seq, h, h0, c0, part, weight_grads, kept,
                                                                 need_dx, c_seed, tangent)
                elif arch.kind == "gru":
                    g, record, dx, grads = _gru_backward(w, seq, h, h0, part, weight_grads, need_dx, tangent)
                else:
                    g, dx, grads = _rnn_backward(w, seq, h, h0, part, arch.nonlinearity, weight_grads, need_dx,
                                                 tangent)
                    record = h
                if reverse:
                    h, g, record = h.flip(0), g.flip(0), record.flip(0)
                    dx = dx.flip(0) if dx is not None else None
                    if c is not None and gc is not None:
                        c, gc = c.flip(0), gc.flip(0)
                if dx is not None:
                    below = dx if below is None else below + dx
                done[index] = Run(layer, "reverse" if reverse else "forward", w, inp, h, c, g, gc, record, grads,
                                  tangent)
            if below is not None:                                    # None below the bottom layer
                seed = below
    return done


# ---- saturation, Lyapunov, diagnosis -------------------------------------------------------------------------

def _saturation(arch: Architecture, layer: int, direction: str, record: torch.Tensor) -> Saturation:
    with torch.no_grad():
        values = record
        if arch.kind == "rnn":
            values = (values > 0).to(values.dtype) if arch.nonlinearity == "relu" else 1 - values * values
        quantity = {"lstm": "forget gate f", "gru": "update gate z", "rnn": "|f′(a)|"}[arch.kind]
        finite = torch.isfinite(values)
        if not bool(finite.all()):
            values = values[finite]
        n = values.numel()
        if n == 0:
            nan = float("nan")
            return Saturation(layer, direction, quantity, nan, nan, nan)
        return Saturation(layer, direction, quantity, float(values.sum(dtype=torch.float64)) / n,
                          int((values < SATURATED[0]).sum()) / n, int((values > SATURATED[1]).sum()) / n)


def _tangent_map(arch: Architecture, w: dict, coefficients: dict):
    """The linearised step of one direction along sequence 0, on its own state (h, and c for an LSTM; what enters
    from the layer below is held fixed): step(t, Q) -> J_t Q for Q (dim, m) in core/lyapunov.py's layout, from the
    per-step coefficients its backward pass computed (Run.tangent: the same partial derivatives), each step one
    product with the recurrent matrix and a few elementwise operations, in the weights' dtype."""
    w_hh = w["weight_hh"].numpy()                                          # (gates × H, P)
    w_hr = w["weight_hr"].numpy() if w.get("weight_hr") is not None else None
    dtype, H, P = w_hh.dtype, arch.hidden_size, arch.output_size
    cols = {name: np.ascontiguousarray(v.numpy()[..., None], dtype=dtype) for name, v in coefficients.items()}
    if arch.kind == "rnn":
        d = cols["d"]
        return lambda t, q: d[t] * (w_hh @ q.astype(dtype, copy=False))
    k = cols["k"]                                                          # (T, gates, H, 1)
    if arch.kind == "gru":
        z = cols["z"]

        def gru_step(t, q):
            q = q.astype(dtype, copy=False)
            dz = w_hh @ q                                                  # (3H, m): r, z, n blocks
            out = z[t] * q
            out += k[t, 0] * dz[:H]
            out += k[t, 1] * dz[H:2 * H]
            out += k[t, 2] * dz[2 * H:]
            return out
        return gru_step
    f, b_c = cols["f"], cols["b_c"]

    def lstm_step(t, q):
        q = q.astype(dtype, copy=False)                                      # (P + H, m): h's tangent, then c's
        dz = w_hh @ q[:P]                                                    # (4H, m): i, f, g, o blocks
        out = np.empty_like(q)
        dc = out[P:]
        np.multiply(f[t], q[P:], out=dc)
        dc += k[t, 0] * dz[:H]
        dc += k[t, 1] * dz[H:2 * H]
        dc += k[t, 2] * dz[2 * H:3 * H]
        dm = k[t, 3] * dz[3 * H:]
        dm += b_c[t] * dc
        if w_hr is None:
            out[:P] = dm
        else:
            np.dot(w_hr, dm, out=out[:P])
        return out
    return lstm_step


def _lyapunov(arch: Architecture, runs: list, x: torch.Tensor) -> np.ndarray:
    """Exponents of the joint forward dynamics of every layer's forward direction along sequence 0 (the state is
    (h, c) of every layer; a reverse direction's output enters the layer above as a given input), largest first.
    A layer's tangent feeds the layer above and never the one below, so the joint Jacobian of each step is block
    lower-triangular, and the exponents of a product of block-triangular matrices are those of its diagonal blocks
    together: each layer's are computed alone, from its own recurrent matrix (which then stays in the CPU's cache
    for the whole sequence), and the largest of them all kept. runs: backprop()'s."""
    P, H = arch.output_size, arch.hidden_size
    exponents = []
    for run in runs:
        if run.direction != "forward":
            continue
        step = _tangent_map(arch, run.w, run.tangent)
        exponents.append(qr_exponents(step, x.shape[0], P + (H if arch.kind == "lstm" else 0)))
    every = np.concatenate(exponents)
    if np.isnan(every).any():
        return np.full(min(TOP, len(every)), np.nan)
    return np.sort(every)[::-1][:TOP].copy()


def _fold(decades: float) -> str:
    """10^|decades| for a sentence: 3 significant digits, or a power of ten where a float would overflow."""
    return f"{10 ** abs(decades):.3g}" if abs(decades) < 300 else f"10^{abs(decades):.0f}"


def _name(lf) -> str:
    return f"layer {lf.layer} {lf.direction}"


def diagnose(arch: Architecture, layers: list, saturation: list, lyapunov: np.ndarray) -> list:
    """The diagnosis: a short list of Findings, each sentence following from the number beside it."""
    span = len(layers[0].grad_norm) - 1
    out = [f for lf in layers for f in _curve_findings(lf, span)]
    out += _clipping_findings(layers) + _saturation_findings(arch, layers, saturation)
    out += _depth_findings(arch, layers) + _chaos_findings(lyapunov, span)
    if not out:
        rates = [lf.rate for lf in layers if lf.rate is not None]
        if rates:
            out.append(Finding(f"Every layer and direction is stable over {span} steps (per-step factors "
                               f"{min(rates):.3g} to {max(rates):.3g}): nothing to change for this length.",
                               max(rates), "largest per-step factor"))
    return out


def _curve_findings(lf: LayerFlow, span: int) -> list:
    """Steps the gradient does not reach, and how far a vanishing or exploding curve goes over the sequence."""
    out = []
    zeros = int(np.sum(lf.grad_norm == 0))
    if lf.rate is None and zeros:
        out.append(Finding(f"{_name(lf).capitalize()}: ‖∂L/∂h_t‖ is exactly 0 at {zeros} of {span + 1} steps: "
                           f"those states do not reach the loss (or their gradient underflowed).", zeros,
                           f"steps with ‖∂L/∂h_t‖ = 0, {_name(lf)}"))
    if lf.rate is None or span < 1 or lf.regime not in ("vanishing", "exploding"):
        return out
    curve = lf.by_distance
    ratio = float(curve[-1] / curve[0]) if curve[0] != 0 else float("nan")
    verb, word = ("shrinks", "vanishes") if lf.regime == "vanishing" else ("grows", "explodes")
    if math.isfinite(ratio) and ratio > 0:
        out.append(Finding(f"{_name(lf).capitalize()}: over {span} steps the signal {verb} "
                           f"{_fold(math.log10(ratio))}-fold (end-to-start ratio {ratio:.3g}; fitted per-step "
                           f"factor {lf.rate:.3g}): the gradient {word}.",
                           ratio, f"end-to-start ratio, {_name(lf)}"))
    else:                            # past the float range: the fitted factor says how far
        out.append(Finding(f"{_name(lf).capitalize()}: the per-step factor {lf.rate:.3g} {verb} a signal "
                           f"{_fold(span * math.log10(lf.rate))}-fold over {span} steps, past the float range: "
                           f"the gradient {word}.", lf.rate, f"fitted per-step factor, {_name(lf)}"))
    return out


def _clipping_findings(layers: list) -> list:
    """Where a layer explodes: a clipping threshold of the order of the typical gradient."""
    if not any(lf.regime == "exploding" for lf in layers):
        return []
    typical = np.concatenate([lf.grad_norm for lf in layers])
    typical = typical[np.isfinite(typical) & (typical > 0)]
    if not typical.size:
        return []
    median = float(np.median(typical))
    return [Finding(f"Clip the gradient norm: the median measured ‖∂L/∂h_t‖ is {median:.3g}; a threshold "
                    f"of that order (torch.nn.utils.clip_grad_norm_) keeps the rare huge steps from "
                    f"throwing the weights away.", median, "median ‖∂L/∂h_t‖ over every layer and step")]


# A gated cell whose gate is mostly shut where its gradient vanishes: (the gate, what that does, the remedy).
SHUT_GATES = {
    "lstm": ("forget gates", "the cell state forgets within a few steps",
             "a forget-gate bias of 1 to 2 (the second quarter of bias_ih) keeps it longer"),
    "gru": ("update gates", "the state is overwritten at almost every step",
            "a positive bias of the update gate (the second third of bias_ih) makes it carry"),
}


def _saturation_findings(arch: Architecture, layers: list, saturation: list) -> list:
    """Why a vanishing layer vanishes: shut gates, a small λ1 of W_hh, or saturated units."""
    out = []
    vanishing = {(lf.layer, lf.direction) for lf in layers if lf.regime == "vanishing"}
    for s, lf in zip(saturation, layers):
        if (s.layer, s.direction) not in vanishing or not np.isfinite(s.share_low):
            continue
        if arch.kind in SHUT_GATES and s.share_low >= 0.25:
            gate, effect, remedy = SHUT_GATES[arch.kind]
            out.append(Finding(f"{_name(lf).capitalize()}: {s.share_low:.0%} of {gate} are below "
                               f"{SATURATED[0]}, so {effect}; {remedy}.", s.share_low,
                               f"share of {gate} below {SATURATED[0]}, {_name(lf)}"))
        elif arch.kind == "rnn" and lf.lambda1 < 1:
            out.append(Finding(f"{_name(lf).capitalize()}: λ1 of W_hh is {lf.lambda1:.3g} < 1 and |f′| ≤ 1, so the "
                               f"gradient must vanish (Pascanu et al. 2013); try an orthogonal initialisation (or the "
                               f"identity with ReLU, Le et al. 2015), or a gated cell (LSTM, GRU).", lf.lambda1,
                               f"λ1 of W_hh, {_name(lf)}"))
        elif arch.kind == "rnn" and s.share_low >= 0.25:
            out.append(Finding(f"{_name(lf).capitalize()}: {s.share_low:.0%} of |f′(a)| are below {SATURATED[0]} "
                               f"(saturated or dead units) although λ1 = {lf.lambda1:.3g}; lower the weight or input "
                               f"scale, or use a gated cell (LSTM, GRU).", s.share_low,
                               f"share of |f′(a)| below {SATURATED[0]}, {_name(lf)}"))
    return out


def _depth_findings(arch: Architecture, layers: list) -> list:
    """A stack whose bottom layer gets under 1 % of the gradient its top layer gets."""
    if arch.num_layers <= 1:
        return []
    bottom, top = layers[0], layers[-arch.directions]
    lo, hi = float(np.nanmean(bottom.grad_norm)), float(np.nanmean(top.grad_norm))
    if not (hi > 0 and np.isfinite(lo / hi) and lo / hi < 0.01):
        return []
    return [Finding(f"The gradient reaching layer 0 is {lo / hi:.3g} of the one reaching layer "
                    f"{arch.num_layers - 1} (mean over steps): each layer costs signal; try fewer layers.",
                    lo / hi, "mean ‖∂L/∂h_t‖ of layer 0 over that of the top layer")]


def _chaos_findings(lyapunov: np.ndarray, span: int) -> list:
    """Forward dynamics that drift apart over the sequence by more than the regime rule's factor."""
    if not (lyapunov.size and np.isfinite(lyapunov[0]) and lyapunov[0] * span > math.log(REGIME_FACTOR)):
        return []
    growth = _fold(lyapunov[0] * span / math.log(10))
    return [Finding(f"The largest Lyapunov exponent is {lyapunov[0]:.3g} per step: nearby forward "
                    f"trajectories drift apart {growth}-fold over {span} steps "
                    f"(chaotic dynamics, which go with exploding gradients).",
                    float(lyapunov[0]), "largest Lyapunov exponent, nats per step")]


# ---- the public call -----------------------------------------------------------------------------------------

# Memory per step of the sequence, sequence of the batch, layer-direction and unit of hidden size: bytes × the
# module's itemsize + bytes (the forward pass's kept gates and states in its dtype, the backward pass's float64
# sums), fitted on peak RSS at T 1000, B 32, H 128–256 (LSTM 177 / 100, GRU 156 / 88, vanilla RNN 49 / 44 bytes in
# float64 / float32) with a tenth added.
INSPECT_MEMORY = {"lstm": (20, 24), "gru": (18, 20), "rnn": (2, 40)}
INSPECT_STEP_S = 120e-6             # per step and layer-direction: the forward and backward loops' small operations
INSPECT_ELEMENT_S = 60e-9           # per step, sequence, hidden unit and layer-direction: the elementwise passes
                                    # (a 4-layer LSTM at H 64, T 1000, batch 64 took 2.15 s, 1.58 s without this)
LYAPUNOV_STEP_S = 40e-6             # per step and layer: the tangent step's elementwise operations and its QR
SMALL_PRODUCT_RATE = 12e9           # flop/s of the tangent step's product (a few columns: far below FLOP_RATE)


def inspect_cost(arch: Architecture, seq_len: int, batch: int, itemsize: int = 4) -> budget.Budget:
    """Memory and time of one inspect (see core/budget.py) of a module whose weights have `itemsize` bytes: the
    kept forward pass and the float64 backward pass per step, layer and direction; the time is a per-step overhead
    plus the products (float64 ones at half the rate), and the Lyapunov loop's per-layer tangent steps."""
    g, H, P = GATES[arch.kind], arch.hidden_size, arch.output_size
    runs = arch.num_layers * arch.directions
    width = sum(arch.layer_input_size(k) for k in range(arch.num_layers)) * arch.directions
    per_h, fixed = INSPECT_MEMORY[arch.kind]
    memory = budget.JOB_MEMORY + 1.1 * seq_len * batch * (runs * H * (per_h * itemsize + fixed) + 8 * width)
    flops = 2 * seq_len * batch * g * H * (width + 2 * runs * P)
    rate = budget.FLOP_RATE["float32"] * (1 if itemsize <= 4 else 0.5)
    tangent = 2 * g * H * P * TOP * (1 if itemsize <= 4 else 2) / SMALL_PRODUCT_RATE
    lyapunov_s = seq_len * arch.num_layers * (LYAPUNOV_STEP_S + tangent)
    elementwise = seq_len * batch * H * runs * INSPECT_ELEMENT_S
    seconds = budget.JOB_SECONDS + seq_len * runs * INSPECT_STEP_S + flops / rate + lyapunov_s + elementwise
    return budget.Budget(memory, seconds)


def _check(name: str, value):
    return INSPECT_FIELDS[name].parse(name, value)


def _inputs(arch, inputs, seq_len, batch, input_scale, generator, dtype, device):
    """The inputs in time-major layout (T, B, D), in the module's dtype and on its device."""
    if inputs is None:
        x = torch.empty(seq_len, batch, arch.input_size, dtype=torch.float64).normal_(0.0, input_scale,
                                                                                      generator=generator)
        return x.to(device=device, dtype=dtype)
    x = torch.as_tensor(inputs)
    layout = "(B, T, D)" if arch.batch_first else "(T, B, D)"
    if x.dim() != 3 or x.shape[-1] != arch.input_size or 0 in x.shape:
        raise ConfigError("inputs", f"an array of shape {layout} with D = {arch.input_size}", tuple(x.shape))
    if not (x.is_floating_point() or x.dtype in (torch.int32, torch.int64)):
        raise ConfigError("inputs", "an array of real numbers", str(x.dtype))
    if not torch.isfinite(x.to(torch.float64)).all():
        raise ConfigError("inputs", "finite numbers (no NaN or inf)", "non-finite entries")
    if arch.batch_first:
        x = x.transpose(0, 1)
    return x.to(device=device, dtype=dtype)


def inspect(module, inputs=None, *, readout=None, loss_on: str = "last", seq_len: int = 100, batch: int = 8,
            input_scale: float = 1.0, seed: int = 0) -> InspectResult:
    """Measure ‖∂L/∂h_t‖ of every layer, direction and step of a torch.nn.RNN, LSTM or GRU.

    Args:
        module: the network (any num_layers, bidirectional, batch_first, proj_size; float32 or float64; any device).
        inputs: a tensor or array in the module's layout ((T, B, D), or (B, T, D) with batch_first); None draws
            gaussian inputs of `input_scale` (seq_len × batch) from `seed`.
        readout: the loss's vector v over the top layer's output (both directions concatenated); None draws a
            unit vector from `seed`. L = Σ_batch v·y_T (loss_on="last") or Σ_batch Σ_t v·y_t ("all").
    Returns:
        InspectResult (see its fields). The module is left as it was.
    Raises:
        ConfigError naming the argument and its allowed range; BudgetError when the job would not fit.
    """
    arch = architecture_of(module)
    loss_on, input_scale, seed = _check("loss_on", loss_on), _check("input_scale", input_scale), _check("seed", seed)
    if inputs is None:
        seq_len, batch = _check("seq_len", seq_len), _check("batch", batch)
    ref = module.weight_hh_l0
    dtype, device = ref.dtype, ref.device
    if dtype not in (torch.float32, torch.float64):
        raise ConfigError("module", "float32 or float64 (call module.float() first)", str(dtype))
    gen = torch.Generator().manual_seed(seed)
    width = arch.output_size * arch.directions
    v = torch.randn(width, generator=gen, dtype=torch.float64)
    v = v / v.norm() if readout is None else torch.as_tensor(readout, dtype=torch.float64).flatten()
    if v.numel() != width or not torch.isfinite(v).all():
        raise ConfigError("readout", f"a finite vector of {width} numbers (the top layer's output size)",
                          tuple(torch.as_tensor(readout).shape))
    # The forward pass runs in the module's dtype, as the module runs; the backward pass is summed in float64
    # whatever it (a float32 backward pass would make the far steps' gradients of a vanishing network subnormal,
    # several times slower on x86, and then 0; a float32 module's products stay float32, rescaled: _dot_into).
    if inputs is None:                          # checked before the inputs are drawn
        budget.check("inspect", inspect_cost(arch, seq_len, batch, ref.element_size()),
                     "the sequence length T or the batch")
    x = _inputs(arch, inputs, seq_len, batch, input_scale, gen, dtype, device)
    budget.check("inspect", inspect_cost(arch, x.shape[0], x.shape[1], ref.element_size()),
                 "the sequence length T or the batch")
    T = x.shape[0]
    weights = [_weights(module, arch, layer, reverse, dtype, "cpu") for layer in range(arch.num_layers)
               for reverse in ([False, True] if arch.bidirectional else [False])]
    top_seed = torch.zeros(T, x.shape[1], width, dtype=torch.float64)       # ∂L/∂(top layer's output)_t
    if loss_on == "last":
        top_seed[-1] = v
    else:
        top_seed[:] = v
    runs = backprop(arch, weights, x.to("cpu"), top_seed, backward_dtype=torch.float64)
    layers, saturation = [], []
    for run in runs:
        g_h = _norm_curve(run.g)
        g_c = _norm_curve(run.gc) if run.gc is not None else None
        layers.append(_layer_flow(arch, run.layer, run.direction, g_h, g_c, run.w))
        saturation.append(_saturation(arch, run.layer, run.direction, run.record))
    lyapunov = _lyapunov(arch, runs, x)
    config = {"seq_len": T, "batch": int(x.shape[1]), "loss_on": loss_on, "input_scale": input_scale,
              "seed": seed, "inputs": "gaussian" if inputs is None else "given",
              "readout": "drawn" if readout is None else "given", "dtype": str(dtype).replace("torch.", ""),
              "computed_in": "float64" if dtype == torch.float64 else "float32 forward, float64 backward",
              "device": str(device)}
    return InspectResult(arch, layers, np.asarray(lyapunov, dtype=float), saturation,
                         diagnose(arch, layers, saturation, lyapunov), config)


def _layer_flow(arch, layer, direction, g_h, g_c, w) -> LayerFlow:
    lf = LayerFlow(layer, direction, g_h, g_c, None, "stable", _lambda1(recurrent_block(arch, w)))
    curve = lf.by_distance
    distance = np.arange(len(curve))
    lf.rate = fit_rate(distance, curve)
    non_finite = not np.isfinite(curve).all()
    zero = np.flatnonzero(np.isfinite(curve) & (curve == 0))
    reached_zero = bool(zero.size) and curve[0] > 0 and math.isfinite(curve[0])
    end_to_start = float(curve[-1] / curve[0]) if curve[0] != 0 else float("nan")
    lf.regime = classify_regime(end_to_start, non_finite, reached_zero)
    return lf
