"""Figure builders, texts and URL parsing, tested directly (no Streamlit runtime)."""
import math

import numpy as np
import pytest
import torch

import core
from core import probe
from core.cells import CELLS
from core.config import ConfigError
from ui import flow_figs
from ui.flow_controls import CLIP_VALUES, FIELD_BY_NAME, WEIGHT_SCALES
from ui.text import clipping_sentence, headline, overflow_explanation, sci
from ui.url import inert, parse_url_value


@pytest.mark.parametrize("x,text", [(1.3e-10, "1.3e-10"), (0.6288, "0.629"), (2.0, "2"), (None, "n/a"),
                                    (float("nan"), "n/a"), (float("inf"), "∞"), (0.0, "0"), (4.2e25, "4.2e25")])
def test_sci(x, text):
    assert sci(x) == text


def test_headline_reads_the_curve():
    res = core.unroll(core.UnrollConfig(activation="linear", init="orthogonal", weight_scale=0.5, seq_len=11,
                                        dtype="float64"))
    assert headline(res) == ("**Vanishing.** 10 steps back the gradient is **9.8e-4** of its final-step value: it "
                             "shrinks ×0.5 per step.")
    assert overflow_explanation(res) is None
    one = core.unroll(core.UnrollConfig(seq_len=1))
    assert "T = 1" in headline(one)


def test_the_default_headline_says_in_plain_words_what_the_curve_does():
    """Gradient flow's first sentence (tanh, s = 1, T = 100): how much is left 99 steps back, the word for it, and
    what one step does, each read off the curve it describes."""
    res = core.unroll(core.UnrollConfig())
    line = headline(res)
    ratio = res.grad_norm[-1] / res.grad_norm[0]
    assert line.startswith(f"**Vanishing.** 99 steps back the gradient is **{sci(ratio)}** of its final-step value")
    assert ratio < 1e-15 and len(line.replace("**", "")) <= 105     # one line on a 1280×720 projector
    assert line.endswith(f": it shrinks ×{sci(res.rate, 3)} per step.")
    assert res.rate < 1 and abs(math.log(res.rate) * 99 - math.log(ratio)) < 0.1 * abs(math.log(ratio))
    for jargon in ("factor", "√χ", "λ", "Jacobian", "regime"):          # the theory's words are one click away
        assert jargon not in line
    stable = headline(core.unroll(core.UnrollConfig(activation="linear", init="orthogonal", input_scale=0.0)))
    assert stable.startswith("**Stable.**") and "neither vanishes nor explodes" in stable


def test_a_stacks_headline_says_its_numbers_are_the_top_layers():
    """With layers > 1 the result's one-layer fields are the top layer's; the sentence says whose gradient it reads,
    and its ratio is the top row of the layer curves."""
    res = core.unroll(core.UnrollConfig(cell="lstm", layers=3, seq_len=60))
    line = headline(res)
    top = res.layer_grad_norm[-1]
    assert f"59 steps back the top layer's gradient is **{sci(top[-1] / top[0])}**" in line
    assert "top layer" not in headline(core.unroll(core.UnrollConfig(cell="lstm", seq_len=60)))


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
    bound = next(t for t in fig.data if t.name.startswith("Pascanu bound"))          # λ1 ≈ 2 here: it leaves
    assert "above the chart from k = " in bound.name and not fig.layout.annotations


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


# ---- honest numbers at float32's edges ----

def test_underflow_is_reported_only_when_every_entry_is_zero():
    """tanh, s = 0.5: the gradient's entries pass 1e-19 around distance 40, where a float32 norm of them reads 0
    although they are normal numbers; the curve must stay positive until the entries themselves are 0."""
    cfg = core.UnrollConfig(weight_scale=0.5)
    res = core.unroll(cfg)
    net, x, h0, v = probe.build(cfg)
    g = CELLS["rnn"].probe(net, x, h0, v, "last").g.flip(0)           # index = distance
    float32_norms = torch.linalg.vector_norm(g, dim=-1).mean(dim=1).numpy()
    all_zero = (g == 0).all(dim=-1).all(dim=-1).numpy()
    fooled = np.flatnonzero((float32_norms == 0) & ~all_zero)
    assert fooled.size > 20                                  # where the old float32 norm said "exactly 0"
    assert np.all(res.grad_norm[fooled] > 0)
    assert np.array_equal(res.grad_norm == 0, all_zero)     # 0 exactly where every entry is 0
    zero = res.reached_zero_at
    assert zero == int(np.argmax(all_zero)) and f"distance {zero}" in headline(res)


