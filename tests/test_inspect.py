"""core.inspect against an independent float64 reference: the module's own weights stepped cell by cell under
autograd, with retain_grad on every state, for every cell, depth, direction, layout and loss."""
import importlib
import itertools

import numpy as np
import pytest
import torch

import core

inspect_module = importlib.import_module("core.inspect")      # the module (core.inspect is the function)

KINDS = {
    "rnn_tanh": lambda d, h, n, bi, bf: torch.nn.RNN(d, h, n, nonlinearity="tanh", bidirectional=bi, batch_first=bf),
    "rnn_relu": lambda d, h, n, bi, bf: torch.nn.RNN(d, h, n, nonlinearity="relu", bidirectional=bi, batch_first=bf),
    "lstm": lambda d, h, n, bi, bf: torch.nn.LSTM(d, h, n, bidirectional=bi, batch_first=bf),
    "lstm_proj": lambda d, h, n, bi, bf: torch.nn.LSTM(d, h, n, proj_size=3, bidirectional=bi, batch_first=bf),
    "gru": lambda d, h, n, bi, bf: torch.nn.GRU(d, h, n, bidirectional=bi, batch_first=bf),
}
D, H, T, B = 4, 5, 7, 3


def make(kind, layers=2, bidirectional=False, batch_first=False, seed=0, scale=1.5):
    torch.manual_seed(seed)
    module = KINDS[kind](D, H, layers, bidirectional, batch_first).double()
    with torch.no_grad():                       # larger weights than torch's default, so the curves are not flat
        for p in module.parameters():
            p.mul_(scale)
    return module


def reference_step(module, kind, w, x_t, h, c):
    """One step of one direction, written from torch's documented equations."""
    if kind.startswith("rnn"):
        f = torch.relu if module.nonlinearity == "relu" else torch.tanh
        return f(x_t @ w["ih"].T + w["bih"] + h @ w["hh"].T + w["bhh"]), None
    if kind == "gru":
        gi, gh = x_t @ w["ih"].T + w["bih"], h @ w["hh"].T + w["bhh"]
        r = torch.sigmoid(gi[:, :H] + gh[:, :H])
        z = torch.sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
        n = torch.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
        return (1 - z) * n + z * h, None
    a = x_t @ w["ih"].T + w["bih"] + h @ w["hh"].T + w["bhh"]
    i, f, g, o = torch.sigmoid(a[:, :H]), torch.sigmoid(a[:, H:2 * H]), torch.tanh(a[:, 2 * H:3 * H]), \
        torch.sigmoid(a[:, 3 * H:])
    c = f * c + i * g
    h = o * torch.tanh(c)
    if "hr" in w:
        h = h @ w["hr"].T
    return h, c


def reference(module, kind, x, v, loss_on):
    """{(layer, direction): (‖∂L/∂h_t‖ mean over batch, the same for c or None)} and the top output."""
    if module.batch_first:
        x = x.transpose(0, 1)
    P = module.proj_size or H
    inp, states = x, {}
    for layer in range(module.num_layers):
        outs = []
        for reverse in ([False, True] if module.bidirectional else [False]):
            sfx = f"_l{layer}" + ("_reverse" if reverse else "")
            w = {k: getattr(module, f"{name}{sfx}").detach().clone()
                 for k, name in (("ih", "weight_ih"), ("hh", "weight_hh"), ("bih", "bias_ih"), ("bhh", "bias_hh"))}
            if module.proj_size:
                w["hr"] = getattr(module, "weight_hr" + sfx).detach().clone()
            h = torch.zeros(B, P, dtype=torch.float64, requires_grad=True)
            c = torch.zeros(B, H, dtype=torch.float64, requires_grad=True)
            hs, cs = [None] * T, [None] * T
            for t in (range(T - 1, -1, -1) if reverse else range(T)):
                h, c = reference_step(module, kind, w, inp[t], h, c)
                h.retain_grad()
                hs[t] = h
                if c is not None:
                    c.retain_grad()
                    cs[t] = c
            states[(layer, "reverse" if reverse else "forward")] = (hs, cs)
            outs.append(torch.stack(hs))
        inp = torch.cat(outs, dim=-1)
    loss = (inp[-1] @ v).sum() if loss_on == "last" else (inp @ v).sum()
    loss.backward()

    def curve(ts):
        return np.array([0.0 if s.grad is None else float(s.grad.norm(dim=-1).mean()) for s in ts])
    out = {key: (curve(hs), curve(cs) if cs[0] is not None else None) for key, (hs, cs) in states.items()}
    return out, inp.detach()


