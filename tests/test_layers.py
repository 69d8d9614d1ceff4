"""Stacked layers (UnrollConfig.layers): every layer's curve against an independent float64 unroll under autograd,
one layer unchanged, the cells that refuse a stack, the CLI and the budget."""
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import core
from core import stack
from core.budget import BudgetError, unroll_cost
from core.errors import ConfigError
from core.probe import build, build_stack

ROOT = Path(__file__).resolve().parents[1]
F = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid, "linear": lambda a: a}


def _step(cell, activation, p, x, h, c):
    """One step of one layer, written from the formulas (torch's gate orders)."""
    if cell == "rnn":
        return F[activation](x @ p["w_ih"].T + p["b"] + h @ p["w_hh"].T), None
    gi = x @ p["weight_ih"].T + p["bias_ih"]
    gh = h @ p["weight_hh"].T + p["bias_hh"]
    if cell == "lstm":
        i, f, g, o = (gi + gh).chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c
    r = torch.sigmoid(gi[:, :h.shape[1]] + gh[:, :h.shape[1]])
    z = torch.sigmoid(gi[:, h.shape[1]:2 * h.shape[1]] + gh[:, h.shape[1]:2 * h.shape[1]])
    n = torch.tanh(gi[:, 2 * h.shape[1]:] + r * gh[:, 2 * h.shape[1]:])
    return (1 - z) * n + z * h, None


def reference(cfg):
    """(layers, T) mean over the batch of ‖∂L/∂h^l_{T−k}‖, by distance, from a float64 unroll under autograd."""
    nets, x, h0s, v = build_stack(cfg)
    x, v = x.double(), v.double()
    inp, layers = x, []
    for net, h0 in zip(nets, h0s):
        p = {k: t.double().requires_grad_() for k, t in net.params.items()}
        h, c = h0.double(), torch.zeros_like(h0, dtype=torch.float64)
        hs = []
        for t in range(x.shape[0]):
            h, c = _step(cfg.cell, cfg.activation, p, inp[t], h, c)
            hs.append(h)
        layers.append(hs)
        inp = torch.stack(hs)
    loss = (inp[-1] @ v).sum() if cfg.loss_on == "last" else (inp @ v).sum()
    flat = [h for hs in layers for h in hs]
    grads = torch.autograd.grad(loss, flat, allow_unused=True, materialize_grads=True)
    T = x.shape[0]
    return np.stack([torch.stack(grads[k * T:(k + 1) * T]).norm(dim=-1).mean(dim=1).numpy()[::-1]
                     for k in range(len(layers))])


CASES = [("rnn", "tanh", 2, "last"), ("rnn", "relu", 3, "all"), ("rnn", "sigmoid", 2, "last"),
         ("lstm", "tanh", 2, "last"), ("lstm", "tanh", 3, "all"), ("gru", "tanh", 2, "all"),
         ("gru", "tanh", 3, "last")]


@pytest.mark.parametrize("cell,activation,layers,loss_on", CASES)
def test_every_layer_and_step_matches_float64_autograd(cell, activation, layers, loss_on):
    cfg = core.UnrollConfig(cell=cell, activation=activation, layers=layers, loss_on=loss_on, seq_len=30, hidden=12,
                            batch=3, weight_scale=1.3, dtype="float64", seed=4)
    res = core.unroll(cfg)
    want = reference(cfg)
    assert res.layer_grad_norm.shape == (layers, 30)
    np.testing.assert_allclose(res.layer_grad_norm, want, rtol=1e-6, atol=0)
    np.testing.assert_array_equal(res.grad_norm, res.layer_grad_norm[-1])     # the top layer's curve


def test_lstm_cell_state_curves_of_every_layer():
    cfg = core.UnrollConfig(cell="lstm", layers=2, seq_len=20, hidden=8, batch=2, dtype="float64")
    res = core.unroll(cfg)
    assert res.layer_cell_grad_norm.shape == (2, 20)
    np.testing.assert_array_equal(res.cell_grad_norm, res.layer_cell_grad_norm[-1])
    assert np.all(np.isfinite(res.layer_cell_grad_norm))


