"""Figure builders, texts and URL parsing, tested directly (no Streamlit runtime)."""
import numpy as np
import pytest

import core
from core.config import ConfigError
from ui import flow_figs
from ui.flow_controls import CLIP_VALUES, FIELD_BY_NAME, WEIGHT_SCALES
from ui.text import headline, overflow_explanation, sci
from ui.url import parse_url_value


@pytest.mark.parametrize("x,text", [(1.3e-10, "1.3e-10"), (0.6288, "0.629"), (2.0, "2"), (None, "n/a"),
                                    (float("nan"), "n/a"), (float("inf"), "∞"), (0.0, "0"), (4.2e25, "4.2e25")])
def test_sci(x, text):
    assert sci(x) == text


def test_headline_reads_the_curve():
    res = core.unroll(core.UnrollConfig(activation="linear", init="orthogonal", weight_scale=0.5, seq_len=11,
                                        dtype="float64"))
    assert headline(res) == ("**Vanishing.** Per-step factor ×0.5: after 10 steps back the gradient is "
                             "**9.8e-4** of its final-step value.")
    assert overflow_explanation(res) is None
    one = core.unroll(core.UnrollConfig(seq_len=1))
    assert "T = 1" in headline(one)


def test_headline_and_explanation_for_overflow():
    res = core.unroll(core.UnrollConfig(activation="relu", weight_scale=10.0, seq_len=60))
    assert headline(res).startswith("**Exploding.** The forward pass itself blew up at step")
    assert "Try a smaller weight scale" in overflow_explanation(res)
    back = core.unroll(core.UnrollConfig(activation="linear", init="orthogonal", weight_scale=3.0,
                                         input_scale=0, seq_len=150))
    assert "left the float32 range at distance" in headline(back)
    assert "float64" in overflow_explanation(back)


def test_curve_figure_is_log_scale_and_frames_the_measurement():
    res = core.unroll(core.UnrollConfig())
    fig = flow_figs.gradient_curve_figure(res)
    assert fig.layout.yaxis.type == "log"
    measured = next(t for t in fig.data if t.name == "‖∂L/∂h‖ measured")
    np.testing.assert_allclose(np.array(measured.y, dtype=float), res.grad_norm)
    lo, hi = fig.layout.yaxis.range
    assert 10 ** lo < res.grad_norm.min() and 10 ** hi > res.grad_norm.max()
    assert any("bound leaves the chart" in a.text for a in fig.layout.annotations)   # λ1 ≈ 2 here


def test_curve_figure_gaps_instead_of_nan():
    res = core.unroll(core.UnrollConfig(activation="linear", init="orthogonal", weight_scale=3.0,
                                        input_scale=0, seq_len=150))
    measured = flow_figs.gradient_curve_figure(res).data[0]
    assert measured.y[res.overflow["distance"]] is None


def test_clipping_figure_shows_threshold_and_both_bars():
    res = core.unroll(core.UnrollConfig(weight_scale=2.0, clip=1.0))
    fig = flow_figs.clipping_figure(res)
    assert list(fig.data[0].x) == ["before clipping", "after clipping by norm"]
    assert fig.data[0].y[1] == pytest.approx(1.0, rel=1e-5)
    assert fig.layout.shapes[0].y0 == 1.0


def test_spectrum_figure_has_unit_and_inverse_gamma_circles():
    res = core.unroll(core.UnrollConfig(activation="sigmoid", hidden=16))
    names = [t.name for t in flow_figs.spectrum_figure(res).data]
    assert names == ["unit circle", "1/γ = 4 circle", "eigenvalues"]
    assert len(flow_figs.spectrum_figure(res).data[2].x) == 16


def test_saturation_heatmap_is_downsampled_for_long_sequences():
    res = core.unroll(core.UnrollConfig(seq_len=2000, hidden=16, batch=1))
    z = np.array(flow_figs.saturation_figure(res).data[0].z, dtype=float)
    assert z.shape[0] == 16 and z.shape[1] <= flow_figs.MAX_HEATMAP_COLUMNS
    assert np.nanmax(z) <= 1 and np.nanmin(z) >= 0


def test_url_values_snap_to_the_widgets_options():
    assert parse_url_value(FIELD_BY_NAME["weight_scale"], "1.05") in WEIGHT_SCALES
    assert parse_url_value(FIELD_BY_NAME["hidden"], "100") == 128
    assert parse_url_value(FIELD_BY_NAME["clip"], "off") is None
    assert parse_url_value(FIELD_BY_NAME["clip"], "0.9") in CLIP_VALUES
    assert parse_url_value(FIELD_BY_NAME["input_scale"], "0.33") == 0.35
    with pytest.raises(ConfigError, match="weight_scale must be a number from 0.1 to 10"):
        parse_url_value(FIELD_BY_NAME["weight_scale"], "20")


def test_weight_scale_options_are_log_spaced_and_include_one():
    assert WEIGHT_SCALES[0] == 0.1 and WEIGHT_SCALES[-1] == 10.0 and 1.0 in WEIGHT_SCALES
    ratios = np.diff(np.log10(WEIGHT_SCALES))
    assert np.allclose(ratios, 1 / 40, atol=5e-3)   # 3 significant digits
