"""Numbers and sentences at the edges: critical initialisation on the state the network reaches, float64 norms that
do not overflow, a regime that agrees with the curve, theory lines only where they hold, why a curve is exactly 0,
Lyapunov exponents that are all right, exact prefixes, and a cliff story read off its trajectories."""
import importlib
import itertools
import json
import math

import numpy as np
import pytest
import torch

import core
from core import lyapunov, meanfield, norms, probe
from core.cliff import CliffConfig, cliff
from core.config import UnrollConfig
from tests.conftest import run_cli
from ui import text

# ---- 1. critical initialisation -------------------------------------------------------------------------------
CRITICAL_GRID = list(itertools.product(["tanh", "sigmoid", "relu", "linear"], [-3.0, -1.0, 0.0, 1.0],
                                       [0.3, 1.0]))


@pytest.mark.parametrize("activation,bias,input_scale", CRITICAL_GRID)
def test_critical_initialisation_puts_the_measured_factor_at_one(activation, bias, input_scale):
    s, note = meanfield.critical(activation, input_scale, bias, 0.0)
    if s is None:
        assert note and "edge of chaos" in note or "ReLU" in note
        return
    assert 0.1 <= s <= 10 and note == ""
    res = core.unroll(UnrollConfig(activation=activation, bias=bias, input_scale=input_scale, weight_scale=s,
                                   hidden=512, seq_len=200, dtype="float64"))
    assert res.rate == pytest.approx(1.0, abs=0.05)
    assert res.critical_weight_scale == pytest.approx(s)


def test_the_sigmoid_with_a_negative_bias_has_no_edge_instead_of_a_wrong_one():
    # The audit's case: mean-field's χ = 1 sits on a fixed point this network never reaches (s ≈ 8.4 measured
    # 0.46 per step); the reached variance jumps across χ = 1, so no s is offered and the note says why.
    s, note = meanfield.critical("sigmoid", 0.3, -3.0, 0.0)
    assert s is None and "jumps" in note
    assert 8 < float(meanfield.edge("sigmoid", 0.3, -3.0)[0]) < 9          # what was offered before
    res = core.unroll(UnrollConfig(activation="sigmoid", bias=-3.0, input_scale=0.3, weight_scale=8.43,
                                   hidden=512, seq_len=200, dtype="float64"))
    assert res.rate < 0.8


def test_a_claim_that_no_scale_reaches_the_edge_is_measured_at_both_ends_of_the_slider():
    s, note = meanfield.critical("sigmoid", 1.0, 0.0, 0.0)
    assert s is None and "stays below 1" in note
    for scale in (0.1, 10.0):
        res = core.unroll(UnrollConfig(activation="sigmoid", input_scale=1.0, weight_scale=scale, hidden=512,
                                       seq_len=200, dtype="float64"))
        assert res.rate < 1


def test_relu_with_no_input_and_no_state_has_no_edge_and_no_mean_field_factor():
    cfg = UnrollConfig(activation="relu", input_scale=0.0)
    res = core.unroll(cfg)
    assert res.critical_weight_scale is None and "ReLU" in res.critical_note
    assert res.mean_field_rate is None and np.all(res.grad_norm[1:] == 0)
    data = res.to_json_dict()
    assert data["critical_weight_scale"] is None and data["mean_field_rate"] is None


def test_the_critical_initialisation_button_says_why_it_is_off():
    from tests.conftest import open_page
    at = open_page("app_pages/gradient_flow.py", activation="sigmoid", bias="-3", input_scale="0.3")
    button = next(b for b in at.button if b.label == "Critical initialisation")
    assert button.disabled and "jumps" in button.help


# ---- 2. float64 norms -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [4.7e153, 1e200, 1e300, 1e-170, 1e-300, 5e-324])
def test_float64_norms_are_exact_far_out_of_the_squares_range(value):
    g = torch.full((3, 2, 64), value, dtype=torch.float64)
    expected = value * 8.0                                       # √64 · value
    np.testing.assert_allclose(norms.step_norms(g).numpy(), expected, rtol=1e-12)
    assert norms.total_norm([g, g]) == pytest.approx(value * math.sqrt(2 * 3 * 2 * 64), rel=1e-12)