def test_one_layer_is_unchanged():
    """layers=1 takes the cells' own probe: the same numbers as a config without the field, to the bit."""
    for cell in ("rnn", "lstm", "gru", "lru", "mingru"):
        base = core.unroll(core.UnrollConfig(cell=cell, seq_len=40))
        one = core.unroll(core.UnrollConfig(cell=cell, seq_len=40, layers=1))
        a, b = base.to_json_dict(), one.to_json_dict()
        assert a == b
        np.testing.assert_array_equal(one.layer_grad_norm, one.grad_norm[None])
        assert a["layer_grad_norm"] == [a["grad_norm"]]


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_stack_of_one_agrees_with_the_cells_own_probe(cell):
    """The stacked path (autograd) and the hand-written one-layer probe on the same network."""
    cfg = core.UnrollConfig(cell=cell, seq_len=25, hidden=10, batch=3, dtype="float64", loss_on="all")
    net, x, h0, v = build(cfg)
    fast = core.cells.CELLS[cell].probe(net, x, h0, v, "all")
    slow = stack.probe([net], x, [h0], v, "all", lyapunov=False).top
    torch.testing.assert_close(slow.g, fast.g, rtol=1e-9, atol=1e-12)
    for a, b in zip(slow.param_grads, fast.param_grads):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_bottom_layer_and_inputs_are_the_one_layer_networks():
    one = build(core.UnrollConfig(cell="gru", seq_len=20))
    nets, x, h0s, v = build_stack(core.UnrollConfig(cell="gru", seq_len=20, layers=3))
    assert len(nets) == 3
    for name, t in one[0].params.items():
        torch.testing.assert_close(nets[0].params[name], t, rtol=0, atol=0)
    torch.testing.assert_close(x, one[1], rtol=0, atol=0)
    assert not torch.equal(nets[1].params["weight_hh"], nets[0].params["weight_hh"])


def test_stacked_result_fields():
    res = core.unroll(core.UnrollConfig(cell="rnn", layers=2, seq_len=50))
    assert res.lyapunov.size and np.all(np.isfinite(res.lyapunov))
    assert res.mean_field_rate is None and res.theory_curve is None          # no one-layer line for a stack
    assert res.critical_weight_scale is None and "stacked" in res.critical_note
    assert np.isfinite(res.param_grad_norm) and res.param_grad_norm > 0


def test_relu_stack_that_blows_up_reports_the_overflow():
    res = core.unroll(core.UnrollConfig(cell="rnn", activation="relu", init="identity", weight_scale=8.0,
                                        layers=2, seq_len=200))
    assert res.overflow is not None and res.regime == "exploding"
    assert np.all(np.isnan(res.layer_grad_norm[:, 1:])) or res.overflow["where"] == "backward"


@pytest.mark.parametrize("cell", ["lru", "mingru"])
def test_cells_without_a_stack_refuse_layers(cell):
    with pytest.raises(ConfigError) as err:
        core.UnrollConfig(cell=cell, layers=2)
    msg = str(err.value)
    assert msg.startswith("layers must be 1 for the " + cell) and "rnn, lstm, gru" in msg and "\n" not in msg


@pytest.mark.parametrize("bad", [0, 5, 9, "two", 1.5])
def test_layers_range(bad):
    with pytest.raises(ConfigError, match=r"layers must be an integer from 1 to 4"):
        core.UnrollConfig(layers=bad)


def test_budget_counts_the_layers():
    one = unroll_cost("lstm", 1000, 32, 256, "float32")
    four = unroll_cost("lstm", 1000, 32, 256, "float32", layers=4)
    assert four.seconds > 3.5 * one.seconds and four.memory_bytes > 3.5 * one.memory_bytes
    cfg = core.UnrollConfig(cell="lstm", seq_len=1000, batch=32, hidden=256)       # fits at one layer
    with pytest.raises(BudgetError) as err:
        replace(cfg, layers=4)
    assert str(err.value).startswith("this unroll is too big: it would need about")
    assert str(err.value).endswith("lower the sequence length T, the batch or the hidden size")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "core", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)


def test_cli_layers_json():
    out = _cli("unroll", "--cell", "lstm", "--layers", "2", "--seq-len", "30", "--hidden", "16", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["config"]["layers"] == 2
    assert len(data["layer_grad_norm"]) == 2 and len(data["layer_grad_norm"][0]) == 30
    assert data["layer_grad_norm"][-1] == data["grad_norm"]
    assert len(data["layer_cell_grad_norm"]) == 2


def test_cli_bad_layers():
    out = _cli("unroll", "--layers", "9")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip() == "error: --layers must be an integer from 1 to 4, got '9'"
    out = _cli("unroll", "--cell", "lru", "--layers", "2")
    assert out.returncode == 2 and out.stderr.startswith("error: --layers must be 1 for the lru cell")


def test_the_sentences_agree_with_the_numbers_of_random_stacks():
    """The engine's sentences (tests/test_consistency.py's audit) over stacks of random settings."""
    from test_consistency import contradictions, random_configs
    rng = np.random.default_rng(23)
    found = []
    for cfg in random_configs(24, seed=5):
        stacked = replace(cfg, cell=str(rng.choice(["rnn", "lstm", "gru"])), layers=int(rng.integers(2, 5)),
                          seq_len=min(cfg.seq_len, 300))
        found += [(stacked, c) for c in contradictions(core.unroll(stacked))]
    assert found == []
