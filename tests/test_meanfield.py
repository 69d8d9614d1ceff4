"""Mean-field theory and Lyapunov exponents: against dense numerical integration, brute force, closed forms and
measurement (float64 throughout, so that the verdicts do not depend on a CPU's kernels)."""
import json
import math
import statistics

import numpy as np
import pytest
from conftest import open_page, run_cli

import core
from core import meanfield
from core.phase import PhaseConfig, phase_diagram

FUNCTIONS = {"tanh": (np.tanh, lambda a: 1 - np.tanh(a) ** 2),
             "sigmoid": (lambda a: 1 / (1 + np.exp(-a)), lambda a: np.exp(-a) / (1 + np.exp(-a)) ** 2),
             "relu": (lambda a: np.maximum(a, 0), lambda a: (a > 0).astype(float)),
             "linear": (lambda a: a, np.ones_like)}


def dense_expectation(g, mean, q):
    """E[g(a)], a ~ N(mean, q), by the trapezoid rule on a million points over ±12 standard deviations."""
    sd = math.sqrt(q)
    a = np.linspace(mean - 12 * sd, mean + 12 * sd, 1_000_001)
    density = np.exp(-0.5 * ((a - mean) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))
    return np.trapezoid(g(a) * density, a)


@pytest.mark.parametrize("activation", list(FUNCTIONS))
@pytest.mark.parametrize("mean,q", [(0.0, 0.01), (0.0, 1.0), (0.7, 2.0), (-1.5, 0.3), (0.0, 16.0), (1.0, 400.0)])
def test_expectations_match_dense_integration(activation, mean, q):
    f, df = FUNCTIONS[activation]
    f2, df2 = meanfield._gaussian_expectations(activation, mean, q)
    assert float(f2) == pytest.approx(dense_expectation(lambda a: f(a) ** 2, mean, q), rel=2e-4, abs=1e-10)
    assert float(df2) == pytest.approx(dense_expectation(lambda a: df(a) ** 2, mean, q), rel=2e-4, abs=1e-10)


@pytest.mark.parametrize("activation,scale,sigma,bias", [("tanh", 1.5, 1.0, 0.0), ("tanh", 3.0, 0.5, 0.3),
                                                         ("sigmoid", 4.0, 1.0, -1.0), ("relu", 1.2, 1.0, 0.0)])
def test_the_fixed_point_solves_the_variance_map(activation, scale, sigma, bias):
    q = float(meanfield.fixed_point(activation, scale, sigma, bias))
    f2, _ = meanfield._gaussian_expectations(activation, bias, q)
    assert q == pytest.approx(scale ** 2 * float(f2) + sigma ** 2, rel=1e-9)


def test_the_edge_is_where_chi_is_one_and_matches_a_brute_force_scan():
    sigmas = np.array([0.0, 0.5, 1.0, 2.0, 3.0])
    for activation, bias in (("tanh", 0.0), ("tanh", -1.0), ("sigmoid", 0.0)):
        edges = meanfield.edge(activation, sigmas, bias)
        scales = np.geomspace(0.3, 30, 3000)
        for sigma, edge in zip(sigmas, edges):
            q = meanfield.fixed_point(activation, edge, sigma, bias)
            assert float(meanfield.chi(activation, edge, bias, q)) == pytest.approx(1.0, abs=1e-6)
            chi = meanfield.chi(activation, scales, bias, meanfield.fixed_point(activation, scales, sigma, bias))
            assert edge == pytest.approx(scales[np.argmax(chi >= 1)], rel=2e-3)      # the scan's resolution
    np.testing.assert_allclose(meanfield.edge("relu", sigmas, 0.0), math.sqrt(2), rtol=1e-9)   # χ = s²/2
    np.testing.assert_allclose(meanfield.edge("linear", sigmas, 0.5), 1.0, rtol=1e-9)          # χ = s²


