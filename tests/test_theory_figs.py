"""Theory-lab figure builders and control helpers, tested directly (no Streamlit run)."""
from dataclasses import replace

import numpy as np
import pytest

import core
from core.cliff import CliffConfig, cliff
from core.phase import PhaseConfig, phase_diagram
from ui import theory_figs
from ui.flow_controls import FIELD_BY_NAME, WEIGHT_SCALES
from ui.phase_controls import aligned_counts, nearest_cell, phase_link_params
from ui.text import cliff_story
from ui.url import parse_url_value


@pytest.fixture(scope="module")
def cliff_result():
    return cliff(CliffConfig(resolution=40, steps=20))


@pytest.fixture(scope="module")
def phase_result():
    return phase_diagram(PhaseConfig(s_min=0.1, s_max=10, s_count=21, y_min=0, y_max=3, y_count=7, seq_len=30,
                                     hidden=16))


def test_cliff_surface_draws_both_descents_on_the_grid(cliff_result):
    fig = theory_figs.cliff_surface_figure(cliff_result, "grad")
    heat = fig.data[0]
    assert heat.type == "heatmap" and heat.colorbar.title.text == "log10 ‖∇E‖"
    np.testing.assert_allclose(heat.z, np.log10(cliff_result.grid.grad_norm))
    paths = {t.name: t for t in fig.data[1:] if t.mode == "lines+markers"}
    np.testing.assert_array_equal(paths["plain gradient descent"].x, cliff_result.plain.w)
    np.testing.assert_array_equal(paths["clipped at ‖∇E‖ ≤ 1"].y, cliff_result.clipped.b)
    targets = fig.data[1]
    assert len(targets.x) == theory_figs.PICK_GRID ** 2 and targets.marker.opacity == 0
    note = fig.layout.annotations[0]                 # the default start jumps off the wall
    assert "leaves the plot" in note.text
    c = cliff_result.config
    assert c.w_min <= note.x <= c.w_max and c.b_min <= note.y <= c.b_max
    assert min(abs(note.x - c.w_min), abs(note.x - c.w_max), abs(note.y - c.b_min), abs(note.y - c.b_max)) < 1e-9
    loss = theory_figs.cliff_surface_figure(cliff_result, "loss")
    assert loss.data[0].colorbar.title.text == "E"
    np.testing.assert_allclose(loss.data[0].z, cliff_result.grid.loss)


def test_trajectory_figures_show_the_norm_on_a_log_axis_with_the_threshold(cliff_result):
    fig = theory_figs.trajectory_norms_figure(cliff_result)
    assert fig.layout.yaxis.type == "log"
    assert [t.name for t in fig.data] == ["plain", "clipped"]
    np.testing.assert_array_equal(fig.data[0].y, cliff_result.plain.grad_norm)
    assert fig.layout.shapes[0].y0 == cliff_result.config.clip
    assert [t.name for t in theory_figs.trajectory_loss_figure(cliff_result).data] == ["plain", "clipped"]


def test_phase_figure_colours_log_factor_centred_on_one(phase_result):
    fig = theory_figs.phase_figure(phase_result)
    heat = fig.data[0]
    assert heat.zmid == 0 and heat.zmin == -heat.zmax
    np.testing.assert_allclose(heat.z, np.clip(np.log10(phase_result.rate), heat.zmin, heat.zmax))
    names = [t.name for t in fig.data]
    assert {"measured factor = 1", theory_figs.PASCANU_NAME} <= set(names)
    contour = next(t for t in fig.data if t.type == "contour")
    assert contour.contours.start == 0 == contour.contours.end
    theory = next(t for t in fig.data if t.name == theory_figs.PASCANU_NAME)
    np.testing.assert_allclose(theory.x, phase_result.theory_edge)
    cells = next(t for t in fig.data if t.name == "cells")
    assert len(cells.x) == phase_result.rate.size
    assert fig.layout.xaxis.type == "log"


def test_phase_figure_for_activations_has_named_rows_and_marks_overflow():
    res = phase_diagram(PhaseConfig(y_axis="activation", s_count=5, seq_len=60, hidden=8))
    assert res.overflow[2:, -1].all() and not res.overflow[:2].any()     # ReLU and linear at s = 10 overflow
    fig = theory_figs.phase_figure(res)
    assert list(fig.layout.yaxis.ticktext) == ["tanh", "sigmoid", "relu", "linear"]
    assert not any(t.type == "contour" for t in fig.data)
    theory = next(t for t in fig.data if t.name == theory_figs.PASCANU_NAME)
    assert theory.mode == "markers"                    # rows are separate networks: no line across them
    layer = fig.data[1]
    np.testing.assert_array_equal(np.isfinite(np.asarray(layer.z, dtype=float)), res.overflow)
    assert "overflow (inf/NaN)" in [t.name for t in fig.data]
    cells = next(t for t in fig.data if t.name == "cells")
    assert cells.customdata[2 * 5 + 4][1] == "overflow (inf/NaN)"


