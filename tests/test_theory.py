"""Loss cliff and phase diagram: against autograd, finite differences, closed forms and unroll."""
import json
import math

import numpy as np
import pytest
import torch
from conftest import run_cli

import core
from core.cliff import CliffConfig, cliff, cliff_grid, descend, loss_and_grad
from core.config import ConfigError
from core.phase import PhaseConfig, measured_edge, phase_diagram


def cliff_loss(w: float, b: float, T=50, x0=0.5, target=0.7) -> float:
    """The paper's network written out in plain Python floats."""
    x = x0
    for _ in range(T):
        x = w / (1 + math.exp(-x)) + b
    return (1 / (1 + math.exp(-x)) - target) ** 2


@pytest.mark.parametrize("w,b", [(1.5, -1.0), (4.5, -2.0), (4.79, -2.49), (7.0, -4.0)])
def test_cliff_gradient_matches_finite_differences(w, b):
    _, gw, gb = loss_and_grad(torch.tensor([w]), torch.tensor([b]), 50, 0.5, 0.7)
    eps = 1e-7
    fd_w = (cliff_loss(w + eps, b) - cliff_loss(w - eps, b)) / (2 * eps)
    fd_b = (cliff_loss(w, b + eps) - cliff_loss(w, b - eps)) / (2 * eps)
    assert float(gw) == pytest.approx(fd_w, rel=1e-4, abs=1e-9)
    assert float(gb) == pytest.approx(fd_b, rel=1e-4, abs=1e-9)


def test_cliff_grid_matches_pointwise_autograd_and_has_a_wall():
    cfg = CliffConfig(resolution=40)
    grid = cliff_grid(cfg)
    assert grid.loss.shape == (40, 40) and grid.grad_norm.shape == (40, 40)
    i, j = 7, 23
    loss, gw, gb = loss_and_grad(torch.tensor([grid.w[j]]), torch.tensor([grid.b[i]]), 50, 0.5, 0.7)
    assert grid.loss[i, j] == pytest.approx(float(loss), rel=1e-12)
    assert grid.grad_norm[i, j] == pytest.approx(math.hypot(float(gw), float(gb)), rel=1e-12)
    assert grid.loss[i, j] == pytest.approx(cliff_loss(grid.w[j], grid.b[i]), rel=1e-9)
    assert grid.grad_norm.max() > 100 * np.median(grid.grad_norm)          # the wall


def test_clipped_descent_never_steps_further_than_the_threshold_allows():
    cfg = CliffConfig()
    res = cliff(cfg)
    assert np.all(res.clipped.step_length <= cfg.lr * cfg.clip * (1 + 1e-9))
    np.testing.assert_array_equal(res.clipped.clipped, res.clipped.grad_norm[:-1] > cfg.clip)
    # and the default start shows the point of the page: one plain step jumps far, the clipped run does not
    assert res.plain.step_length.max() > 20 * cfg.lr * cfg.clip
    assert res.clipped.loss[-1] < res.plain.loss[-1]


def test_plain_descent_is_plain_gradient_descent():
    cfg = CliffConfig(steps=3)
    tr = descend(cfg, None)
    _, gw, gb = loss_and_grad(torch.tensor([cfg.w0]), torch.tensor([cfg.b0]), 50, 0.5, 0.7)
    assert tr.w[1] == pytest.approx(cfg.w0 - cfg.lr * float(gw))
    assert tr.b[1] == pytest.approx(cfg.b0 - cfg.lr * float(gb))


def test_cliff_config_errors():
    with pytest.raises(ConfigError, match="w_max must be greater than w_min"):
        CliffConfig(w_min=3, w_max=2)
    with pytest.raises(ConfigError, match="resolution must be an integer from 10 to 400"):
        CliffConfig(resolution=1000)


@pytest.mark.parametrize("scale_range", [(0.5, 1.5), (0.1, 10.0)])
def test_phase_of_a_linear_orthogonal_network_is_exactly_the_weight_scale(scale_range):
    cfg = PhaseConfig(activation="linear", init="orthogonal", s_min=scale_range[0], s_max=scale_range[1], s_count=7,
                      y_min=0.0, y_max=2.0, y_count=3, seq_len=30, dtype="float64")
    res = phase_diagram(cfg)
    for row in res.rate:
        np.testing.assert_allclose(row, res.weight_scale, rtol=1e-9)
    np.testing.assert_allclose(measured_edge(res), 1.0, rtol=1e-6)
    assert res.radius_edge == pytest.approx(1.0)


