"""The engine against independent truth: torch.autograd, float64 finite differences, closed forms."""
import contextlib
import importlib
import math

import numpy as np
import pytest
import torch

import core
from core import probe
from core.cells import ACTIVATION_FN, CELLS
from core.cells import lstm as lstm_cell
from core.cells import rnn as rnn_cell
from core.cells.base import SCAN_LOOP_FROM

ACTS = ["tanh", "sigmoid", "relu", "linear"]


def autograd_rnn_curve(cfg):
    """Reference: the same weights stepped under autograd; h_t.grad is the total derivative."""
    net, x, h0, v = probe.build(cfg)
    w_hh, w_ih, b = (net.params[k].clone().requires_grad_() for k in ("w_hh", "w_ih", "b"))
    f = ACTIVATION_FN[cfg.activation]
    h, states, loss = h0, [], 0.0
    for t in range(cfg.seq_len):
        h = f(x[t] @ w_ih.T + b + h @ w_hh.T)
        h.retain_grad()
        states.append(h)
        if cfg.loss_on == "all" or t == cfg.seq_len - 1:
            loss = loss + (h @ v).sum()
    loss.backward()
    norms = torch.stack([s.grad.norm(dim=-1).mean() for s in states]).flip(0)
    total = torch.cat([p.grad.flatten() for p in (w_hh, w_ih, b)]).norm()
    return norms.detach().numpy(), float(total)


def rnn_loss_from(cfg, t0, h_start):
    """Loss of the vanilla RNN when the state at step t0 is replaced by h_start (float64)."""
    net, x, h0, v = probe.build(cfg)
    f = ACTIVATION_FN[cfg.activation]
    h, loss = h_start, 0.0
    if cfg.loss_on == "all":
        loss += float((h @ v).sum())
    for t in range(t0 + 1, cfg.seq_len):
        h = f(x[t] @ net.params["w_ih"].T + net.params["b"] + h @ net.params["w_hh"].T)
        if cfg.loss_on == "all" or t == cfg.seq_len - 1:
            loss += float((h @ v).sum())
    return loss


@pytest.mark.parametrize("activation", ACTS)
@pytest.mark.parametrize("loss_on", ["last", "all"])
def test_rnn_curve_matches_autograd(activation, loss_on):
    cfg = core.UnrollConfig(activation=activation, seq_len=40, hidden=16, batch=3, dtype="float64",
                            weight_scale=1.3, loss_on=loss_on, bias=0.1, h0_scale=0.5, seed=3)
    res = core.unroll(cfg)
    ref, ref_total = autograd_rnn_curve(cfg)
    np.testing.assert_allclose(res.grad_norm, ref, rtol=1e-9, atol=1e-300)
    assert res.param_grad_norm == pytest.approx(ref_total, rel=1e-9)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "linear"])
def test_rnn_gradient_matches_finite_differences(activation):
    cfg = core.UnrollConfig(activation=activation, seq_len=12, hidden=5, batch=1, dtype="float64",
                            weight_scale=1.5, seed=1)
    net, x, h0, v = probe.build(cfg)
    states = rnn_cell.forward(net, x, h0)
    trace = rnn_cell.backward(net, states.clone(), x, h0, v, "last")
    eps = 1e-6
    for t0 in (0, 5, 10):
        fd = np.zeros(cfg.hidden)
        for i in range(cfg.hidden):
            bump = torch.zeros_like(states[t0])
            bump[0, i] = eps
            fd[i] = (rnn_loss_from(cfg, t0, states[t0] + bump) - rnn_loss_from(cfg, t0, states[t0] - bump)) / (2 * eps)
        # central differences in float64: truncation O(eps²) and rounding ~1e-16·|L|/eps
        np.testing.assert_allclose(trace.g[t0, 0].numpy(), fd, rtol=1e-6, atol=max(1e-9, 1e-6 * np.abs(fd).max()))


def torch_cell(cfg, net):
    """torch.nn.LSTMCell / GRUCell holding the network's weights: the independent reference."""
    kind = torch.nn.LSTMCell if cfg.cell == "lstm" else torch.nn.GRUCell
    cell = kind(cfg.hidden, cfg.hidden, dtype=torch.float64)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(net.params[name])
    return cell