CASES = list(itertools.product(KINDS, [1, 2, 3], [False, True], [False, True], ["last", "all"]))


@pytest.mark.parametrize("kind,layers,bidirectional,batch_first,loss_on", CASES)
def test_every_layer_direction_and_step_matches_autograd(kind, layers, bidirectional, batch_first, loss_on):
    module = make(kind, layers, bidirectional, batch_first, seed=layers)
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(B, T, D, generator=gen, dtype=torch.float64) if batch_first else \
        torch.randn(T, B, D, generator=gen, dtype=torch.float64)
    width = (module.proj_size or H) * (2 if bidirectional else 1)
    v = torch.randn(width, generator=gen, dtype=torch.float64)
    res = core.inspect(module, x, readout=v, loss_on=loss_on)
    ref, top = reference(module, kind, x, v, loss_on)
    module_out = module(x)[0]                 # the reference is the module's own computation
    torch.testing.assert_close(module_out.transpose(0, 1) if batch_first else module_out, top, rtol=1e-10, atol=1e-12)
    expected_order = [(k, d) for k in range(layers) for d in (["forward", "reverse"] if bidirectional else ["forward"])]
    assert [(lf.layer, lf.direction) for lf in res.layers] == expected_order
    for lf in res.layers:
        g, gc = ref[(lf.layer, lf.direction)]
        assert lf.grad_norm.shape == (T,)
        np.testing.assert_allclose(lf.grad_norm, g, rtol=1e-6, atol=1e-300)
        if kind.startswith("lstm"):
            np.testing.assert_allclose(lf.cell_grad_norm, gc, rtol=1e-6, atol=1e-300)
        else:
            assert lf.cell_grad_norm is None
    assert res.architecture.num_layers == layers and res.architecture.bidirectional == bidirectional


@pytest.mark.parametrize("kind,bidirectional,loss_on", [("lstm", True, "last"), ("lstm_proj", False, "all"),
                                                       ("lstm", False, "all")])
def test_the_stepped_lstm_forward_matches_autograd_too(monkeypatch, kind, bidirectional, loss_on):
    """From STEPPED_FORWARD batch × hidden on, the LSTM runs step by step instead of the fused kernel."""
    monkeypatch.setattr(inspect_module, "STEPPED_FORWARD", 0)
    module = make(kind, 2, bidirectional)
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(T, B, D, generator=gen, dtype=torch.float64)
    v = torch.randn((module.proj_size or H) * (2 if bidirectional else 1), generator=gen, dtype=torch.float64)
    res = core.inspect(module, x, readout=v, loss_on=loss_on)
    ref, _ = reference(module, kind, x, v, loss_on)
    for lf in res.layers:
        g, gc = ref[(lf.layer, lf.direction)]
        np.testing.assert_allclose(lf.grad_norm, g, rtol=1e-6, atol=1e-300)
        np.testing.assert_allclose(lf.cell_grad_norm, gc, rtol=1e-6, atol=1e-300)


def test_module_is_left_as_it_was():
    module = make("lstm", 2, True).float()
    module.train()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    res = core.inspect(module, seq_len=20, batch=2)
    assert module.training and all(p.grad is None for p in module.parameters())
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())
    module.eval()
    core.inspect(module, seq_len=5, batch=2)
    assert not module.training
    assert res.config["dtype"] == "float32" and len(res.layers) == 4


