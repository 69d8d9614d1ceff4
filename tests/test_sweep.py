"""The Sweep view: every weight scale of the slider in one batched pass, scrubbed in the browser."""
import numpy as np
import pytest
from conftest import open_page, wait_for_app_idle

import core
from ui import flow_figs
from ui.flow_controls import WEIGHT_SCALES

PICK = (0, 17, 40, 63, 80)          # s = 0.1, 0.266, 1, 3.76, 10


# float64: at s = 10 the forward pass is chaotic, so a float32 comparison would ride on one CPU's rounding
@pytest.mark.parametrize("settings", [
    {"dtype": "float64"},                                                 # the default view
    {"dtype": "float64", "activation": "relu", "init": "orthogonal", "bias": 0.3, "h0_scale": 0.7, "loss_on": "all"},
    {"dtype": "float64", "activation": "sigmoid", "init": "identity", "seq_len": 40},
    {"dtype": "float64", "cell": "lstm", "seq_len": 30, "hidden": 16},
    {"cell": "gru", "seq_len": 30, "hidden": 16, "loss_on": "all", "dtype": "float64"},
])
def test_each_frame_is_the_curve_core_unroll_measures_at_that_scale(settings):
    """Same seed, same network: the batched sweep gives unroll's own numbers, overflow and theory included."""
    sweep = core.weight_scale_sweep(core.UnrollConfig(**settings), WEIGHT_SCALES)
    assert sweep.grad_norm.shape == (len(WEIGHT_SCALES), sweep.distance.size)
    for i in PICK:
        res = core.unroll(core.UnrollConfig(**settings, weight_scale=WEIGHT_SCALES[i]))
        if res.lyapunov.size and res.lyapunov[0] > 0.01:
            # chaotic forward pass: any rounding difference (bmm against torch's fused kernel) grows, so the curves
            # agree in their rate, not point by point
            assert sweep.rate[i] == pytest.approx(res.rate, rel=0.05)
            continue
        np.testing.assert_allclose(sweep.grad_norm[i], res.grad_norm, rtol=1e-6, equal_nan=True)
        assert sweep.overflow[i] == (res.overflow is not None)
        if res.theory_curve is not None and res.mean_field_rate is not None:
            np.testing.assert_allclose(sweep.theory[i], res.theory_curve, rtol=1e-9)
            assert sweep.theory_rate[i] == pytest.approx(res.mean_field_rate, rel=1e-12)
        if np.isfinite(res.bound).any():
            np.testing.assert_allclose(sweep.bound[i], res.bound, rtol=1e-6)


def test_the_sweep_shows_the_turn_from_vanishing_to_exploding():
    sweep = core.weight_scale_sweep(core.UnrollConfig(activation="linear", seq_len=60), WEIGHT_SCALES)
    assert sweep.rate[0] < 0.2 and sweep.rate[40] == pytest.approx(1, abs=0.15) and sweep.overflow[80] or \
        sweep.rate[80] > 5
    rates = sweep.rate[np.isfinite(sweep.rate)]
    assert np.all(np.diff(rates) > 0)                     # linear: the factor is s·(spectral radius), increasing


def test_cells_without_a_weight_scale_and_jobs_over_budget_get_one_clear_message():
    with pytest.raises(core.ConfigError, match="cell must be a cell with a weight scale"):
        core.weight_scale_sweep(core.UnrollConfig(cell="lru"), WEIGHT_SCALES)
    with pytest.raises(core.BudgetError, match="weight-scale sweep is too big"):
        core.weight_scale_sweep(core.UnrollConfig(cell="lstm", seq_len=500, hidden=256, batch=8), WEIGHT_SCALES)


def test_the_figure_has_one_frame_per_scale_and_starts_at_the_page_s():
    cfg = core.UnrollConfig(weight_scale=WEIGHT_SCALES[55])
    sweep = core.weight_scale_sweep(cfg, WEIGHT_SCALES)
    fig = flow_figs.sweep_figure(sweep)
    assert len(fig.frames) == len(WEIGHT_SCALES)
    slider = fig.layout.sliders[0]
    assert slider.active == 55 and slider.steps[55].label == f"{WEIGHT_SCALES[55]:g}"
    assert fig.layout.title.text.startswith(f"s = {WEIGHT_SCALES[55]:g}:")
    assert list(fig.data[0].y) == list(fig.frames[55].data[0].y)          # the first picture is the start frame
    assert all(s.args[1]["frame"]["redraw"] is False for s in slider.steps)  # no full redraw per step
    lo, hi = fig.layout.yaxis.range
    assert lo < 0 < hi                                                     # every curve starts at 1: it is framed


def test_the_sweep_tab_says_why_for_the_lru():
    at = open_page("app_pages/gradient_flow.py", cell="lru", view="sweep")
    assert any("no weight scale to sweep" in i.value for i in at.info)


def test_scrubbing_the_sweep_redraws_in_the_browser_without_the_server(app_url, page):
    s = WEIGHT_SCALES[50]
    page.goto(app_url + f"/gradient-flow?view=sweep&weight_scale={s}")
    wait_for_app_idle(page)
    find = ("[...document.querySelectorAll('.js-plotly-plot')]"
            ".find(g => g._transitionData && g._transitionData._frames && g._transitionData._frames.length)")
    page.wait_for_function(f"() => !!({find})", timeout=60_000)
    assert page.evaluate(f"() => ({find}).layout.title.text").startswith(f"s = {s:g}:")
    sent = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(payload)))
    rail = page.locator(".slider-rail-rect").first
    rail.scroll_into_view_if_needed()
    box = rail.bounding_box()
    seen = set()
    for frac in (0.0, 0.25, 0.75, 1.0):
        page.mouse.click(box["x"] + box["width"] * frac, box["y"] + box["height"] / 2)
        page.wait_for_timeout(300)
        seen.add((page.evaluate(f"() => ({find}).layout.title.text"),
                  page.evaluate(f"() => JSON.stringify(({find}).data[0].y)")))
    titles = {t for t, _ in seen}
    assert len(seen) == 4 and any("s = 0.1:" in t for t in titles) and any("s = 10:" in t for t in titles)
    assert sent == []                                      # nothing went to the server: no rerun per step
