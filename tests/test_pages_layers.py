"""Stacked layers on the Gradient flow page and in its figures (AppTest, entry point app.py)."""
import json

from conftest import open_page
from test_colour_vision import assert_apart

import core
from ui import flow_figs

FLOW = "app_pages/gradient_flow.py"


def charts(at):
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_a_link_with_three_lstm_layers_draws_a_curve_per_layer_and_the_heatmap():
    at = open_page(FLOW, layers="3", cell="lstm")
    assert not at.exception and not at.warning
    assert at.slider(key="flow__layers").value == 3
    figs = charts(at)
    names = [t.get("name") for t in figs[0]["data"]]
    assert "layer 1" in names and "layer 2" in names and "layer 3 (top): ‖∂L/∂h‖ measured" in names
    heatmap = next(f for f in figs if f["data"][0]["type"] == "heatmap" and "Layer × distance" in
                   f["layout"]["title"]["text"])
    assert heatmap["data"][0]["y"] == ["layer 1", "layer 2", "layer 3 (top)"]


def test_moving_the_layers_slider_goes_in_the_url():
    at = open_page(FLOW, seq_len="40")
    assert "layer 1" not in [t.get("name") for t in charts(at)[0]["data"]]
    at.slider(key="flow__layers").set_value(2).run()
    assert not at.exception
    assert at.query_params["layers"] in ("2", ["2"])
    assert "layer 1" in [t.get("name") for t in charts(at)[0]["data"]]


def test_a_bad_layers_value_gets_the_one_line_url_warning():
    at = open_page(FLOW, layers="9")
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 1
    assert "layers=9" in warnings[0] and "layers must be an integer from 1 to 4" in warnings[0]
    assert at.slider(key="flow__layers").value == 1


def test_layers_on_a_cell_without_a_stack_says_why():
    at = open_page(FLOW, layers="2", cell="lru")
    assert any("layers must be 1 for the lru cell" in e.value for e in at.error)


def test_layer_figures():
    res = core.unroll(core.UnrollConfig(cell="gru", layers=4, seq_len=30, hidden=16))
    fig = flow_figs.gradient_curve_figure(res)
    names = [t.name for t in fig.data]
    assert names[:4] == ["layer 1", "layer 2", "layer 3", "layer 4 (top): ‖∂L/∂h‖ measured"]
    assert_apart(fig, at_least=4)                   # told apart by dash, also under colour-vision deficiencies
    heat = flow_figs.layer_heatmap_figure(res)
    assert len(heat.data[0].z) == 4 and len(heat.data[0].z[0]) == 30
    one = flow_figs.gradient_curve_figure(core.unroll(core.UnrollConfig(seq_len=30)))
    assert "‖∂L/∂h‖ measured" in [t.name for t in one.data] and "layer 1" not in [t.name for t in one.data]


def test_the_training_lab_trains_a_stack_from_a_link():
    at = open_page("app_pages/training.py", seq_len="20", a_hidden="8", batch="8", a_layers="2", a_cell="gru")
    assert at.slider(key="training__a_layers").value == 2
    assert at.session_state["runner"].race.configs[0].layers == 2
    at.button(key="btn_step").click().run()
    assert not at.exception
    assert any("step **1**" in m.value for m in at.markdown)
    bad = open_page("app_pages/training.py", a_layers="7")
    assert any("a_layers=7" in w.value and "must be an integer from 1 to 4" in w.value for w in bad.warning)

