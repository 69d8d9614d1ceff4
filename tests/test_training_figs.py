"""Training lab figure builders, on synthetic histories (no training needed)."""
import math

import numpy as np
import pytest

from core.training import History, StepRecord, TrainConfig
from ui import training_figs
from ui.training_figs import HEAT_FLOOR, MAX_HEAT_COLUMNS, MAX_HEAT_ROWS, MAX_POINTS

CFG = TrainConfig(seq_len=50)


def history(n, grad=None, clipped=None, loss=None, probe_every=10, probe=None):
    """n records; grad/clipped/loss: functions of the step."""
    h = History(CFG)
    for s in range(1, n + 1):
        g = grad(s) if grad else 0.5
        h.append(StepRecord(step=s, loss=loss(s) if loss else 1 / s, grad_norm=g,
                            grad_norm_clipped=min(g, 1.0), clipped=clipped(s) if clipped else g > 1.0,
                            finite=math.isfinite(g), seconds=0.01,
                            probe=(probe(s) if probe else np.geomspace(1, 1e-3, CFG.seq_len))
                            if s % probe_every == 0 else None))
    return h


def annotation(fig, text):
    return next(a for a in fig.layout.annotations if text in a.text)


def test_chance_line_and_its_label_sit_at_the_baseline_on_the_log_axis():
    fig = training_figs.loss_figure([history(30)], ["A"], 1 / 6, "MSE 1/6", "MSE")
    line = next(s for s in fig.layout.shapes if s.y0 == s.y1)
    assert line.y0 == pytest.approx(1 / 6)
    label = annotation(fig, "chance level")
    assert label.yref == "y" and label.y == pytest.approx(math.log10(1 / 6))   # log axes place labels in log10
    assert fig.layout.yaxis.type == "log"


def test_clipping_thresholds_are_drawn_once_each_and_labelled_at_their_height():
    a, b = history(20, grad=lambda s: 0.2 * s), history(20, grad=lambda s: 0.1 * s)
    shared = training_figs.grad_norm_figure([a, b], ["A", "B"], [1.0, 1.0])
    assert [s.y0 for s in shared.layout.shapes] == [1.0]
    assert annotation(shared, "clipping threshold 1").y == pytest.approx(0.0)
    apart = training_figs.grad_norm_figure([a, b], ["A", "B"], [1.0, 0.1])
    assert sorted(s.y0 for s in apart.layout.shapes) == [0.1, 1.0]
    assert annotation(apart, "clipping threshold 0.1").y == pytest.approx(-1.0)
    none = training_figs.grad_norm_figure([a], ["A"], [None])
    assert not none.layout.shapes and [t.name for t in none.data] == ["A: before clipping"]


def test_every_clipping_event_is_marked_and_counted():
    h = history(40, grad=lambda s: 2.0 if s % 7 == 0 else 0.5)
    fig = training_figs.grad_norm_figure([h], ["A"], [1.0])
    markers = next(t for t in fig.data if t.mode == "markers")
    assert list(markers.x) == [7, 14, 21, 28, 35] and list(markers.y) == [2.0] * 5
    assert markers.name == "A: clipped (5 steps)"


def test_long_runs_are_bucketed_without_losing_spikes_or_clipping_events():
    n = 4 * MAX_POINTS + 3
    h = history(n, grad=lambda s: 50.0 if s == 3001 else 0.5, loss=lambda s: 0.1)
    fig = training_figs.grad_norm_figure([h], ["A"], [1.0])
    before = next(t for t in fig.data if t.name == "A: before clipping")
    assert len(before.x) <= MAX_POINTS
    assert np.nanmax(before.y) == 50.0                      # a one-step explosion stays visible
    markers = next(t for t in fig.data if t.mode == "markers")
    assert len(markers.x) == 1 and markers.x[0] <= 3001 < markers.x[0] + n / MAX_POINTS + 1
    assert markers.name == "A: clipped (1 steps)"
    for loss in training_figs.loss_figure([h], ["A"], 1 / 6, "MSE 1/6", "MSE").data:
        assert len(loss.x) <= MAX_POINTS and loss.y[0] == pytest.approx(0.1)


