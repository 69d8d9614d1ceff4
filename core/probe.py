"""The gradient probe: ‖∂L/∂h_{T−k}‖ for every distance k from one forward and one backward pass.

The loss is a fixed random unit readout, L = Σ_batch v·h_T (or Σ_t v·h_t with loss_on="all"), so
∂L/∂h_T = v has norm 1 and the curve reads directly as "fraction of the final-step signal". Each cell's
probe (core/cells/<cell>.py) returns the total derivative on every state from one pass; this module turns
it into the curve, locates overflow and underflow, reads the spectrum and the clipping factor.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch

from . import stack
from .cells import CELLS
from .config import UnrollConfig
from .meanfield import critical_weight_scale
from .norms import clip_gradients, step_norms, total_norm
from .theory import REGIME_RULE, Spectrum, classify_regime, fit_rate, pascanu_bound, spectrum

DTYPES = {"float32": torch.float32, "float64": torch.float64}
ALL_STEPS_NOTE = ("With the loss on every step, the gradient at distance k sums the signals of k + 1 losses, each "
                  "sent back along its own path, so neither this line nor Pascanu's bound describes the curve: "
                  "both are drawn only for the loss on the last step.")

STACKED_NOTE = ("With stacked layers the top layer reads the states of the layer below, not gaussian inputs, so the "
                "one-layer theory draws no line here.")

STACKED_CRITICAL_NOTE = ("The edge of chaos is mean-field theory's for one layer fed by gaussian inputs; with stacked "
                         "layers it is not computed.")


@dataclass
class UnrollResult:
    """Everything the app, the CLI and notebooks show about one unroll (NumPy arrays)."""
    config: UnrollConfig
    distance: np.ndarray                  # 0..T−1; distance 0 is the step the loss is on
    grad_norm: np.ndarray                 # mean over the batch of ‖∂L/∂h_{T−k}‖ (inf/nan kept)
    cell_grad_norm: np.ndarray | None     # LSTM: mean ‖∂L/∂c_{T−k}‖
    bound: np.ndarray                     # vanilla RNN: (λ1·γ)^k · grad_norm[0]; NaN for gated cells
    rate: float | None                    # fitted per-step factor
    regime: str                           # vanishing | stable | exploding
    overflow: dict | None                 # where numbers first stopped being finite, or None
    reached_zero_at: int | None           # first distance where the gradient underflowed to exactly 0
    spectrum: Spectrum
    gamma: float | None                   # sup|f'| (vanilla RNN)
    saturation: np.ndarray                # (T, H) |f'(a_t)| of sequence 0; gated: the carry gate
    saturation_label: str
    param_grad_norm: float                # ‖∂L/∂θ‖ over all parameters, before clipping
    clip_factor: float                    # what clipping would multiply the update by (1 = untouched,
                                          # NaN = the gradient is not finite: nothing to rescale)
    clipped_grad_norm: np.ndarray | None  # grad_norm × clip_factor when clipping is on
    mean_field_rate: float | None = None  # vanilla RNN, random W: √χ, the mean-field per-step factor
    theory_curve: np.ndarray | None = None   # the cell's theory of the curve, scaled to grad_norm[0] (or None)
    theory_rate: float | None = None      # its per-step factor (the rate, or the fit of the exact curve)
    theory_label: str = ""
    theory_note: str = ""                 # what the theory is and when it applies
    lyapunov: np.ndarray = field(default_factory=lambda: np.array([]))   # largest exponents, nats per step
    regime_rule: str = field(default=REGIME_RULE)
    zero_cause: str | None = None         # with reached_zero_at: "underflow" | "zero_derivative"
    critical_weight_scale: float | None = None   # s at the edge of chaos for this network (None: it has none)
    critical_note: str = ""               # why there is none
    layer_grad_norm: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))   # (layers, T): mean
                                          # ‖∂L/∂h^l_{T−k}‖ of each layer l, bottom first; the last row is grad_norm
    layer_cell_grad_norm: np.ndarray | None = None   # LSTM: the same for the cell states c^l

    @property
    def end_to_start_ratio(self) -> float:
        """grad_norm at the largest distance over grad_norm at distance 0 (what the regime reads)."""
        return _end_to_start(self.grad_norm)

    def to_json_dict(self) -> dict:
        """The CLI's --json object (arrays as lists; non-finite numbers become None)."""
        out = {
            "distance": self.distance.tolist(),
            "grad_norm": _finite_list(self.grad_norm),
            "bound": _finite_list(self.bound),
            "cell_grad_norm": None if self.cell_grad_norm is None else _finite_list(self.cell_grad_norm),
            "clipped_grad_norm": None if self.clipped_grad_norm is None else _finite_list(self.clipped_grad_norm),
            "rate": _finite(self.rate),
            "regime": self.regime,
            "regime_rule": self.regime_rule,
            "overflow": self.overflow,
            "reached_zero_at": self.reached_zero_at,
            "end_to_start_ratio": _finite(self.end_to_start_ratio),
            "lambda1": _finite(self.spectrum.lambda1),
            "spectral_radius": _finite(self.spectrum.spectral_radius),
            "gamma": self.gamma,
            "param_grad_norm": _finite(self.param_grad_norm),
            "clip_factor": _finite(self.clip_factor),
            "mean_field_rate": _finite(self.mean_field_rate),
            "theory": {"label": self.theory_label, "note": self.theory_note, "rate": _finite(self.theory_rate),
                       "curve": None if self.theory_curve is None else _finite_list(self.theory_curve)},
            "lyapunov": _finite_list(self.lyapunov),
            "zero_cause": self.zero_cause,
            "critical_weight_scale": _finite(self.critical_weight_scale),
            "critical_note": self.critical_note,
            "layer_grad_norm": [_finite_list(row) for row in self.layer_grad_norm],
            "layer_cell_grad_norm": (None if self.layer_cell_grad_norm is None
                                     else [_finite_list(row) for row in self.layer_cell_grad_norm]),
            "config": self.config.to_dict(),
        }
        return out