def test_float64_norms_are_inf_or_nan_only_where_an_entry_is():
    g = torch.tensor([[1e300, 1e300], [math.inf, 1.0], [math.nan, 1.0], [0.0, 0.0]], dtype=torch.float64)
    out = norms.step_norms(g).numpy()
    assert out[0] == pytest.approx(1e300 * math.sqrt(2)) and out[1] == math.inf and math.isnan(out[2])
    assert out[3] == 0


def test_the_audits_float64_unroll_neither_overflows_nor_loses_its_clip_factor():
    res = core.unroll(UnrollConfig(activation="linear", init="orthogonal", weight_scale=1.7, seq_len=1000,
                                   dtype="float64", clip=1.0))
    assert res.overflow is None and np.isfinite(res.grad_norm).all()
    # orthogonal × 1.7, linear: the curve is exactly 1.7^k
    np.testing.assert_allclose(res.grad_norm, 1.7 ** res.distance.astype(float), rtol=1e-9)
    assert res.clip_factor == pytest.approx(1.0 / res.param_grad_norm, rel=1e-12)


def test_clipping_by_norm_multiplies_by_exactly_threshold_over_norm():
    p = torch.nn.Parameter(torch.zeros(4))
    p.grad = torch.full((4,), 1.7e-7)                  # ‖g‖ = 3.4e-7, where torch's ε would cut the factor by 75%
    before, after, changed = norms.clip_gradients([p], 1e-7, "norm")
    assert changed and before == pytest.approx(3.4e-7, rel=1e-6) and after == pytest.approx(1e-7, rel=1e-6)
    res = core.unroll(UnrollConfig(clip=0.01))
    assert res.clip_factor == pytest.approx(0.01 / res.param_grad_norm, rel=1e-12)


# ---- 3. the regime agrees with the curve ----------------------------------------------------------------------
def test_the_lru_that_shrinks_23_times_is_vanishing():
    res = core.unroll(UnrollConfig(cell="lru", seq_len=1000))
    assert res.end_to_start_ratio < 0.1 and res.regime == "vanishing"
    assert text.headline(res).startswith("**Vanishing.**") and text.sci(res.end_to_start_ratio) in text.headline(res)


# ---- 4. theory lines only where they hold ---------------------------------------------------------------------
def test_with_the_loss_on_every_step_no_bound_or_theory_line_is_drawn():
    res = core.unroll(UnrollConfig(init="orthogonal", weight_scale=0.5, seq_len=50, loss_on="all"))
    assert np.isnan(res.bound).all() and res.theory_curve is None
    assert "every step" in res.theory_note
    assert res.grad_norm[10] > 0.5                       # what the bound (9.8e-4 at k = 10) claimed to bound
    last = core.unroll(UnrollConfig(init="orthogonal", weight_scale=0.5, seq_len=50))
    assert np.all(last.grad_norm <= last.bound * (1 + 1e-9))


# ---- 5. why a curve is exactly zero ---------------------------------------------------------------------------
def test_dead_relus_are_a_zero_derivative_not_an_underflow():
    res = core.unroll(UnrollConfig(activation="relu", bias=-3.0, input_scale=0.5))
    assert res.reached_zero_at is not None and res.zero_cause == "zero_derivative"
    line = text.headline(res)
    assert "derivative itself is 0" in line and "float64" not in line and "underflow" not in line
    assert res.to_json_dict()["zero_cause"] == "zero_derivative"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_curve_that_runs_below_the_smallest_float_is_an_underflow(dtype):
    res = core.unroll(UnrollConfig(weight_scale=0.1, seq_len=1000, dtype=dtype))
    assert res.reached_zero_at is not None and res.zero_cause == "underflow"
    assert "underflow" in text.headline(res)
    # the same network in float64 carries the float32 curve further: what the sentence promises
    if dtype == "float32":
        assert core.unroll(UnrollConfig(weight_scale=0.1, seq_len=1000, dtype="float64")).reached_zero_at > \
            res.reached_zero_at