def test_loss_is_drawn_faint_per_step_and_bold_as_a_running_mean():
    h = history(30, loss=lambda s: 1.0 if s % 2 else 0.5)
    raw, smooth = training_figs.loss_figure([h], ["A"], 1 / 6, "MSE 1/6", "MSE").data
    assert list(raw.y) == [1.0 if s % 2 else 0.5 for s in range(1, 31)] and not raw.showlegend
    assert smooth.name.startswith("A (mean of") and smooth.y[0] == 1.0 and smooth.y[1] == pytest.approx(0.75)
    assert smooth.y[-1] == pytest.approx(0.75)
    np.testing.assert_allclose(training_figs.running_mean(np.arange(1.0, 6.0), 2), [1, 1.5, 2.5, 3.5, 4.5])


def test_divergence_is_marked_on_the_loss_chart():
    h = history(10, grad=lambda s: math.inf if s == 10 else 0.5, loss=lambda s: math.nan if s == 10 else 0.2)
    fig = training_figs.loss_figure([h], ["A"], 1 / 6, "MSE 1/6", "MSE")
    assert np.isnan(fig.data[0].y[-1]) and np.isnan(fig.data[1].y[-1])   # the NaN step is a gap, not a crash
    assert fig.data[1].y[-2] == pytest.approx(0.2)
    assert "NaN/inf at step 10" in annotation(fig, "NaN/inf").text


def test_heatmap_shows_underflow_at_the_floor_and_stays_small():
    profile = np.geomspace(1, 1e-30, CFG.seq_len)
    profile[-5:] = 0.0                                      # float32 underflow: exactly zero
    h = history(20, probe=lambda s: profile, probe_every=5)
    steps, distances, z = training_figs.heatmap_grid(h)
    assert list(steps) == [5, 10, 15, 20] and list(distances) == list(range(CFG.seq_len))
    assert np.all(np.isfinite(z)) and z.min() == HEAT_FLOOR and z[0, 0] == pytest.approx(0.0)
    fig = training_figs.distance_heatmap(h, "A")
    assert fig.data[0].zmin == HEAT_FLOOR

    big = History(TrainConfig(seq_len=1000))
    for s in range(1, 3 * MAX_HEAT_COLUMNS + 2):
        big.append(StepRecord(s, 0.1, 0.5, 0.5, False, True, 0.0, np.full(1000, 1e-3)))
    steps, distances, z = training_figs.heatmap_grid(big)
    assert z.shape == (len(distances), len(steps))
    assert len(steps) <= MAX_HEAT_COLUMNS + 1 and len(distances) <= MAX_HEAT_ROWS
    assert steps[-1] == 3 * MAX_HEAT_COLUMNS + 1            # the latest probe is always drawn


def test_empty_history_draws_a_hint_not_an_error():
    h = History(CFG)
    assert "every 20 steps" in training_figs.distance_heatmap(h, "A").layout.annotations[0].text
    assert training_figs.loss_figure([h], ["A"], 1 / 6, "MSE 1/6", "MSE").data[0].x is not None
    assert len(training_figs.grad_norm_figure([h], ["A"], [1.0]).data) == 3


def test_history_csv_has_every_step_of_every_run_and_the_configs_export_round_trips():
    import io
    import json

    import pandas as pd
    a = history(5)
    b = history(3, grad=lambda s: math.inf if s == 3 else 0.5, loss=lambda s: math.nan if s == 3 else 0.2)
    table = pd.read_csv(io.StringIO(training_figs.history_csv([a, b], ["A: LSTM", "B: RNN tanh"])))
    assert list(table.columns[:6]) == ["run", "step", "loss", "grad_norm", "grad_norm_clipped", "clipped"]
    assert list(table["run"]) == ["A: LSTM"] * 5 + ["B: RNN tanh"] * 3
    assert list(table["step"]) == [1, 2, 3, 4, 5, 1, 2, 3]
    assert table["loss"].isna().tolist() == [False] * 7 + [True] and not table["finite"].iloc[-1]
    configs = json.loads(training_figs.configs_json([a, b], ["A: LSTM", "B: RNN tanh"]))
    assert TrainConfig(**configs["B: RNN tanh"]) == CFG


