"""The Home and Gradient flow pages through streamlit.testing's AppTest (entry point app.py)."""
import json

import pytest
from conftest import APP, APPTEST_TIMEOUT, open_page, values
from streamlit.testing.v1 import AppTest

FLOW = "app_pages/gradient_flow.py"


def open_flow(**params):
    return open_page(FLOW, **params)


def charts(at):
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def trace_names(fig):
    return [t.get("name") for t in fig["data"]]


def metric(at, label):
    return next(m.value for m in at.metric if m.label.startswith(label))


def test_home_page_explains_and_links_to_every_page():
    at = AppTest.from_file(APP, default_timeout=APPTEST_TIMEOUT).run()
    assert not at.exception
    assert at.title[0].value == "Gradient Flow Lab"
    text = " ".join(m.value for m in at.markdown)
    assert "one Jacobian per time step" in text and "geometrically" in text
    links = [p.proto.page for p in at.get("page_link")]
    assert "gradient-flow" in links


def test_default_view_reads_the_curve():
    at = open_flow()
    assert metric(at, "Regime") == "vanishing"
    headline = next(m.value for m in at.markdown if m.value.startswith("**Vanishing.**"))
    assert "99 steps back the gradient is" in headline and "it shrinks ×" in headline
    figs = charts(at)
    assert len(figs) == 2          # the curve and the open tab (Clipping): hidden tabs are not drawn
    names = trace_names(figs[0])
    assert "‖∂L/∂h‖ measured" in names and any(n.startswith("Pascanu bound (λ1·γ)^k") for n in names)
    curve = figs[0]["data"][names.index("‖∂L/∂h‖ measured")]
    assert len(curve["y"]) == 100 if isinstance(curve["y"], list) else True


def test_moving_the_weight_scale_changes_the_regime_and_the_url():
    at = open_flow(activation="linear", init="orthogonal", input_scale="0")
    assert metric(at, "Regime") == "stable"
    at.select_slider(key="flow__weight_scale").set_value(1.26).run()
    assert not at.exception
    assert metric(at, "Regime") == "exploding"
    assert metric(at, "Per-step factor") == "1.26"
    assert at.query_params["weight_scale"] in ("1.26", ["1.26"])


def test_url_parameters_open_the_same_view():
    at = open_flow(cell="lstm", seq_len="50", weight_scale="0.5", clip="1", clip_mode="value")
    assert at.selectbox(key="flow__cell").value == "lstm"
    assert at.slider(key="flow__seq_len").value == 50
    assert at.select_slider(key="flow__weight_scale").value == 0.501    # snapped to the slider's log grid
    assert at.select_slider(key="flow__clip").value == 1.0
    assert at.radio(key="flow__clip_mode").value == "value"
    assert not at.warning
    names = trace_names(charts(at)[0])
    assert "‖∂L/∂c‖ cell state" in names and not any(n.startswith("Pascanu bound") for n in names)


@pytest.mark.parametrize("param,value,fragment", [
    ("weight_scale", "1000", "weight_scale must be a number from 0.1 to 10"),
    ("seq_len", "abc", "seq_len must be an integer from 1 to 2000"),
    ("seq_len", "5000", "seq_len must be an integer from 1 to 2000"),
    ("cell", "transformer", "cell must be one of rnn, lstm, gru"),
    ("input_scale", "-1", "input_scale must be a number from 0 to 5"),
    ("clip", "banana", "clip must be a number from 0.01 to 1000 (or 'off')"),
])
def test_bad_url_value_warns_and_falls_back_to_default(param, value, fragment):
    at = open_flow(**{param: value, "batch": "4"})
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 1
    assert f"{param}={value}" in warnings[0] and fragment in warnings[0] and "default" in warnings[0]
    assert at.slider(key="flow__batch").value == 4          # the good parameter still applies
    assert len(charts(at)) == 2                       # and the page still works


def test_overflow_is_explained_and_marked_not_crashed():
    at = open_flow(activation="relu", weight_scale="2.51", seq_len="500")
    assert metric(at, "Regime") == "exploding"
    assert any("overflowed at time step" in e.value for e in at.error)
    fig = charts(at)[0]
    shapes = fig["layout"].get("shapes", [])
    assert any(s.get("type") == "line" and s.get("line", {}).get("color") == "#d62728" for s in shapes)
    names = trace_names(fig)
    assert "measured: finite up to k = 0, not a number beyond (overflow)" in names     # where the curve stops
    overflow_at = next(s["x0"] for s in shapes if s.get("line", {}).get("color") == "#d62728")
    shorter = next(t for t in fig["data"] if "steps alone" in (t.get("name") or ""))
    xs = values(shorter["x"])
    assert min(xs) > overflow_at and max(xs) == 499          # the shorter run at its own steps' distances, not k = 0
    assert "at their distances here" in shorter["name"]


def test_backward_overflow_with_clipping():
    at = open_flow(activation="linear", init="orthogonal", weight_scale="3.98", input_scale="0", seq_len="200",
                   clip="1")
    assert any("gradient overflowed at distance" in e.value for e in at.error)


def test_too_big_for_memory_is_refused_with_a_message():
    at = open_flow(cell="gru", seq_len="2000", hidden="512", batch="64")
    assert any("Cannot run this configuration" in e.value and "GB" in e.value for e in at.error)
    at.slider(key="flow__batch").set_value(1).run()       # and the app keeps working
    assert not at.exception and not at.error and len(charts(at)) == 2