@pytest.mark.parametrize("axis,extra", [("input_scale", {}), ("seq_len", {"y_min": 5, "y_max": 60}),
                                        ("activation", {})])
def test_every_phase_cell_opens_as_the_same_configuration_on_the_gradient_flow_page(axis, extra):
    cfg = PhaseConfig(y_axis=axis, s_min=0.1, s_max=10, s_count=21, y_count=7, seq_len=30, hidden=16, batch=2,
                      seed=5, **extra)
    for y in cfg.y_values:
        for s in cfg.weight_scales:
            params = phase_link_params(cfg, s, y)
            parsed = {name: parse_url_value(FIELD_BY_NAME[name], raw) for name, raw in params.items()}
            opened = core.UnrollConfig(**parsed)
            assert parsed["weight_scale"] in WEIGHT_SCALES
            assert opened.weight_scale == pytest.approx(s, rel=5e-3)         # the slider's 3 digits
            assert opened == replace(cfg.cell_config(s, y), weight_scale=opened.weight_scale)


def test_a_linked_cell_measures_the_same_factor_on_the_gradient_flow_page(phase_result):
    cfg = phase_result.config
    for i, j in [(0, 3), (3, 10), (6, 14)]:
        s, y = phase_result.weight_scale[j], phase_result.y[i]
        params = phase_link_params(cfg, s, y)
        opened = core.UnrollConfig(**{n: parse_url_value(FIELD_BY_NAME[n], raw) for n, raw in params.items()})
        assert core.unroll(opened).rate == pytest.approx(phase_result.rate[i, j], rel=2e-2)


def test_aligned_counts_keep_every_column_on_the_slider():
    assert aligned_counts(80, 100) == [2, 3, 5, 6, 9, 11, 17, 21, 41, 81]
    assert aligned_counts(60, 50) == [2, 3, 4, 5, 6, 7, 11, 13, 16, 21, 31]
    for n in aligned_counts(80, 100):
        scales = PhaseConfig(s_min=0.1, s_max=10, s_count=n, y_count=2, seq_len=2).weight_scales
        snapped = [min(WEIGHT_SCALES, key=lambda o: abs(np.log(o / s))) for s in scales]
        np.testing.assert_allclose(snapped, scales, rtol=5e-3)
    # a count that is not offered puts columns between the slider's values
    scales = PhaseConfig(s_min=0.1, s_max=10, s_count=40, y_count=2, seq_len=2).weight_scales
    assert max(min(abs(np.log(o / s)) for o in WEIGHT_SCALES) for s in scales) > 0.01


def test_nearest_cell_of_a_click(phase_result):
    assert nearest_cell(phase_result, 0.1, 0.0) == (0, 0)
    assert nearest_cell(phase_result, 9.0, 2.9) == (6, 20)
    j = 12
    assert nearest_cell(phase_result, phase_result.weight_scale[j] * 1.02, 1.04) == (2, j)
    act = phase_diagram(PhaseConfig(y_axis="activation", s_count=5, seq_len=10, hidden=8))
    assert nearest_cell(act, 1.0, 1.2) == (1, 2)
    lens = phase_diagram(PhaseConfig(y_axis="seq_len", y_min=10, y_max=1000, y_count=3, s_count=3, hidden=8))
    assert lens.y == [10, 100, 1000] and nearest_cell(lens, 1.0, 300)[0] == 1


def test_plain_and_clipped_descents_differ_without_colour(cliff_result):
    """Told apart by line dash and marker shape as well as colour (colour-blind viewers, grey projectors)."""
    for fig in (theory_figs.cliff_surface_figure(cliff_result), theory_figs.trajectory_norms_figure(cliff_result),
                theory_figs.trajectory_loss_figure(cliff_result)):
        paths = [t for t in fig.data if getattr(t, "mode", None) == "lines+markers"]
        assert len(paths) == 2
        assert paths[0].line.dash != paths[1].line.dash and paths[0].marker.symbol != paths[1].marker.symbol


def test_the_threshold_label_sits_at_its_line(cliff_result):
    fig = theory_figs.trajectory_norms_figure(cliff_result)
    label = next(a for a in fig.layout.annotations if a.text.startswith("threshold"))
    assert label.y == pytest.approx(np.log10(cliff_result.config.clip))
    lo, hi = fig.layout.yaxis.range
    assert (hi - lo) / fig.layout.yaxis.dtick <= 8           # a handful of decade labels, not dozens


def test_the_wall_is_mentioned_only_when_the_descent_hits_it():
    hit = cliff(CliffConfig(resolution=20, steps=20))                       # the default start beside the wall
    calm = cliff(CliffConfig(resolution=20, steps=20, w0=2.0, b0=-1.0))     # far from it
    assert "hit the wall" in cliff_story(hit) and "The wall is where exploding gradients live" in cliff_story(hit)
    assert "did not hit the wall" in cliff_story(calm) and "where exploding gradients live" not in cliff_story(calm)