# ---- 7. every Lyapunov exponent listed is right ---------------------------------------------------------------
def _capture_tangents(monkeypatch, cell):
    seen = {}
    real = lyapunov.qr_exponents
    module = importlib.import_module(f"core.cells.{cell}")

    def spy(step, seq_len, dim, *args, **kwargs):
        seen.update(step=step, seq_len=seq_len, dim=dim)
        return real(step, seq_len, dim, *args, **kwargs)
    monkeypatch.setattr(module, "qr_exponents", spy)
    return seen


def _reference_exponents(step, seq_len, dim, top):
    """QR at every step, the textbook method."""
    q = np.linalg.qr(np.random.default_rng(0).standard_normal((dim, min(top, dim))))[0]
    start, sums = lyapunov.burn_in(seq_len), 0.0
    for t in range(seq_len):
        q, r = np.linalg.qr(step(t, q))
        if t >= start:
            sums = sums + np.log(np.abs(np.diagonal(r)))
    return np.sort(sums / (seq_len - start))[::-1]


CASES = [dict(cell="rnn", hidden=4, weight_scale=0.3),
         dict(cell="rnn", hidden=5, activation="relu", bias=3.0, input_scale=0.3, weight_scale=0.5),
         dict(cell="lstm", hidden=2, bias=2.0), dict(cell="lstm", hidden=2, bias=4.0, weight_scale=0.3),
         dict(cell="gru", hidden=2, bias=2.0), dict(cell="gru", hidden=5, weight_scale=2.0)]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_all_exponents_agree_with_a_qr_at_every_step_and_sum_to_the_mean_log_determinant(monkeypatch, case):
    seen = _capture_tangents(monkeypatch, case["cell"])
    res = core.unroll(UnrollConfig(seq_len=200, dtype="float64", **case))
    step, seq_len, dim = seen["step"], seen["seq_len"], seen["dim"]
    assert len(res.lyapunov) == dim                                     # every exponent is listed
    np.testing.assert_allclose(res.lyapunov, _reference_exponents(step, seq_len, dim, lyapunov.TOP), atol=1e-6)
    start = lyapunov.burn_in(seq_len)
    log_det = np.mean([np.linalg.slogdet(step(t, np.eye(dim)))[1] for t in range(start, seq_len)])
    assert res.lyapunov.sum() == pytest.approx(log_det, abs=1e-8)


def test_diagonal_cells_list_the_time_averaged_log_multipliers_of_their_units():
    # LRU: J = Λ at every step, so the exponents are ln|λ_j| themselves
    cfg = UnrollConfig(cell="lru", hidden=4, seq_len=200, dtype="float64")
    net = probe.build(cfg)[0]
    nu = net.params["nu_log"].to(torch.float64)
    np.testing.assert_allclose(core.unroll(cfg).lyapunov, np.sort(-torch.exp(nu).numpy())[::-1], rtol=1e-12)
    # minGRU: J_t = diag(1 − z_t), z_t = σ(W_z x_t + b_z) of the first sequence
    cfg = UnrollConfig(cell="mingru", hidden=4, seq_len=200, dtype="float64", bias=-1.0)
    net, x, _, _ = probe.build(cfg)
    z = torch.sigmoid(x[:, 0] @ net.params["w_z"].T + net.params["b_z"])
    expected = torch.log(1 - z)[lyapunov.burn_in(200):].mean(0).numpy()
    np.testing.assert_allclose(core.unroll(cfg).lyapunov, np.sort(expected)[::-1], rtol=1e-10)


# ---- 8. a shorter sequence with the same seed is an exact prefix ----------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_shorter_sequence_is_an_exact_prefix(dtype):
    longest = probe.build(UnrollConfig(seq_len=70, batch=3, hidden=5, dtype=dtype))[1]
    for seq_len in range(1, 70):
        x = probe.build(UnrollConfig(seq_len=seq_len, batch=3, hidden=5, dtype=dtype))[1]
        assert torch.equal(x, longest[:seq_len]), seq_len