def test_activation_is_disabled_for_gated_cells():
    at = open_flow(cell="gru")
    assert at.selectbox(key="flow__activation").disabled
    assert not open_flow().selectbox(key="flow__activation").disabled


@pytest.mark.parametrize("view,titles", [
    ("spectrum", ["Eigenvalues of W", "Singular values"]),
    ("saturation", ["Saturation: |f′(aₜ)|"]),
    ("clipping", ["Total parameter-gradient norm"]),
])
def test_the_open_tab_is_in_the_url_and_only_it_is_drawn(view, titles):
    at = open_flow(view=view)
    drawn = [f["layout"]["title"]["text"] for f in charts(at)[1:]]
    assert len(drawn) == len(titles) and all(d.startswith(t) for d, t in zip(drawn, titles))
    if view != "saturation":                               # the default tab: not in the URL
        assert at.query_params["view"] in (view, [view])


def test_the_page_opens_on_a_tab_that_shows_something_and_switching_tab_draws_its_charts():
    at = open_flow()
    assert [f["layout"]["title"]["text"][:11] for f in charts(at)[1:]] == ["Saturation:"]
    at.session_state["flow__view"] = "Clipping"
    at.run()
    assert [f["layout"]["title"]["text"][:16] for f in charts(at)[1:]] == ["Total parameter-"]


def test_bad_view_in_url_warns():
    at = open_flow(view="3d")
    assert any("view=3d" in w.value and "clipping, spectrum, saturation" in w.value for w in at.warning)


def test_pinned_curves_stay_for_comparison():
    at = open_flow(seq_len="40")
    at.button[0].click().run()                          # "Pin this curve"
    at.select_slider(key="flow__weight_scale").set_value(0.501).run()
    names = trace_names(charts(at)[0])
    assert "pinned: RNN tanh gaussian s=1 T=40" in names and "‖∂L/∂h‖ measured" in names
    pinned = next(t for t in charts(at)[0]["data"] if t["name"].startswith("pinned"))
    measured = next(t for t in charts(at)[0]["data"] if t["name"] == "‖∂L/∂h‖ measured")
    assert pinned["y"] != measured["y"]
    assert at.query_params["pin"] in ("seq_len:40", ["seq_len:40"])     # the pin is its settings, in the link
    at.button[1].click().run()                          # "Clear pinned"
    assert not any(n.startswith("pinned") for n in trace_names(charts(at)[0]))
    assert "pin" not in at.query_params


def test_a_link_with_two_pins_opens_with_both_and_a_bad_pin_gets_one_line():
    at = open_flow(pin=["activation:sigmoid,seq_len:40", "cell:lstm,seq_len:40", "hidden:9999"])
    names = trace_names(charts(at)[0])
    assert "pinned: RNN sigmoid gaussian s=1 T=40" in names and "pinned: LSTM gaussian s=1 T=40" in names
    assert any("pin=hidden:9999" in w.value and "hidden must be" in w.value for w in at.warning)


def test_reset_page_brings_back_the_defaults_and_drops_the_pins():
    at = open_flow(activation="relu", weight_scale="2", pin="seq_len:40", view="spectrum")
    next(b for b in at.button if b.label == "Reset page").click().run()
    assert at.selectbox(key="flow__activation").value == "tanh"
    assert at.select_slider(key="flow__weight_scale").value == 1
    assert not any(n.startswith("pinned") for n in trace_names(charts(at)[0]))
    assert dict(at.query_params) == {}


def test_a_link_with_more_parameters_than_streamlit_reads_is_warned_about_not_silently_dropped():
    at = open_page("app_pages/gradient_flow.py", seq_len="300",
                   **{f"junk{i}": "1" for i in range(1001)})
    message = next(w.value for w in at.warning if "none of its settings could be read" in w.value)
    assert message.startswith("This link's address has 1,002 parameters (the limit is 1,000)")
    assert at.slider(key="flow__seq_len").value == 100                     # the defaults, as the message says


def test_the_y_axis_is_fixed_by_default_so_two_settings_compare_by_eye_and_fitted_on_request():
    from ui.flow_controls import FIXED_Y_DECADES
    ranges = [tuple(charts(open_flow(**params))[0]["layout"]["yaxis"]["range"])
              for params in ({}, {"weight_scale": "1.58"})]
    assert ranges == [FIXED_Y_DECADES, FIXED_Y_DECADES]
    at = open_flow(y_axis="fitted")
    assert tuple(charts(at)[0]["layout"]["yaxis"]["range"]) != FIXED_Y_DECADES
    assert at.query_params["y_axis"] in ("fitted", ["fitted"])           # and the link keeps it
    at = open_flow(y_axis="sideways")
    assert any("y_axis" in w.value and "fixed, fitted" in w.value for w in at.warning)


def test_the_chart_comes_first_and_the_theory_numbers_are_one_click_away():
    at = open_flow()
    numbers = next(e for e in at.expander if e.label.startswith("The numbers"))
    assert {m.label for m in numbers.get("metric")} >= {"Regime", "Per-step factor (fitted)", "Pascanu bound λ1·γ"}
    assert not [m for m in at.main.get("metric") if m not in numbers.get("metric")]     # none above the chart