@pytest.mark.parametrize("scale,seq_len", [(2.37, 100), (1.68, 500), (2.51, 500)])
def test_clipping_never_claims_a_zero_factor_or_contradicts_itself(scale, seq_len):
    """The three ReLU views of the bug report: a float32 total norm that overflowed made the factor 0, and a
    non-finite gradient was said to be 'under the threshold'."""
    res = core.unroll(core.UnrollConfig(activation="relu", weight_scale=scale, seq_len=seq_len, clip=1.0))
    text = clipping_sentence(res)
    if np.isfinite(res.param_grad_norm):
        assert 0 < res.clip_factor < 1
        assert res.param_grad_norm * res.clip_factor == pytest.approx(1.0, rel=1e-5)
        assert "multiplies this update by **" in text and "**0**" not in text and "under the threshold" not in text
        fig = flow_figs.gradient_curve_figure(res)
        assert any(t.name == "after clipping" for t in fig.data)
    else:
        assert np.isnan(res.clip_factor) and res.clipped_grad_norm is None
        assert "not finite" in text and "under the threshold" not in text and "n/a" not in text
        assert "∞" not in text


def log_tick_labels(axis) -> int:
    """How many tick labels a log axis with an integer dtick shows over its range."""
    lo, hi = axis.range
    first = np.ceil(lo / axis.dtick) * axis.dtick
    return len(np.arange(first, hi + 1e-9, axis.dtick))


@pytest.mark.parametrize("scale", [0.5, 2.37, 5.0])
def test_clipping_chart_is_readable_at_any_magnitude(scale):
    res = core.unroll(core.UnrollConfig(activation="relu", weight_scale=scale, clip=1.0, dtype="float64"))
    fig = flow_figs.clipping_figure(res)
    assert log_tick_labels(fig.layout.yaxis) <= 8
    label = next(a for a in fig.layout.annotations if a.text.startswith("threshold"))
    assert label.y == pytest.approx(0.0)                 # at log10(1): on its line, not at 10^1


def test_inert_text_cannot_leave_its_code_span():
    for raw in ["plain", "1` [x](http://evil) `", "``` fence", "a`b``c```d", "`", "line\nbreak", "x" * 500]:
        shown = inert(raw)
        fence = shown.split(" ", 1)[0]
        assert set(fence) == {"`"} and shown.endswith(" " + fence)
        inner = shown[len(fence) + 1:-len(fence) - 1]
        assert fence not in inner                        # no run of backticks inside is as long as the fence
        assert "\n" not in shown and len(inner) <= 41


def test_overflow_label_is_never_cut_at_the_right_edge():
    res = core.unroll(core.UnrollConfig(activation="linear", init="orthogonal", weight_scale=3.0, input_scale=0,
                                        seq_len=100))
    fig = flow_figs.gradient_curve_figure(res)
    label = next(a for a in fig.layout.annotations if "overflow (" in a.text)
    assert res.overflow["distance"] > 50 and label.xanchor == "right"


def test_five_pinned_curves_grow_the_chart_instead_of_squashing_it():
    res = core.unroll(core.UnrollConfig(seq_len=40))
    plain = flow_figs.gradient_curve_figure(res)
    pins = [(f"RNN tanh gaussian s={s} T=40 x×{s}", res.distance, res.grad_norm) for s in (1, 2, 3, 4, 5)]
    pinned = flow_figs.gradient_curve_figure(res, None, pins)
    plot_height = lambda f: f.layout.height - f.layout.margin.t - f.layout.margin.b     # noqa: E731
    assert plot_height(pinned) == plot_height(plain)
    assert pinned.layout.legend.yref == "container" and pinned.layout.legend.y == 0     # under the plot


def test_bidi_and_zero_width_characters_are_shown_as_visible_escapes():
    """A right-to-left override in a URL value must not reverse the warning around it, nor a zero-width space
    hide a difference: they are shown as escapes, like line breaks."""
    shown = inert("seq_len=12\u202e0001\u200b\u2066x\ny")
    assert shown == r"` seq_len=12\u202e0001\u200b\u2066x\u000ay `"
    assert all(c.isprintable() for c in shown)
    assert inert("\u202e" * 100).count("\\u202e") <= 7 and inert("\u202e" * 100).endswith("… `")


def test_malformed_frames_are_logged_as_one_short_line_and_rate_limited():
    import logging

    from ui.server_log import ClientFaultFilter
    now = [0.0]
    logger = logging.getLogger("test.client_faults")
    logger.propagate = False
    lines = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(logging.Formatter().format(record))
    logger.addHandler(handler)
    logger.addFilter(ClientFaultFilter(burst=3, window_s=60.0, clock=lambda: now[0]))
    for _ in range(200):                                  # a client sending garbage in a loop
        try:
            raise ValueError("Error parsing message with type 'BackMsg'")
        except ValueError as exc:
            logger.warning("Error deserializing back message", exc_info=exc)
    logger.warning("something else")                      # other records pass untouched
    assert len(lines) == 4 and lines[-1] == "something else"
    assert all("Traceback" not in line and "\n" not in line for line in lines)
    assert lines[0] == ("Error deserializing back message: ValueError: Error parsing message with type 'BackMsg'; "
                        "connection closed")
    now[0] = 61.0                                         # a minute later: one line, with the count left out
    logger.warning("Client WebSocket message size %s bytes exceeds the limit of %s bytes; closing connection.",
                   2_000_000, 1_000_000)
    assert lines[-1].endswith("closing connection. (197 more such frames not logged)")