def test_an_empty_loss_chart_has_readable_ticks():
    """Before the first step only the chance line is drawn: Plotly's own range around one value used to label
    the axis 0.16666666666666674068."""
    history = History(CFG)
    fig = training_figs.loss_figure([history], ["A: LSTM"], 1 / 6, "predict 1: MSE 1/6", "MSE")
    lo, hi = fig.layout.yaxis.range
    assert hi - lo >= 1 and lo < np.log10(1 / 6) < hi
    assert isinstance(fig.layout.yaxis.dtick, int) and fig.layout.yaxis.exponentformat == "power"


def test_a_live_tick_costs_the_same_at_100k_steps_as_at_1k():
    """A run's history is bounded (core/training.py History): what a tick copies, and the points and bytes it hands
    to the figures, do not grow with the run's length; clipping counts and the latest steps stay exact."""
    import dataclasses

    from core import training

    def run(steps):
        h = History(CFG)
        for s in range(1, steps + 1):
            h.append(training.StepRecord(s, 1.0 / s, 2.0 + (s % 7 == 0) * 50, 1.0, s % 3 == 0, True, 0.01,
                                         np.full(CFG.seq_len, 0.5) if s % 5 == 0 else None))   # probe_every 5
        return h
    short, long = run(1_000), run(100_000)
    for h, steps in ((short, 1_000), (long, 100_000)):
        assert h.clipped_steps == steps // 3
        assert sum(r.span for r in h.records) == steps and h.records[-1].step == steps
    assert len(long.records) <= training.HISTORY_CAP and long.probe_count <= training.PROBE_CAP
    assert [r.step for r in long.records[-training.HISTORY_RECENT:]] == list(range(99_001, 100_001))
    assert max(r.grad_norm for r in long.records) == 52.0                    # spikes survive the merging

    def tick_size(h):
        figs = [training_figs.loss_figure([h.copy()], ["A"], 0.167, "MSE", "MSE"),
                training_figs.grad_norm_figure([h.copy()], ["A"], [1.0]), training_figs.distance_heatmap(h, "A")]
        points = sum(len(t.x) if t.x is not None else 0 for f in figs[:2] for t in f.data)
        return points, sum(len(f.to_json()) for f in figs)
    (short_points, short_bytes), (long_points, long_bytes) = tick_size(short), tick_size(long)
    mid_points, mid_bytes = tick_size(run(10_000))
    assert long_points <= 2 * short_points and long_bytes <= 2 * short_bytes        # 1k steps: 1,000 points a line
    assert long_points <= 1.1 * mid_points and long_bytes <= 1.1 * mid_bytes         # and no growth past 10k
    assert "clipped (33333 steps)" in [t.name for t in training_figs.grad_norm_figure([long], ["A"], [1.0]).data][-1]
    assert dataclasses.asdict(long.records[0])["span"] > 1


def test_a_live_charts_description_says_its_latest_numbers_and_its_lines():
    """The Training lab's charts describe what they show now (ui/a11y.describe_now): each run's latest value and its
    step, the reference lines with their levels, a heatmap's latest profile; and their data is a table."""
    from ui import a11y
    h = history(340, loss=lambda s: 0.012 if s > 300 else 0.2)
    loss = training_figs.loss_figure([h], ["A: LSTM"], 1 / 6, "predict 1 always: MSE 1/6", "MSE")
    smooth = training_figs.running_mean(h.column("loss"))[-1]
    text = a11y.describe_now(loss)
    assert f"A: LSTM (mean of 20 steps) at training step 340: {smooth:.3g}." in text
    assert "chance level (predict 1 always: MSE 1/6) at 0.167" in text
    assert a11y.table(loss)["A: LSTM (mean of 20 steps)"].iloc[-1] == pytest.approx(smooth)
    heat = a11y.describe_now(training_figs.distance_heatmap(h, "A: LSTM"))
    assert heat == "log10 ‖∂L/∂h‖ at training step 340: 0 at distance 0 to -3 at distance 49."
    empty = a11y.describe_now(training_figs.loss_figure([History(CFG)], ["A"], 1 / 6, "MSE 1/6", "MSE"))
    assert empty.startswith("Nothing measured yet.")
