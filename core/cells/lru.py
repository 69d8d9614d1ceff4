"""The Linear Recurrent Unit (Orvieto et al. 2023, "Resurrecting recurrent neural networks for long sequences",
arXiv 2303.06349): a diagonal complex linear recurrence x_t = Λ ⊙ x_{t−1} + γ ⊙ (B u_t).

λ_j = exp(−exp(ν_j) + i·exp(θ_j)) keeps |λ_j| < 1 for any ν; the ring initialisation draws |λ| uniformly by
area on [r_min, r_max] and the phases on [0, max_phase]; the normalisation γ_j = √(1 − |λ_j|²) (a switch) keeps
the state's variance at the input's. Defaults: the paper's long-range setting, r_min = 0.9, r_max = 0.999 (its
pseudo-code's general default is [0, 1]), max_phase = 2π. The probe's state is x (H complex numbers, 2H reals)
and its loss a fixed real unit readout of Re(x_T): L = v·Re(x_T), so ∂L/∂x_T = v has norm 1 as for every cell.

Everything is elementwise, so the whole probe is vectorised: the states and ∂L/∂x_t by linear scans, the
parameter gradients in closed form (checked against autograd in the tests). The Jacobian is diag(Λ): the curve
is exactly ‖conj(Λ)^k v‖, and the Lyapunov exponents are the ln|λ_j|.
"""
from __future__ import annotations

import numpy as np
import torch

from ..errors import ConfigError
from ..fields import FieldSpec, Setting
from ..lyapunov import diagonal_exponents
from .base import CellSpec, Network, Theory, Trace, UnrollCost, linear_scan
from .layers import LRULayer

COMPLEX = {torch.float32: torch.complex64, torch.float64: torch.complex128}

# The LRU's own settings (the configs, the CLI, the URLs and both pages' controls read them from here).
# Defaults: Orvieto et al. 2023's long-range setting; max_phase ≈ 2π (its slider steps by 0.01).
SETTINGS = {
    "r_min": Setting(0.9, FieldSpec("float", "LRU: smallest |λ| of the ring initialisation.", lo=0.0, hi=1.0,
                                    widget="number_input", label="r min", step=0.01, fmt="%.3f")),
    "r_max": Setting(0.999, FieldSpec("float", "LRU: largest |λ| of the ring initialisation (at least r_min).",
                                      lo=0.0, hi=1.0, widget="number_input", label="r max", step=0.001, fmt="%.3f")),
    "max_phase": Setting(6.28, FieldSpec("float", "LRU: the eigenvalues' phases are drawn from [0, max_phase].",
                                         lo=0.0, hi=6.2832, widget="slider", label="Max phase", step=0.01, ui_hi=6.28)),
    "lru_norm": Setting("on", FieldSpec("choice", "LRU: scale each input by γ_j = √(1 − |λ_j|²) (on) or not (off).",
                                        ("on", "off"), widget="radio", label="Normalisation γ")),
}


def check(cfg) -> None:
    """The ring is [r_min, r_max]."""
    if cfg.r_max < cfg.r_min:
        raise ConfigError("r_max", f"at least r_min ({cfg.r_min:g})", cfg.r_max)


def describe(cfg) -> list[str]:
    return [f"|λ| in [{cfg.r_min:g}, {cfg.r_max:g}]", f"phases up to {cfg.max_phase:g}",
            f"normalisation {cfg.lru_norm}"]


def build(cfg, input_size: int, generator: torch.Generator, dtype: torch.dtype) -> Network:
    """ν, θ by the ring initialisation; B with entries N(0, 1/(2D)) in each of its real and imaginary parts."""
    h = cfg.hidden
    u1 = torch.rand(h, generator=generator, dtype=torch.float64)
    u2 = torch.rand(h, generator=generator, dtype=torch.float64)
    r2 = u1 * (cfg.r_max ** 2 - cfg.r_min ** 2) + cfg.r_min ** 2           # |λ|², uniform by area on the ring
    nu_log = torch.log(-0.5 * torch.log(r2.clamp(min=1e-300)))
    theta_log = torch.log(cfg.max_phase * u2)
    scale = (2 * input_size) ** -0.5
    b_re = torch.randn(h, input_size, generator=generator, dtype=torch.float64) * scale
    b_im = torch.randn(h, input_size, generator=generator, dtype=torch.float64) * scale
    params = {"nu_log": nu_log.to(dtype), "theta_log": theta_log.to(dtype), "B_re": b_re.to(dtype),
              "B_im": b_im.to(dtype)}
    return Network("lru", f"linear, normalisation {cfg.lru_norm}", params, torch.diag(eigenvalues(params)),
                   options={"normalize": cfg.lru_norm == "on"})