@pytest.mark.parametrize("axis,extra", [("input_scale", {}), ("seq_len", {"y_min": 10, "y_max": 120}),
                                        ("activation", {})])
def test_every_phase_cell_agrees_with_a_single_unroll(axis, extra):
    cfg = PhaseConfig(y_axis=axis, s_min=0.3, s_max=1.5, s_count=4, y_count=3, seq_len=40, hidden=16,
                      dtype="float64", **extra)
    res = phase_diagram(cfg)
    for i, y in enumerate(res.y):
        for j, s in enumerate(res.weight_scale):
            single = core.unroll(cfg.cell_config(s, y))
            if single.rate is None:
                assert math.isnan(res.rate[i, j])
            else:
                assert res.rate[i, j] == pytest.approx(single.rate, rel=1e-8), (y, s)


def test_phase_theory_line_is_where_lambda1_gamma_is_one():
    res = phase_diagram(PhaseConfig(y_axis="activation", s_count=3, seq_len=20))
    gammas = {"tanh": 1.0, "sigmoid": 0.25, "relu": 1.0, "linear": 1.0}
    for act, edge in zip(res.y, res.theory_edge):
        assert edge * res.lambda1_at_1 * gammas[act] == pytest.approx(1.0)


def test_phase_refuses_what_would_not_fit():
    with pytest.raises(ConfigError, match="memory"):
        PhaseConfig(y_axis="seq_len", y_min=1000, y_max=2000, s_count=100, y_count=100, batch=64, hidden=512)


def test_cliff_cli_json_shapes():
    out = run_cli("cliff", "--resolution", "20", "--steps", "5", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert len(data["w"]) == 20 and len(data["loss"]) == 20 and len(data["grad_norm"][0]) == 20
    assert len(data["plain"]["w"]) == 6 and len(data["clipped"]["step_length"]) == 5
    assert data["config"]["resolution"] == 20


def test_phase_cli_json_shapes():
    out = run_cli("phase", "--s-count", "4", "--y-count", "3", "--seq-len", "20", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert len(data["weight_scale"]) == 4 and len(data["y"]) == 3
    assert np.array(data["rate"], dtype=float).shape == (3, 4)
    assert data["y_axis"] == "input_scale" and len(data["theory_edge"]) == 3


@pytest.mark.parametrize("args,fragment", [
    (["cliff", "--w-min", "5", "--w-max", "1"], "error: --w-max must be greater than w_min (5)"),
    (["cliff", "--lr", "0"], "error: --lr must be a number greater than 0"),
    (["phase", "--y-axis", "depth"], "error: --y-axis must be one of input_scale, seq_len, activation"),
    (["phase", "--s-count", "1"], "error: --s-count must be an integer from 2 to 100"),
    (["phase", "--y-axis", "input_scale", "--y-max", "50"],
     "error: --y-max must be a number from 0 to 5 when y_axis is input_scale"),
])
def test_theory_cli_bad_input(args, fragment):
    out = run_cli(*args)
    assert out.returncode == 2 and out.stderr.strip().startswith(fragment), out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_exploding_float32_cells_are_measured_not_flagged_as_overflow():
    """A float32 gradient of 1e25 is finite although its squared entries are not: the norm is taken in
    float64, as unroll does, so such cells keep their factor and are not marked as overflow."""
    cfg = PhaseConfig(y_axis="activation", s_min=3.16, s_max=10, s_count=3, seq_len=100, hidden=64, batch=8)
    res = phase_diagram(cfg)
    tanh = res.y.index("tanh")
    assert not res.overflow[tanh].any() and np.isfinite(res.rate[tanh]).all()
    largest = 0.0
    for j, s in enumerate(res.weight_scale):
        single = core.unroll(cfg.cell_config(s, "tanh"))
        assert single.overflow is None
        largest = max(largest, single.grad_norm.max())
        # chaotic dynamics: rounding in a different order gives another trajectory, with the same statistics
        assert res.rate[tanh, j] == pytest.approx(single.rate, rel=0.1)
    assert largest > 1e19                                      # squares of such entries overflow float32
    assert res.overflow[res.y.index("linear")].all()          # s ≥ 3.16 for 100 steps: the states overflow
