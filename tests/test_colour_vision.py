"""Every multi-line chart stays readable under deuteranopia and protanopia (simulated, Machado et al. 2009):
two lines drawn the same way (same dash) must differ in colour by ΔE ≥ 20 as such a viewer sees them."""
import itertools
import math

import numpy as np
import pytest

import core
from core.cliff import CliffConfig, cliff
from core.training import History, StepRecord, TrainConfig
from ui import flow_figs, theory_figs, training_figs
from ui.colour_vision import difference

VISIONS = ("normal", "deuteranopia", "protanopia")
MIN_DELTA_E = 20.0


def lines(fig) -> list[tuple[str, str, str]]:
    """(name, colour, dash) of every drawn line; a trace with a colour list or none set is left out."""
    out = []
    for t in fig.data:
        if t.type != "scatter" or "lines" not in (t.mode or "lines") or t.opacity is not None and t.opacity < 0.5:
            continue
        colour = t.line.color
        if isinstance(colour, str) and colour.startswith("#"):
            out.append((t.name or "", colour.upper(), t.line.dash or "solid"))
    return out


def assert_apart(fig, at_least: int):
    drawn = lines(fig)
    assert len(drawn) >= at_least, drawn
    for (n1, c1, d1), (n2, c2, d2) in itertools.combinations(drawn, 2):
        if d1 != d2 or c1 == c2 and n1.split(":")[0] == n2.split(":")[0]:
            continue                                   # told apart by dash, or the same run's own lines
        for vision in VISIONS:
            assert difference(c1, c2, vision) >= MIN_DELTA_E, (n1, n2, vision, difference(c1, c2, vision))


def test_the_simulation_reproduces_the_classic_confusion():
    """Red and green, far apart for normal vision, nearly merge for a deuteranope; blue/orange do not."""
    assert difference("#d62728", "#2ca02c") > 80
    assert difference("#d62728", "#2ca02c", "deuteranopia") < 25
    assert min(difference("#0072B2", "#E69F00", v) for v in VISIONS) > 50


def test_gradient_flow_chart_with_five_pins_and_every_line():
    res = core.unroll(core.UnrollConfig(cell="lstm", seq_len=40, hidden=16, clip=0.01))
    pins = [(f"pin {i}", res.distance, res.grad_norm * (i + 2)) for i in range(5)]
    assert_apart(flow_figs.gradient_curve_figure(res, None, pins), at_least=8)
    rnn = core.unroll(core.UnrollConfig(seq_len=40, hidden=16))
    assert_apart(flow_figs.gradient_curve_figure(rnn, None, pins), at_least=8)


def test_sweep_training_race_cliff_and_phase_charts():
    assert_apart(flow_figs.sweep_figure(core.weight_scale_sweep(core.UnrollConfig(seq_len=30), [0.5, 1.0, 2.0])), 3)
    cfg = TrainConfig(seq_len=10)
    runs = []
    for r in range(2):
        h = History(cfg)
        for s in range(1, 30):
            g = 2.0 + math.sin(s + r)
            h.append(StepRecord(step=s, loss=1 / s, grad_norm=g, grad_norm_clipped=min(g, 1.0), clipped=g > 1,
                                finite=True, seconds=0.01, probe=np.geomspace(1, 1e-2, 10) if s % 10 == 0 else None))
        runs.append(h)
    assert_apart(training_figs.loss_figure(runs, ["A: LSTM", "B: RNN"], 0.167, "1/6", "MSE"), 2)
    assert_apart(training_figs.grad_norm_figure(runs, ["A: LSTM", "B: RNN"], [1.0, 1.0]), 4)
    res = cliff(CliffConfig(resolution=21, steps=20))
    assert_apart(theory_figs.trajectory_norms_figure(res), 2)
    assert_apart(theory_figs.trajectory_loss_figure(res), 2)


@pytest.mark.parametrize("colours", [flow_figs.PINNED_COLORS + [flow_figs.COLORS["grad"], flow_figs.COLORS["cell"]],
                                     training_figs.RUN_COLORS])
def test_palettes_are_apart_pairwise(colours):
    for a, b in itertools.combinations(colours, 2):
        assert min(difference(a, b, v) for v in VISIONS) >= MIN_DELTA_E, (a, b)