def test_float32_module_agrees_with_its_float64_twin():
    module = make("gru", 2, True, scale=1.0)
    x = torch.randn(30, 4, D, dtype=torch.float64)
    res64 = core.inspect(module, x)
    res32 = core.inspect(module.float(), x.float())
    for a, b in zip(res64.layers, res32.layers):
        np.testing.assert_allclose(b.grad_norm, a.grad_norm, rtol=1e-3)


@pytest.mark.parametrize("kind,bidirectional,stepped", [("rnn_tanh", True, False), ("gru", True, False),
                                                      ("lstm", True, False), ("lstm", False, True),
                                                      ("lstm_proj", False, False), ("rnn_relu", False, False)])
def test_a_float32_modules_far_gradients_are_measured_below_float32s_range(monkeypatch, kind, bidirectional, stepped):
    """A float32 module runs forward in float32, and its backward pass is summed in float64 with each row
    rescaled before its float32 product: gradients far below 1e-45 (0 in float32) come out as the float64 twin's."""
    if stepped:
        monkeypatch.setattr(inspect_module, "STEPPED_FORWARD", 0)
    module = make(kind, 2, bidirectional, scale=0.25 if kind != "rnn_relu" else 0.4, seed=2)
    x = torch.randn(300, 3, D, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    res64 = core.inspect(module, x)
    res32 = core.inspect(module.float(), x.float())
    assert res32.config["computed_in"] == "float32 forward, float64 backward"
    assert min(float(lf.grad_norm[0]) for lf in res64.layers if lf.direction == "forward") < 1e-60
    for a, b in zip(res64.layers, res32.layers):
        assert ((b.grad_norm > 0) == (a.grad_norm > 0)).all()      # exact zeros only where the loss cannot reach
        np.testing.assert_allclose(b.grad_norm, a.grad_norm, rtol=1e-3)
        if a.cell_grad_norm is not None:
            np.testing.assert_allclose(b.cell_grad_norm, a.cell_grad_norm, rtol=1e-3)
    np.testing.assert_allclose(res32.lyapunov, res64.lyapunov, rtol=1e-3)


def test_drawn_inputs_are_reproducible_and_a_prefix():
    module = make("rnn_tanh", 2, scale=0.8)
    a = core.inspect(module, seq_len=30, batch=2, seed=3)
    b = core.inspect(module, seq_len=30, batch=2, seed=3)
    c = core.inspect(module, seq_len=30, batch=2, seed=4)
    np.testing.assert_array_equal(a.layers[0].grad_norm, b.layers[0].grad_norm)
    assert not np.allclose(a.layers[0].grad_norm, c.layers[0].grad_norm)
    assert a.config == {"seq_len": 30, "batch": 2, "loss_on": "last", "input_scale": 1.0, "seed": 3,
                        "inputs": "gaussian", "readout": "drawn", "dtype": "float64", "computed_in": "float64",
                        "device": "cpu"}
    # the loss is on the last step of the top layer: its gradient there is the unit readout
    assert a.layers[-1].grad_norm[-1] == pytest.approx(1.0)


def test_rate_regime_and_lambda1_per_layer():
    module = make("rnn_tanh", 1, scale=1.0)
    with torch.no_grad():
        q, _ = torch.linalg.qr(torch.randn(H, H, dtype=torch.float64))
        module.weight_hh_l0.copy_(0.5 * q)                 # λ1 = 0.5: Pascanu's sufficient condition for vanishing
    res = core.inspect(module, seq_len=40, batch=2, input_scale=0.1)
    lf = res.layers[0]
    assert lf.lambda1 == pytest.approx(0.5, rel=1e-12)
    assert lf.rate < 0.5 + 1e-9 and lf.regime == "vanishing"
    assert lf.rate == pytest.approx(core.theory.fit_rate(np.arange(40), lf.grad_norm[::-1]))
    finding = next(f for f in res.diagnosis if "λ1 of W_hh" in f.text)
    assert finding.value == pytest.approx(0.5) and f"{0.5:.3g}" in finding.text


def test_lyapunov_of_one_linear_like_layer_matches_the_single_layer_engine():
    """A one-layer tanh RNN: the stack's exponents are the app's for the same weights and trajectory."""
    from core.cells import CELLS
    from core.cells.base import Network
    module = make("rnn_tanh", 1, scale=1.0)
    x = torch.randn(60, 1, D, dtype=torch.float64)
    res = core.inspect(module, x)
    p = {"w_hh": module.weight_hh_l0.detach(), "w_ih": module.weight_ih_l0.detach(),
         "b": (module.bias_ih_l0 + module.bias_hh_l0).detach()}
    net = Network("rnn", "tanh", p, p["w_hh"])
    h0 = torch.zeros(1, H, dtype=torch.float64)
    trace = CELLS["rnn"].probe(net, x, h0, torch.ones(H, dtype=torch.float64) / H**0.5, "last")
    expected = CELLS["rnn"].lyapunov(net, trace, x, h0)       # float64 products; inspect's are float32
    assert res.lyapunov[0] == pytest.approx(expected[0], rel=1e-6)
    np.testing.assert_allclose(res.lyapunov, expected, rtol=1e-3)


def test_lyapunov_of_a_stack_matches_finite_differences_of_the_joint_map():
    """The largest exponent of a 2-layer LSTM against the growth of a tiny perturbation of the joint state."""
    module = make("lstm", 2, scale=2.5, seed=1)
    x = torch.randn(200, 1, D, dtype=torch.float64)
    res = core.inspect(module, x)
    # the joint Jacobian product by finite differences along the same trajectory, from a random perturbation
    torch.manual_seed(0)
    eps, steps, start = 1e-7, 200, 50
    with torch.no_grad():
        _, (h_ref, c_ref) = module(x[:start])
        d = torch.randn_like(torch.cat([h_ref, c_ref]))
        d = d / d.norm() * eps
        h_p, c_p = h_ref + d[:2], c_ref + d[2:]
        logs = 0.0
        for t in range(start, steps):
            _, (h_ref, c_ref) = module(x[t:t + 1], (h_ref, c_ref))
            _, (h_p, c_p) = module(x[t:t + 1], (h_p, c_p))
            diff = torch.cat([h_p - h_ref, c_p - c_ref])
            logs += float(torch.log(diff.norm() / eps))
            h_p, c_p = h_ref + diff[:2] / diff.norm() * eps, c_ref + diff[2:] / diff.norm() * eps
    assert res.lyapunov[0] == pytest.approx(logs / (steps - start), abs=0.03)


def test_saturation_counts_the_forget_gates():
    module = make("lstm", 1, scale=1.0)
    with torch.no_grad():
        module.bias_ih_l0[H:2 * H] = -30.0                  # every forget gate shut
    res = core.inspect(module, seq_len=30, batch=2)
    s = res.saturation[0]
    assert s.quantity == "forget gate f" and s.share_low == 1.0 and s.share_high == 0.0 and s.mean < 1e-6
    assert res.layers[0].regime == "vanishing"
    finding = next(f for f in res.diagnosis if "forget gates are below" in f.text)
    assert finding.value == 1.0 and "100%" in finding.text


def test_every_sentence_follows_from_its_number():
    """Over many random networks: each sentence's number is recomputed from the result and agrees with the words."""
    rng = np.random.default_rng(0)
    seen = set()
    for trial in range(40):
        kind = list(KINDS)[trial % 5]
        module = make(kind, int(rng.integers(1, 4)), bool(rng.integers(2)), seed=trial,
                      scale=float(rng.uniform(0.3, 4)))
        res = core.inspect(module, seq_len=25, batch=2, seed=trial)
        span = 24
        assert res.diagnosis
        for f in res.diagnosis:
            assert np.isfinite(f.value)
            if "past the float range" in f.text:
                lf = res.layer(int(f.text.split()[1]), f.text.split()[2].rstrip(":"))
                assert f.value == lf.rate and not 0 < lf.by_distance[-1] / lf.by_distance[0] < np.inf
            elif "the gradient vanishes" in f.text:
                lf = res.layer(int(f.text.split()[1]), f.text.split()[2].rstrip(":"))
                ratio = lf.by_distance[-1] / lf.by_distance[0]
                assert lf.regime == "vanishing" and f.value == pytest.approx(ratio) and ratio < 0.1
                assert f"{10 ** (-np.log10(f.value)):.3g}-fold" in f.text
                seen.add("vanishes")
            elif "the gradient explodes" in f.text:
                lf = res.layer(int(f.text.split()[1]), f.text.split()[2].rstrip(":"))
                ratio = lf.by_distance[-1] / lf.by_distance[0]
                assert lf.regime == "exploding" and f.value == pytest.approx(ratio) and ratio > 10
                assert f"{10 ** np.log10(f.value):.3g}-fold" in f.text
                seen.add("explodes")
            elif f.text.startswith("Clip"):
                norms = np.concatenate([lf.grad_norm for lf in res.layers])
                assert f.value == pytest.approx(np.median(norms[np.isfinite(norms) & (norms > 0)]))
                assert any(lf.regime == "exploding" for lf in res.layers)
            elif "Lyapunov" in f.text:
                assert f.value == res.lyapunov[0] and f.value * span > np.log(10)
                assert f"{10 ** (f.value * span / np.log(10)):.3g}-fold" in f.text
                seen.add("lyapunov")
            elif "reaching layer 0" in f.text:
                ratio = np.mean(res.layers[0].grad_norm) / np.mean(res.layers[-res.architecture.directions].grad_norm)
                assert f.value == pytest.approx(ratio) and ratio < 0.01
            elif "exactly 0" in f.text:
                lf = res.layer(int(f.text.split()[1]), f.text.split()[2].rstrip(":"))
                assert f.value == np.sum(lf.grad_norm == 0) > 0
            elif "stable" in f.text:
                assert all(lf.regime == "stable" for lf in res.layers)
                assert f.value == max(lf.rate for lf in res.layers if lf.rate is not None)
            elif "below 0.05" in f.text:
                assert f.value >= 0.25
            elif "λ1 of W_hh" in f.text:
                assert f.value < 1
    assert {"vanishes", "explodes"} <= seen


@pytest.mark.parametrize("bad,fragment", [
    (dict(loss_on="first"), "loss_on must be one of last, all"),
    (dict(seq_len=0), "seq_len must be an integer from 1 to 10000"),
    (dict(batch=5000), "batch must be an integer from 1 to 1024"),
    (dict(inputs=torch.zeros(5, 2, D + 1)), "inputs must be an array of shape (T, B, D) with D = 4"),
    (dict(inputs=torch.full((5, 2, D), float("nan"))), "inputs must be finite"),
    (dict(readout=torch.ones(3)), "readout must be a finite vector of 5 numbers"),
])
def test_bad_arguments_name_the_argument(bad, fragment):
    with pytest.raises(core.ConfigError, match=None) as info:
        core.inspect(make("gru", 1), **bad)
    assert fragment in str(info.value)


def test_not_a_recurrent_module():
    with pytest.raises(core.ConfigError, match="module must be a torch.nn.RNN, torch.nn.LSTM or torch.nn.GRU"):
        core.inspect(torch.nn.Linear(3, 3))


def test_long_sequences_state_huge_changes_without_overflow():
    module = make("rnn_tanh", 1, scale=4.0, seed=2)
    res = core.inspect(module, seq_len=3000, batch=1, input_scale=0.0)
    texts = " ".join(f.text for f in res.diagnosis)
    assert "10^" in texts and all(np.isfinite(f.value) for f in res.diagnosis)


def test_too_big_is_refused_up_front():
    module = torch.nn.LSTM(16, 256, 2)
    with pytest.raises(core.BudgetError, match="this inspect is too big"):
        core.inspect(module, seq_len=10000, batch=1024)
