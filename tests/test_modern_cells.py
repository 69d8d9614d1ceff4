"""LRU and minGRU against closed forms and against autograd (float64); the linear scan they share."""
import math

import numpy as np
import pytest
import torch

import core
from core import probe
from core.cells import CELLS
from core.cells import lru as lru_cell
from core.cells.base import linear_scan


def autograd_lru(cfg):
    """The recurrence stepped under autograd on complex tensors: ∂L/∂x_t and ∂L/∂(ν, θ, B_re, B_im)."""
    net, x, h0, v = probe.build(cfg)
    params = {k: t.clone().requires_grad_() for k, t in net.params.items()}
    lam = lru_cell.eigenvalues(params)
    gam = lru_cell.gamma(params, cfg.lru_norm == "on")
    b_mat = torch.complex(params["B_re"], params["B_im"])
    state, states, loss = h0.to(lam.dtype), [], 0.0
    for t in range(cfg.seq_len):
        state = lam * state + gam * (x[t].to(lam.dtype) @ b_mat.T)
        state.retain_grad()
        states.append(state)
        if cfg.loss_on == "all" or t == cfg.seq_len - 1:
            loss = loss + (state.real @ v).sum()
    loss.backward()
    return torch.stack([s.grad for s in states]), [params[k].grad for k in ("nu_log", "theta_log", "B_re", "B_im")]


def autograd_mingru(cfg):
    net, x, h0, v = probe.build(cfg)
    params = {k: t.clone().requires_grad_() for k, t in net.params.items()}
    h, states, loss = h0, [], 0.0
    for t in range(cfg.seq_len):
        z = torch.sigmoid(x[t] @ params["w_z"].T + params["b_z"])
        h = (1 - z) * h + z * (x[t] @ params["w_h"].T + params["b_h"])
        h.retain_grad()
        states.append(h)
        if cfg.loss_on == "all" or t == cfg.seq_len - 1:
            loss = loss + (h @ v).sum()
    loss.backward()
    return torch.stack([s.grad for s in states]), [params[k].grad for k in ("w_z", "b_z", "w_h", "b_h")]


@pytest.mark.parametrize("loss_on", ["last", "all"])
@pytest.mark.parametrize("norm", ["on", "off"])
def test_lru_probe_matches_autograd(loss_on, norm):
    cfg = core.UnrollConfig(cell="lru", seq_len=30, hidden=6, batch=3, dtype="float64", loss_on=loss_on,
                            lru_norm=norm, r_min=0.5, r_max=0.99, max_phase=3.0, h0_scale=0.7, seed=4)
    net, x, h0, v = probe.build(cfg)
    trace = CELLS["lru"].probe(net, x, h0, v, loss_on)
    g, grads = autograd_lru(cfg)
    np.testing.assert_allclose(trace.g.numpy(), g.numpy(), rtol=1e-9, atol=1e-12)
    for got, want in zip(trace.param_grads, grads):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("loss_on", ["last", "all"])
def test_mingru_probe_matches_autograd(loss_on):
    cfg = core.UnrollConfig(cell="mingru", seq_len=30, hidden=6, batch=3, dtype="float64", loss_on=loss_on,
                            bias=-0.5, h0_scale=0.7, seed=5)
    net, x, h0, v = probe.build(cfg)
    trace = CELLS["mingru"].probe(net, x, h0, v, loss_on)
    g, grads = autograd_mingru(cfg)
    np.testing.assert_allclose(trace.g.numpy(), g.numpy(), rtol=1e-9, atol=1e-12)
    for got, want in zip(trace.param_grads, grads):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("r", [0.5, 0.9, 0.999])
def test_lru_on_one_radius_without_normalisation_is_exactly_r_to_the_k(r):
    res = core.unroll(core.UnrollConfig(cell="lru", r_min=r, r_max=r, lru_norm="off", seq_len=200, dtype="float64"))
    np.testing.assert_allclose(res.grad_norm, r ** res.distance, rtol=1e-10)
    np.testing.assert_allclose(res.theory_curve, r ** res.distance, rtol=1e-10)       # its theory line is exact
    np.testing.assert_allclose(res.lyapunov, math.log(r), rtol=1e-10)
    assert res.spectrum.spectral_radius == pytest.approx(r)


@pytest.mark.parametrize("bias", [-2.0, 0.0, 1.5])
def test_mingru_with_constant_gates_is_exactly_one_minus_z_to_the_k(bias):
    """No input: z = σ(bias) at every step, and the curve is (1 − z)^k; it can never grow."""
    keep = 1 - 1 / (1 + math.exp(-bias))
    res = core.unroll(core.UnrollConfig(cell="mingru", input_scale=0.0, bias=bias, seq_len=80, dtype="float64"))
    np.testing.assert_allclose(res.grad_norm, keep ** res.distance, rtol=1e-10, atol=1e-300)
    assert res.mean_field_rate is None and res.theory_curve[1] == pytest.approx(keep)
    np.testing.assert_allclose(res.lyapunov, math.log(keep), rtol=1e-10)
    noisy = core.unroll(core.UnrollConfig(cell="mingru", input_scale=3.0, bias=bias, seq_len=80))
    assert np.all(np.diff(noisy.grad_norm) <= 1e-12)        # diag(1 − z_t) with 0 < 1 − z < 1: never grows


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
@pytest.mark.parametrize("width", [5, 2000])                 # the doubling passes, and the plain loop
@pytest.mark.parametrize("reverse", [False, True])
def test_linear_scan_matches_the_plain_recursion(dtype, width, reverse):
    gen = torch.Generator().manual_seed(0)
    values = torch.randn(37, 1, width, generator=gen, dtype=torch.float64).to(dtype)
    mult = (torch.rand(37, 1, width, generator=gen, dtype=torch.float64) * 1.2).to(dtype)
    want = values.clone()
    order = range(35, -1, -1) if reverse else range(1, 37)
    for t in order:
        want[t] = want[t] + mult[t] * want[t + 1 if reverse else t - 1]
    torch.testing.assert_close(linear_scan(values.clone(), mult, reverse), want, rtol=1e-12, atol=1e-12)