def autograd_gated(cfg):
    """The cell stepped under autograd with retain_grad on every state: ∂L/∂h_t, ∂L/∂c_t and ∂L/∂θ."""
    net, x, h0, v = probe.build(cfg)
    cell = torch_cell(cfg, net)
    h, c, hs, cs, loss = h0.clone(), torch.zeros_like(h0), [], [], 0.0
    for t in range(cfg.seq_len):
        if cfg.cell == "lstm":
            h, c = cell(x[t], (h, c))
            c.retain_grad()
            cs.append(c)
        else:
            h = cell(x[t], h)
        h.retain_grad()
        hs.append(h)
        if cfg.loss_on == "all" or t == cfg.seq_len - 1:
            loss = loss + (h @ v).sum()
    loss.backward()
    grads = [getattr(cell, n).grad for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    return (torch.stack([s.grad for s in hs]), torch.stack([s.grad for s in cs]) if cs else None, grads)


def assert_matches_autograd(trace, cfg):
    """A gated cell's probe against autograd_gated: ∂L/∂h_t, ∂L/∂c_t (LSTM) and ∂L/∂θ to 1e-9 (float64)."""
    g, gc, grads = autograd_gated(cfg)
    np.testing.assert_allclose(trace.g.numpy(), g.numpy(), rtol=1e-9, atol=1e-12)
    if gc is not None:
        np.testing.assert_allclose(trace.gc.numpy(), gc.numpy(), rtol=1e-9, atol=1e-12)
    for got, want in zip(trace.param_grads, grads):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("loss_on", ["last", "all"])
@pytest.mark.parametrize("seed,seq_len,scale", [(0, 1, 1.0), (1, 9, 0.5), (2, 40, 1.3), (3, 60, 3.0)])
@pytest.mark.parametrize("forward", ["fused", "stepped"])
def test_gated_probe_matches_autograd(cell, loss_on, seed, seq_len, scale, forward, monkeypatch):
    """The written-out LSTM and GRU probes against autograd, to 1e-9 in float64, through both forward passes
    (torch's kernel + recomputed gates for small batch × hidden, the stepped loop that keeps them for large)."""
    module = importlib.import_module(f"core.cells.{cell}")
    monkeypatch.setattr(module, "STEPPED_FORWARD", 1 if forward == "stepped" else 10**9)
    cfg = core.UnrollConfig(cell=cell, seq_len=seq_len, hidden=7, batch=3, dtype="float64", weight_scale=scale,
                            bias=0.3 * seed - 0.4, h0_scale=0.5, input_scale=1.5, seed=seed, loss_on=loss_on)
    net, x, h0, v = probe.build(cfg)
    trace = CELLS[cell].probe(net, x, h0, v, loss_on)
    assert_matches_autograd(trace, cfg)


@pytest.mark.parametrize("forward", ["fused", "stepped"])
def test_long_lstm_runs_in_chunks_with_the_same_gradients(monkeypatch, forward):
    """Gradient checkpointing: chunks of 5 steps give what one pass gives."""
    monkeypatch.setattr(lstm_cell, "STEPPED_FORWARD", 1 if forward == "stepped" else 10**9)
    cfg = core.UnrollConfig(cell="lstm", seq_len=37, hidden=6, batch=3, dtype="float64", weight_scale=1.3,
                            bias=0.2, h0_scale=0.5, seed=4, loss_on="all")
    monkeypatch.setattr(lstm_cell, "CHUNK_BYTES", 3 * 6 * 8 * lstm_cell.CHUNK_TENSORS * 5)
    net, x, h0, v = probe.build(cfg)
    trace = lstm_cell.probe(net, x, h0, v, "all")
    assert_matches_autograd(trace, cfg)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gated_gradient_matches_finite_differences(cell):
    cfg = core.UnrollConfig(cell=cell, seq_len=10, hidden=4, batch=1, dtype="float64", seed=2,
                            weight_scale=1.2, h0_scale=0.3)
    net, x, h0, v = probe.build(cfg)
    trace = CELLS[cell].probe(net, x, h0, v, "last")
    module = torch_cell(cfg, net)

    def loss_from(t0, h_start, c_start):
        h, c = h_start, c_start
        with torch.no_grad():
            for t in range(t0 + 1, cfg.seq_len):
                if cell == "lstm":
                    h, c = module(x[t], (h, c))
                else:
                    h = module(x[t], h)
        return float((h @ v).sum())

    with torch.no_grad():   # states along the way, to restart from
        h, c, hs, cs = h0, torch.zeros_like(h0), [], []
        for t in range(cfg.seq_len):
            if cell == "lstm":
                h, c = module(x[t], (h, c))
            else:
                h = module(x[t], h)
            hs.append(h)
            cs.append(c)
    def output_gate(t0):
        h_prev = hs[t0 - 1] if t0 else h0
        with torch.no_grad():
            gates = x[t0] @ module.weight_ih.T + module.bias_ih + h_prev @ module.weight_hh.T + module.bias_hh
        return torch.sigmoid(gates[:, 3 * cfg.hidden:])

    eps = 1e-6
    for t0 in (0, 4, 8):
        for which in ("h", "c") if cell == "lstm" else ("h",):
            fd = np.zeros(cfg.hidden)
            for i in range(cfg.hidden):
                bump = torch.zeros_like(h0)
                bump[0, i] = eps
                if which == "h":        # the state (h_t, c_t) with h_t moved
                    hp, hm, cp, cm = hs[t0] + bump, hs[t0] - bump, cs[t0], cs[t0]
                else:                   # c_t moved; h_t = o_t·tanh(c_t) moves with it (every path)
                    cp, cm = cs[t0] + bump, cs[t0] - bump
                    hp, hm = output_gate(t0) * torch.tanh(cp), output_gate(t0) * torch.tanh(cm)
                fd[i] = (loss_from(t0, hp, cp) - loss_from(t0, hm, cm)) / (2 * eps)
            got = (trace.g if which == "h" else trace.gc)[t0, 0].numpy()
            np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("alpha", [0.5, 0.9, 1.0, 1.1])
def test_linear_orthogonal_curve_is_exactly_alpha_to_the_k(alpha):
    cfg = core.UnrollConfig(activation="linear", init="orthogonal", weight_scale=alpha, seq_len=60,
                            hidden=32, dtype="float64")
    res = core.unroll(cfg)
    np.testing.assert_allclose(res.grad_norm, alpha ** res.distance, rtol=1e-10)
    assert res.rate == pytest.approx(alpha, rel=1e-10)
    assert res.spectrum.lambda1 == pytest.approx(alpha) and res.spectrum.spectral_radius == pytest.approx(alpha)
    np.testing.assert_allclose(res.bound, res.grad_norm, rtol=1e-9)   # the bound is tight here


@pytest.mark.parametrize("activation", ACTS)
@pytest.mark.parametrize("seed", [0, 1])
def test_curve_never_exceeds_pascanu_bound(activation, seed):
    cfg = core.UnrollConfig(activation=activation, seq_len=80, hidden=24, seed=seed, weight_scale=1.5,
                            dtype="float64")
    res = core.unroll(cfg)
    assert np.all(res.grad_norm <= res.bound * (1 + 1e-9))


def test_identity_relu_keeps_gradient_at_one_without_input():
    res = core.unroll(core.UnrollConfig(activation="relu", init="identity", input_scale=0, h0_scale=1,
                                        seq_len=50, dtype="float64"))
    # units with h0 > 0 pass the signal unchanged; the rest are dead: the norm cannot grow
    assert np.all(res.grad_norm <= 1 + 1e-12) and res.grad_norm[-1] > 0


def test_regimes_for_textbook_settings():
    assert core.unroll(core.UnrollConfig(weight_scale=0.5)).regime == "vanishing"
    assert core.unroll(core.UnrollConfig(activation="linear", init="orthogonal", weight_scale=1.0)).regime == "stable"
    growing = core.UnrollConfig(activation="linear", init="orthogonal", weight_scale=1.2)
    assert core.unroll(growing).regime == "exploding"


def test_backward_overflow_is_located_and_float64_postpones_it():
    cfg = core.UnrollConfig(activation="linear", init="orthogonal", weight_scale=3.0, seq_len=200, input_scale=0)
    res = core.unroll(cfg)
    expected = math.ceil(math.log(np.finfo(np.float32).max) / math.log(3.0))
    assert res.overflow["where"] == "backward"
    assert abs(res.overflow["distance"] - expected) <= 1
    assert res.regime == "exploding"
    assert np.all(np.isfinite(res.grad_norm[:res.overflow["distance"]]))
    assert core.unroll(core.UnrollConfig(**{**cfg.to_dict(), "dtype": "float64"})).overflow is None


def test_forward_overflow_marks_gradients_undefined():
    res = core.unroll(core.UnrollConfig(activation="relu", weight_scale=10.0, seq_len=100))
    assert res.overflow["where"] == "forward"
    assert res.overflow["distance"] == 99 - res.overflow["forward_step"]
    assert np.isnan(res.grad_norm[1:]).all() and res.grad_norm[0] == pytest.approx(1.0, rel=1e-7)
    assert res.regime == "exploding"


def test_underflow_to_zero_is_vanishing():
    res = core.unroll(core.UnrollConfig(activation="sigmoid", weight_scale=0.5, seq_len=400))
    assert res.reached_zero_at is not None and res.grad_norm[res.reached_zero_at] == 0
    assert res.regime == "vanishing"


def test_lstm_reports_cell_gradient_and_gru_does_not():
    lstm = core.unroll(core.UnrollConfig(cell="lstm", seq_len=30))
    gru = core.unroll(core.UnrollConfig(cell="gru", seq_len=30))
    assert lstm.cell_grad_norm is not None and lstm.cell_grad_norm.shape == (30,)
    assert gru.cell_grad_norm is None
    assert np.isnan(lstm.bound).all()        # the Pascanu bound is for the vanilla RNN
    assert lstm.saturation.shape == (30, 64) and ((lstm.saturation > 0) & (lstm.saturation < 1)).all()


@pytest.mark.parametrize("mode", ["norm", "value"])
def test_clip_factor_matches_torch_clipping(mode):
    cfg = core.UnrollConfig(weight_scale=2.0, seq_len=50, clip=0.5, clip_mode=mode, dtype="float64")
    res = core.unroll(cfg)
    _, total = autograd_rnn_curve(cfg)
    assert res.param_grad_norm == pytest.approx(total, rel=1e-9)
    if mode == "norm":
        assert res.clip_factor == pytest.approx(0.5 / (total + 1e-6), rel=1e-9)
        assert res.param_grad_norm * res.clip_factor <= 0.5 + 1e-9
    else:
        assert 0 < res.clip_factor < 1
    np.testing.assert_allclose(res.clipped_grad_norm, res.grad_norm * res.clip_factor)


def test_no_clipping_when_under_threshold():
    res = core.unroll(core.UnrollConfig(weight_scale=0.5, clip=1e6))
    assert res.clip_factor == 1.0


def test_same_seed_same_curve_different_seed_different_curve():
    a = core.unroll(core.UnrollConfig(seed=5)).grad_norm
    b = core.unroll(core.UnrollConfig(seed=5)).grad_norm
    c = core.unroll(core.UnrollConfig(seed=6)).grad_norm
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_gaussian_init_spectral_radius_is_about_s():
    for s in (0.5, 2.0):
        res = core.unroll(core.UnrollConfig(weight_scale=s, hidden=256, seq_len=2))
        assert res.spectrum.spectral_radius == pytest.approx(s, rel=0.1)


@pytest.mark.parametrize("field,value,fragment", [
    ("weight_scale", 0, "weight_scale must be a number from 0.01 to 100"),
    ("seq_len", 0, "seq_len must be an integer from 1 to 10000"),
    ("seq_len", 2.5, "seq_len must be an integer"),
    ("cell", "transformer", "cell must be one of rnn, lstm, gru"),
    ("clip", -1, "clip must be a number greater than 0"),
    ("input_scale", float("nan"), "input_scale must be a number from 0 to 100"),
])
def test_bad_config_names_field_and_range(field, value, fragment):
    with pytest.raises(core.ConfigError) as err:
        core.UnrollConfig(**{field: value})
    assert fragment in str(err.value) and err.value.field == field


def test_config_refuses_what_would_not_fit_its_budget():
    with pytest.raises(core.BudgetError, match="memory") as err:
        core.UnrollConfig(seq_len=10_000, hidden=1024, batch=256)
    assert "lower the sequence length T, the batch or the hidden size" in str(err.value)
    with pytest.raises(core.BudgetError, match=r"about \d+ s \(the budget is 30 s\)"):     # time, not memory
        core.UnrollConfig(cell="lstm", seq_len=10_000, hidden=1024, batch=2)
    # the seed has no say in the estimate
    for seed in (0, 1, 12345):
        with pytest.raises(core.BudgetError):
            core.UnrollConfig(cell="lstm", seq_len=10_000, hidden=1024, batch=2, seed=seed)
    for cell in ("rnn", "lstm", "gru"):        # T = 10,000 with H = 256 runs for every cell
        core.UnrollConfig(cell=cell, seq_len=10_000, hidden=256)


def test_long_sequence_runs_under_two_gigabytes():
    import resource
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    res = core.unroll(core.UnrollConfig(seq_len=10_000, hidden=256))
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert res.grad_norm.shape == (10_000,)
    assert (after - before) * 1024 < 2 * 1024**3


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_weight_gradients_treat_subnormal_terms_as_zero_and_lose_nothing_visible(cell, monkeypatch):
    """float32, T 1000: the far steps' gradients are subnormal. The weight-gradient sums treat them as zero
    (a product reading subnormal operands runs several times slower on x86); the result equals the exact sums to
    float32 rounding, the curve itself keeps the subnormal values as torch computes them, and nothing after the
    probe flushes subnormals."""
    module = importlib.import_module(f"core.cells.{cell}")
    cfg = core.UnrollConfig(cell=cell, seq_len=1000, hidden=64, batch=1)
    net, x, h0, v = probe.build(cfg)
    with torch.no_grad():
        fast = CELLS[cell].probe(net, x, h0, v, "last")
        monkeypatch.setattr(module, "denormals_as_zero", contextlib.nullcontext)
        exact = CELLS[cell].probe(net, x, h0, v, "last")
    tiny = torch.finfo(torch.float32).tiny
    assert ((fast.g != 0) & (fast.g.abs() < tiny)).any()                 # subnormal terms were there to drop
    assert torch.equal(fast.g, exact.g)
    assert fast.gc is None or torch.equal(fast.gc, exact.gc)
    for got, want in zip(fast.param_grads, exact.param_grads):
        assert float((got.double() - want.double()).norm()) <= 1e-6 * float(want.double().norm())
    assert float(torch.tensor(tiny / 4) * 1.0) == tiny / 4               # the thread's flag is back to normal


def test_lstm_probe_with_cell_states_from_the_numpy_scan_matches_autograd():
    """Batch × hidden large enough that the recomputed cell states take linear_scan's NumPy loop, not the
    doubling passes of the small cases above: still autograd's numbers, to 1e-9 in float64."""
    cfg = core.UnrollConfig(cell="lstm", seq_len=50, hidden=64, batch=8, dtype="float64", weight_scale=1.2,
                            bias=0.5, h0_scale=0.5, seed=5, loss_on="all")
    assert cfg.batch * cfg.hidden * math.log2(cfg.seq_len) >= SCAN_LOOP_FROM
    net, x, h0, v = probe.build(cfg)
    trace = lstm_cell.probe(net, x, h0, v, "all")
    assert_matches_autograd(trace, cfg)


@pytest.mark.parametrize("make, field", [
    (lambda v: core.UnrollConfig(seed=v), "seed"), (lambda v: core.UnrollConfig(hidden=v), "hidden"),
    (lambda v: core.UnrollConfig(weight_scale=v), "weight_scale"),
    (lambda v: core.TrainConfig(seed=v), "seed"), (lambda v: core.TrainConfig(steps=v), "steps"),
    (lambda v: core.PhaseConfig(s_count=v), "s_count"), (lambda v: core.CliffConfig(resolution=v), "resolution"),
])
def test_huge_integers_and_numpy_booleans_are_refused_with_the_usual_message(make, field):
    import numpy as np
    for bad in (10**400, -10**400, np.True_, np.False_, True):
        with pytest.raises(core.ConfigError) as err:
            make(bad)
        assert str(err.value).startswith(f"{field} must be ") and len(str(err.value)) < 200
    assert "got 1000000000000000000000000000000000000000…" in str(pytest.raises(core.ConfigError, make, 10**400).value)