def eigenvalues(params: dict) -> torch.Tensor:
    """λ_j = exp(−exp(ν_j) + i·exp(θ_j))."""
    return torch.exp(torch.complex(-torch.exp(params["nu_log"]), torch.exp(params["theta_log"])))


def gamma(params: dict, normalize: bool) -> torch.Tensor:
    lam_abs2 = torch.exp(-2 * torch.exp(params["nu_log"]))
    return torch.sqrt(1 - lam_abs2) if normalize else torch.ones_like(lam_abs2)


def probe(net: Network, x: torch.Tensor, h0: torch.Tensor, v: torch.Tensor, loss_on: str) -> Trace:
    p = net.params
    normalize = net.options["normalize"]
    with torch.no_grad():
        lam = eigenvalues(p)
        gam = gamma(p, normalize)
        b_mat = torch.complex(p["B_re"], p["B_im"])
        bu = torch.einsum("hd,tbd->tbh", b_mat, x.to(b_mat.dtype))                    # B u_t, (T, B, H)
        states = gam * bu
        states[0] += lam * h0.to(states.dtype)                                        # x_0 = h0 (real)
        linear_scan(states, lam, reverse=False)                                        # x_t = λ x_{t−1} + γ B u_t
        seed = torch.zeros_like(states)
        if loss_on == "all":
            seed += v
        else:
            seed[-1] += v
        g = linear_scan(seed, lam.conj(), reverse=True)                               # ∂L/∂x_t (torch's convention)
        prev = torch.cat([h0.to(states.dtype).unsqueeze(0), states[:-1]])
        grad_lam = (g * prev.conj()).sum(dim=(0, 1))                                   # ∂L/∂λ, complex
        grad_gamma = (g.conj() * bu).real.sum(dim=(0, 1))                              # γ is real
        grad_b = torch.einsum("tbh,tbd->hd", g * gam, x.to(g.dtype))
        e_nu, e_theta = torch.exp(p["nu_log"]), torch.exp(p["theta_log"])
        grad_nu = (grad_lam.conj() * lam * -e_nu).real
        grad_theta = (grad_lam.conj() * lam * 1j * e_theta).real
        if normalize:                                                                   # γ = √(1 − exp(−2e^ν))
            grad_nu = grad_nu + grad_gamma * torch.exp(-2 * e_nu) * e_nu / gam
        carry = lam.abs().expand(x.shape[0], -1).clone()
    return Trace(states, g, None, carry, [grad_nu, grad_theta, grad_b.real, grad_b.imag])


def lyapunov(net: Network, trace: Trace, x: torch.Tensor, h0: torch.Tensor):
    """diag(Λ) at every step: the exponents are ln|λ_j|."""
    return diagonal_exponents(torch.log(eigenvalues(net.params).abs()))


def theory(cfg, net: Network, trace: Trace) -> Theory:
    """Exact: ∂L/∂x_{T−k} = conj(Λ)^k v (loss on the last step), or Σ_{j≤k} conj(Λ)^j v (on every step)."""
    lam_abs = eigenvalues(net.params).abs().to(torch.float64).numpy()
    k = np.arange(cfg.seq_len)[:, None]
    if cfg.loss_on == "last":
        v = trace.g[-1, 0].abs().to(torch.float64).numpy()
        curve = np.sqrt(((v ** 2) * lam_abs ** (2 * k)).sum(axis=1))
        note = ("The LRU's Jacobian is the diagonal matrix Λ, the same at every step, so the curve is known exactly: "
                "‖conj(Λ)^k v‖ = √(Σ_j v_j²|λ_j|^(2k)). Each unit keeps its |λ_j| of the gradient per step: with "
                f"|λ| in [{cfg.r_min:g}, {cfg.r_max:g}] the slowest units carry it far.")
        return Theory(None, "exact from |λ_j|", note, curve=curve)
    return Theory(None, "exact from |λ_j|", "With a loss on every step the curve sums every step's geometric decay; "
                  "the line is drawn for the loss on the last step only.")


SPEC = CellSpec(
    settings=SETTINGS, check=check, describe=describe, uses=(), train_uses=(),
    train_layer=LRULayer,
    name="lru", label="LRU (linear recurrent unit)", short="LRU",
    help="Orvieto et al. 2023: a diagonal complex linear recurrence whose eigenvalues sit on a ring just inside the "
         "unit circle, so the gradient neither explodes nor vanishes quickly.",
    build=build, probe=probe, carry_label="|λ_j| (the same at every step)", spectrum_label="diag(Λ)",
    cost=UnrollCost(flops_per_bh2=20, overhead_s=5e-6, tensors_per_step=24, batch_floor=0.1,
                    elementwise_s=100e-9),
    lyapunov=lyapunov, theory=theory, train_gates=5, train_step_overhead_s=90e-6, train_batch_floor=0.0,
    train_tensors_per_step=24)