def test_a_phase_cell_on_the_length_axis_has_the_rate_of_the_page_it_opens():
    from core.phase import PhaseConfig, phase_diagram
    res = phase_diagram(PhaseConfig(y_axis="seq_len", s_count=5, y_count=4, y_min=7, y_max=40, hidden=10, batch=3,
                                    dtype="float64"))
    for i, seq_len in enumerate(res.y):
        for j, s in enumerate(res.weight_scale):
            page = core.unroll(UnrollConfig(seq_len=int(seq_len), weight_scale=float(s), hidden=10, batch=3,
                                            dtype="float64"))
            if page.rate is not None and np.isfinite(res.rate[i, j]):
                assert res.rate[i, j] == pytest.approx(page.rate, rel=1e-9)


# ---- 9. the cliff story -----------------------------------------------------------------------------------------
def test_the_cliff_story_does_not_say_alike_when_clipping_changed_the_descent():
    res = cliff(CliffConfig(seq_len=200, w0=5.0, b0=-2.5, lr=0.1, steps=100, clip=0.2, resolution=20))
    story = text.cliff_story(res)
    rescaled = int(res.clipped.clipped.sum())
    assert rescaled > 0 and f"{rescaled} of 100" in story
    assert "alike" not in story
    assert text.sci(float(res.plain.loss[-1]), 3) in story and text.sci(float(res.clipped.loss[-1]), 3) in story


def test_the_cliff_story_says_alike_when_no_step_was_rescaled():
    res = cliff(CliffConfig(w0=1.5, b0=-1.0, lr=0.01, steps=10, clip=1e6, resolution=20))
    assert not res.clipped.clipped.any()
    assert "move alike (0 of 10 clipped steps were rescaled" in text.cliff_story(res)


# ---- contracts --------------------------------------------------------------------------------------------------
def test_the_json_gains_critical_and_zero_cause():
    out = run_cli("unroll", "--activation", "relu", "--bias", "-3", "--input-scale", "0.5", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["zero_cause"] == "zero_derivative" and data["critical_weight_scale"] is None
    assert data["critical_note"]
    data = json.loads(run_cli("unroll", "--input-scale", "1", "--json").stdout)
    assert data["critical_weight_scale"] == pytest.approx(1.8556, rel=1e-3) and data["zero_cause"] is None


# ---- 6. mean-field accuracy as measured -------------------------------------------------------------------------
def test_the_theory_note_quotes_the_measured_table_for_the_setting_on_screen():
    rows = json.loads(meanfield.ACCURACY_FILE.read_text())["rows"]
    assert {r["activation"] for r in rows} == {"tanh", "sigmoid", "relu", "linear"}
    assert {r["hidden"] for r in rows} == {256, 1024} and len({r["bias"] for r in rows}) >= 3
    res = core.unroll(UnrollConfig(activation="tanh", bias=3.0, input_scale=1.0, hidden=1024, seq_len=50))
    row = next(r for r in rows
               if (r["activation"], r["bias"], r["input_scale"], r["hidden"]) == ("tanh", 3.0, 1.0, 1024))
    worst = max(abs(e) for e in row["error_percent"] if e is not None)
    assert f"within {worst:.1f}% of the measured factor" in res.theory_note
    dead = core.unroll(UnrollConfig(activation="relu", bias=-3.0, input_scale=1.0, hidden=1024, seq_len=50))
    assert "the line does not describe such a network" in dead.theory_note
    small = core.unroll(UnrollConfig(activation="sigmoid", hidden=64, seq_len=50))
    assert "H = 256" in small.theory_note and "smaller networks scatter more" in small.theory_note


def test_the_readme_table_is_the_measured_table():
    from pathlib import Path
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for row in json.loads(meanfield.ACCURACY_FILE.read_text())["rows"]:
        cells = " | ".join("—" if e is None else f"{e:+.1f}" for e in row["error_percent"])
        assert (f"| {row['activation']} | {row['bias']:g} | {row['input_scale']:g} | {row['hidden']} | {cells} |"
                in readme), row