@pytest.mark.parametrize("scale,sigma", [(0.5, 1.0), (1.0, 1.0), (1.5, 1.0), (2.0, 0.5)])
def test_mean_field_predicts_the_measured_factor_at_large_width(scale, sigma):
    """tanh RNN, H = 512, float64, median of three seeds: within 2% (it is 0.5% at H = 1024 over a wider grid)."""
    rates = [core.unroll(core.UnrollConfig(weight_scale=scale, input_scale=sigma, hidden=512, seq_len=120,
                                           dtype="float64", seed=seed)).rate for seed in range(3)]
    predicted = core.unroll(core.UnrollConfig(weight_scale=scale, input_scale=sigma, hidden=512, seq_len=2,
                                              dtype="float64")).mean_field_rate
    assert statistics.median(rates) == pytest.approx(predicted, rel=0.02)


def test_mean_field_is_said_not_to_apply_where_it_does_not():
    assert core.unroll(core.UnrollConfig(init="identity")).mean_field_rate is None
    assert core.unroll(core.UnrollConfig(cell="lstm", seq_len=20)).mean_field_rate is None
    res = core.unroll(core.UnrollConfig(init="identity"))
    assert res.theory_curve is None and "not random" in res.theory_note


@pytest.mark.parametrize("alpha", [0.5, 0.9, 1.1])
def test_lyapunov_exponents_of_a_scaled_orthogonal_linear_network_are_all_ln_alpha(alpha):
    res = core.unroll(core.UnrollConfig(activation="linear", init="orthogonal", weight_scale=alpha, seq_len=120,
                                        dtype="float64"))
    np.testing.assert_allclose(res.lyapunov, math.log(alpha), rtol=1e-10)


@pytest.mark.parametrize("scale", [0.5, 1.0])
def test_the_largest_lyapunov_exponent_of_a_wide_tanh_rnn_is_ln_sqrt_chi(scale):
    res = core.unroll(core.UnrollConfig(weight_scale=scale, hidden=512, seq_len=1500, batch=1, dtype="float64"))
    assert res.lyapunov[0] == pytest.approx(math.log(res.mean_field_rate), rel=0.02)
    assert list(res.lyapunov) == sorted(res.lyapunov, reverse=True)


def test_the_contract_keys_of_the_command_line():
    data = json.loads(run_cli("unroll", "--input-scale", "1", "--json").stdout)
    assert data["mean_field_rate"] == pytest.approx(0.6315, abs=1e-3) and len(data["lyapunov"]) == 5
    assert data["theory"]["rate"] == data["mean_field_rate"] and "Mean-field" in data["theory"]["note"]
    phase = json.loads(run_cli("phase", "--s-count", "5", "--y-count", "3", "--seq-len", "20", "--json").stdout)
    assert len(phase["mean_field_edge"]) == 3 and phase["mean_field_edge"][0] == pytest.approx(1.0, abs=1e-6)


def test_the_phase_diagram_draws_the_mean_field_edge_next_to_the_measured_one():
    res = phase_diagram(PhaseConfig(s_count=21, y_count=4, y_max=3, seq_len=60))
    measured = core.measured_edge(res)
    np.testing.assert_allclose(res.mean_field_edge, measured, rtol=0.1)        # H = 64, T = 60: within 10%
    assert np.all(res.theory_edge < 0.6) and np.all(res.mean_field_edge[1:] > 1.5)   # Pascanu's stays put


def test_critical_initialisation_puts_the_network_on_the_edge():
    at = open_page("app_pages/gradient_flow.py", input_scale="1", hidden="256")
    next(b for b in at.button if b.label == "Critical initialisation").click().run()
    assert at.select_slider(key="flow__weight_scale").value == pytest.approx(1.86, rel=0.02)
    factor = float(next(m.value for m in at.metric if m.label.startswith("Per-step factor")))
    assert factor == pytest.approx(1.0, abs=0.03)
    assert next(b for b in open_page("app_pages/gradient_flow.py", init="identity").button
                if b.label == "Critical initialisation").disabled