def _end_to_start(grad_norm: np.ndarray) -> float:
    return float(grad_norm[-1] / grad_norm[0]) if grad_norm[0] != 0 else float("nan")


def _finite(x):
    return None if x is None or not np.isfinite(x) else float(x)


def _finite_list(a: np.ndarray) -> list:
    return [float(v) if np.isfinite(v) else None for v in np.asarray(a, dtype=float)]


def make_inputs(cfg: UnrollConfig, generator: torch.Generator, dtype: torch.dtype):
    """Inputs x (T, B, D), initial state h0 (B, H) and readout v (H,) for a config."""
    v = torch.randn(cfg.hidden, generator=generator, dtype=torch.float64)
    h0 = torch.randn(cfg.batch, cfg.hidden, generator=generator, dtype=dtype) * cfg.h0_scale
    return draw_sequence(cfg.seq_len, (cfg.batch, cfg.hidden), cfg.input_scale, generator, dtype), h0, \
        (v / v.norm()).to(dtype)


# torch's CPU normal_ fills 16 values at a time from 16 uniforms and draws a call's last, shorter group another
# way, so a draw of n values is a prefix of a draw of more only when n is a multiple of 16.
NORMAL_GROUP = 16


def draw_sequence(seq_len: int, step_shape: tuple, std: float, generator: torch.Generator,
                  dtype: torch.dtype) -> torch.Tensor:
    """(seq_len, *step_shape) gaussian inputs, drawn last from `generator`, such that a shorter sequence with the
    same generator state is an exact prefix: whole groups of 16 steps are drawn (16 × the step size values, a
    multiple of 16) and the surplus steps dropped."""
    padded = -(-seq_len // NORMAL_GROUP) * NORMAL_GROUP
    x = torch.empty((padded, *step_shape), dtype=dtype).normal_(0.0, std, generator=generator)
    return x[:seq_len]


def build(cfg: UnrollConfig):
    """The network and data of a config, drawn reproducibly from its seed."""
    dtype = DTYPES[cfg.dtype]
    gen = torch.Generator().manual_seed(cfg.seed)
    net = CELLS[cfg.cell].build(cfg, cfg.hidden, gen, dtype)
    x, h0, v = make_inputs(cfg, gen, dtype)
    return net, x, h0, v


def build_stack(cfg: UnrollConfig):
    """The layers of a stacked config, bottom first, with their initial states; the inputs and readout. The bottom
    layer, the inputs and the readout are drawn as for one layer (the same seed gives the same ones); each layer
    above is drawn after them, like the bottom one, and reads the states of the layer below (H wide)."""
    dtype = DTYPES[cfg.dtype]
    gen = torch.Generator().manual_seed(cfg.seed)
    nets = [CELLS[cfg.cell].build(cfg, cfg.hidden, gen, dtype)]
    x, h0, v = make_inputs(cfg, gen, dtype)
    h0s = [h0]
    for _ in range(1, cfg.layers):
        nets.append(CELLS[cfg.cell].build(cfg, cfg.hidden, gen, dtype))
        h0s.append(torch.randn(cfg.batch, cfg.hidden, generator=gen, dtype=dtype) * cfg.h0_scale)
    return nets, x, h0s, v


def _first_bad_index(norms: np.ndarray) -> int | None:
    bad = np.flatnonzero(~np.isfinite(norms))
    return int(bad[0]) if bad.size else None


def _batch_mean_norm(g: torch.Tensor) -> np.ndarray:
    """Per-sequence 2-norm (in float64) averaged over the batch, reversed so index = distance."""
    with torch.no_grad():
        norms = step_norms(g).mean(dim=1)
    return norms.flip(0).numpy()


def _zero_cause(cfg: UnrollConfig, trace, zero_at: int | None) -> str | None:
    """Why the curve is exactly 0 from `zero_at` on. Only a ReLU has a derivative that is exactly 0 (a unit that is
    off); tanh, the sigmoid, the gates and the diagonal cells' factors are never 0, so their exact zeros are a
    precision running out (a derivative that rounds to 0 is one too: float64 carries it further). A ReLU network's
    zero is the derivative's when, for every sequence, the signal one step before its first zero met only units
    that are off: g ⊙ f′ is exactly 0 there (multiplying by f′ = 1 loses nothing, so it is no underflow)."""
    if zero_at is None:
        return None
    if cfg.cell != "rnn" or cfg.activation != "relu":
        return "underflow"
    with torch.no_grad():
        per_sequence = step_norms(trace.g)                       # (T, B), state index t = T − 1 − distance
        for b in range(per_sequence.shape[1]):
            zeros = torch.nonzero(per_sequence[:, b] == 0).flatten()
            t = int(zeros.max())                                 # the latest state (the nearest distance) at 0
            if t + 1 >= per_sequence.shape[0]:
                return "underflow"
            passed = trace.g[t + 1, b] * (trace.h[t + 1, b] > 0)
            if bool(passed.abs().amax() > 0):
                return "underflow"
    return "zero_derivative"


def _clip(cfg: UnrollConfig, param_grads: list) -> tuple[float, float]:
    """Total gradient norm before clipping (float64), and the factor clipping would scale the update
    by: 1 when clipping is off or idle, NaN when the gradient is not finite (nothing to rescale)."""
    total = total_norm(param_grads)
    if not np.isfinite(total):
        return total, float("nan")
    if cfg.clip is None or total == 0:
        return total, 1.0
    if cfg.clip_mode == "norm":                   # exactly what clip_gradients multiplies by
        return total, min(1.0, cfg.clip / total)
    params = []
    for grad in param_grads:
        p = torch.nn.Parameter(torch.empty_like(grad))
        p.grad = grad.detach().clone()
        params.append(p)
    before, after, _ = clip_gradients(params, cfg.clip, cfg.clip_mode)
    return before, after / before


def _run(cfg: UnrollConfig):
    """The network's one-pass probe: (top layer's net, inputs, its h0, the top layer's trace, every layer's states,
    the stack's trace or None). With layers > 1 the top layer's trace feeds every one-layer field of the result."""
    spec = CELLS[cfg.cell]
    if cfg.layers == 1:
        net, x, h0, v = build(cfg)
        trace = spec.probe(net, x, h0, v, cfg.loss_on)
        return net, x, h0, trace, [trace.h], None
    nets, x, h0s, v = build_stack(cfg)
    stacked = stack.probe(nets, x, h0s, v, cfg.loss_on, lyapunov=spec.lyapunov is not None)
    return nets[-1], x, h0s[-1], stacked.top, stacked.states, stacked


def _layer_curves(grad_norm: np.ndarray, cell_grad_norm: np.ndarray | None,
                  stacked: stack.StackTrace | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Every layer's curve, bottom first, the top layer's being grad_norm (and the LSTM's cell-state curves)."""
    lower = [_batch_mean_norm(g) for g in stacked.g[:-1]] if stacked else []
    layer_grad_norm = np.stack(lower + [grad_norm]) if lower else grad_norm[None]
    if cell_grad_norm is None:
        return layer_grad_norm, None
    lower_c = [_batch_mean_norm(g) for g in stacked.gc[:-1]] if stacked and stacked.gc is not None else []
    return layer_grad_norm, np.stack(lower_c + [cell_grad_norm]) if lower_c else cell_grad_norm[None]


def _overflow(cfg: UnrollConfig, every_state: list, curves: list) -> tuple[dict | None, int | None]:
    """Where the numbers first stopped being finite, and the forward step that blew up (None: the forward pass
    stayed finite). A blown-up forward state makes every gradient behind it undefined: those entries of `curves`
    (grad_norm first, then the other per-distance arrays) become NaN."""
    with torch.no_grad():       # a state that blew up in any layer (every layer above reads it)
        state_ok = np.logical_and.reduce([torch.isfinite(h.abs().amax(dim=(1, 2))).numpy() for h in every_state])
    grad_norm = curves[0]
    if not state_ok.all():
        bad_step = int(np.flatnonzero(~state_ok)[0])
        for curve in curves:
            if curve is not None:
                curve[..., 1:] = np.nan
        return {"where": "forward", "forward_step": bad_step, "distance": cfg.seq_len - 1 - bad_step,
                "kind": "nan" if any(torch.isnan(h[bad_step]).any().item() for h in every_state) else "inf"}, bad_step
    if (bad_distance := _first_bad_index(grad_norm)) is not None:
        return {"where": "backward", "forward_step": None, "distance": bad_distance,
                "kind": "nan" if np.isnan(grad_norm[bad_distance]) else "inf"}, None
    return None, None


def _theory(cfg: UnrollConfig, net, trace, grad_norm: np.ndarray, distance: np.ndarray, stacked: bool):
    """The cell's theory line as drawn (None where it has none) and its curve scaled to grad_norm[0]."""
    spec = CELLS[cfg.cell]
    theory = spec.theory(cfg, net, trace) if spec.theory is not None else None
    if theory is None:
        return None, None
    if stacked:
        theory = replace(theory, rate=None, curve=None, label=theory.label.split(",")[0], note=STACKED_NOTE)
    # The bound and the theory lines follow one loss's signal back along one path of Jacobians; with a loss on
    # every step the gradient at distance k sums k + 1 such signals, so they bound or predict nothing there.
    if cfg.loss_on != "last":
        return replace(theory, curve=None, note=theory.note + " " + ALL_STEPS_NOTE), None
    if not np.isfinite(grad_norm[0]):
        return theory, None
    if theory.curve is not None:
        return theory, grad_norm[0] * np.asarray(theory.curve, dtype=float)
    if theory.rate is not None:
        return theory, grad_norm[0] * np.power(theory.rate, distance.astype(float))
    return theory, None


def unroll(cfg: UnrollConfig) -> UnrollResult:
    """Unroll the network of `cfg` and measure the gradient norm at every time-step distance."""
    spec = CELLS[cfg.cell]
    net, x, h0, trace, every_state, stacked = _run(cfg)
    distance = np.arange(cfg.seq_len)
    grad_norm = _batch_mean_norm(trace.g)
    cell_grad_norm = _batch_mean_norm(trace.gc) if trace.gc is not None else None
    layer_grad_norm, layer_cell_grad_norm = _layer_curves(grad_norm, cell_grad_norm, stacked)
    overflow, bad_step = _overflow(cfg, every_state, [grad_norm, layer_grad_norm, cell_grad_norm,
                                                      layer_cell_grad_norm])
    zero = np.flatnonzero(np.isfinite(grad_norm) & (grad_norm == 0))
    reached_zero_at = int(zero[0]) if zero.size and grad_norm[0] > 0 else None

    spectral = spectrum(net.recurrent_block)
    gamma = spec.gamma(cfg.activation) if spec.gamma is not None else None
    bound = (pascanu_bound(float(grad_norm[0]), spectral.lambda1, gamma, distance)
             if gamma is not None and cfg.loss_on == "last" else np.full(distance.shape, np.nan))
    total, factor = _clip(cfg, trace.param_grads)
    theory, theory_curve = _theory(cfg, net, trace, grad_norm, distance, stacked is not None)
    if stacked:
        lyapunov = stacked.lyapunov
    else:
        lyapunov = (spec.lyapunov(net, trace, x, h0) if spec.lyapunov is not None and bad_step is None
                    else np.array([]))
    critical, critical_note = critical_weight_scale(cfg)
    if stacked and critical is not None:
        critical, critical_note = None, STACKED_CRITICAL_NOTE
    return UnrollResult(
        config=cfg, distance=distance, grad_norm=grad_norm, cell_grad_norm=cell_grad_norm,
        bound=bound, rate=fit_rate(distance, grad_norm), overflow=overflow, reached_zero_at=reached_zero_at,
        regime=classify_regime(_end_to_start(grad_norm), overflow is not None, reached_zero_at is not None),
        spectrum=spectral, gamma=gamma, saturation=trace.saturation.to(torch.float64).numpy(),
        saturation_label=spec.carry_label, param_grad_norm=total, clip_factor=factor,
        clipped_grad_norm=grad_norm * factor if cfg.clip is not None and np.isfinite(factor) else None,
        mean_field_rate=theory.rate if theory is not None and theory.mean_field else None,
        theory_curve=theory_curve, theory_label=theory.label if theory else "",
        theory_rate=(theory.rate if theory is not None and theory.rate is not None
                     else fit_rate(distance, theory_curve) if theory_curve is not None else None),
        theory_note=theory.note if theory else "", lyapunov=np.asarray(lyapunov, dtype=float),
        zero_cause=_zero_cause(cfg, trace, reached_zero_at), critical_weight_scale=critical,
        critical_note=critical_note, layer_grad_norm=layer_grad_norm, layer_cell_grad_norm=layer_cell_grad_norm)
