"""Loss cliff, Phase diagram and Why pages through AppTest."""
import json

import pytest
from conftest import open_page, values

from ui import theory_figs


def metric(at, label):
    return next(m.value for m in at.metric if m.label.startswith(label))


def figures(at):
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_cliff_page_shows_the_jump_and_the_tame_step():
    at = open_page("app_pages/cliff.py", resolution="50")
    figs = figures(at)
    assert len(figs) == 3
    names = [t.get("name") for t in figs[0]["data"]]
    assert "plain gradient descent" in names and "clipped at ‖∇E‖ ≤ 1" in names
    assert float(metric(at, "Longest plain step")) > 10 * float(metric(at, "Longest clipped step"))
    assert any("leaves the plot" in a["text"] for a in figs[0]["layout"]["annotations"])


def test_cliff_start_and_clipping_follow_the_controls():
    at = open_page("app_pages/cliff.py", resolution="50", w0="2", b0="-1", clip="0.5", lr="0.1")
    assert at.number_input(key="cliff__w0").value == 2.0 and at.slider(key="cliff__clip").value == 0.5
    assert float(metric(at, "Longest clipped step")) <= 0.1 * 0.5 + 1e-9
    at.number_input(key="cliff__w0").set_value(3.5).run()
    assert at.query_params["w0"] in ("3.5", ["3.5"])


def test_cliff_learning_rate_from_a_link_is_kept_exactly():
    at = open_page("app_pages/cliff.py", resolution="50", lr="0.25")
    assert at.select_slider(key="cliff__lr").value == 0.25


@pytest.mark.parametrize("params,fragment", [
    ({"resolution": "9999", "lr": "fast"}, "` resolution=9999 ` ignored: resolution must be an integer from 50 to 400"),
    ({"clip": "50"}, "` clip=50 ` ignored: clip must be a number from 0.05 to 10"),
    ({"steps": "400"}, "` steps=400 ` ignored: steps must be an integer from 1 to 200"),
    ({"target": "0.001"}, "` target=0.001 ` ignored: target must be a number from 0.01 to 1"),
])
def test_cliff_bad_url_values_warn_and_fall_back(params, fragment):
    at = open_page("app_pages/cliff.py", **params)
    assert any(fragment in w.value for w in at.warning), [w.value for w in at.warning]
    assert len(at.get("plotly_chart")) == 3


def test_cliff_inconsistent_range_is_refused_with_a_message():
    at = open_page("app_pages/cliff.py", w_min="5", w_max="2")
    assert any("w_max must be greater than w_min" in e.value for e in at.error)


def test_phase_page_draws_the_grid_and_the_lines():
    at = open_page("app_pages/phase.py", s_count="9", y_count="5", seq_len="40")
    fig = figures(at)[0]
    names = [t.get("name") for t in fig["data"]]
    assert "measured factor = 1" in names and theory_figs.PASCANU_NAME in names and theory_figs.MEAN_FIELD_NAME in names
    assert len(values(fig["data"][0]["x"])) == 9 and len(values(fig["data"][0]["y"])) == 5
    assert any("| measured edge s |" in m.value for m in at.markdown)


def test_phase_grid_sizes_snap_to_the_gradient_flow_sliders():
    at = open_page("app_pages/phase.py", s_count="40", y_count="30", seq_len="30")
    assert at.select_slider(key="phase__s_count").value == 41        # 80 slider steps from 0.1 to 10
    assert at.select_slider(key="phase__y_count").value == 31        # 60 steps of 0.05 from 0 to 3
    fig = figures(at)[0]
    assert len(values(fig["data"][0]["x"])) == 41 and values(fig["data"][0]["y"])[:3] == [0.0, 0.1, 0.2]


def test_phase_page_switches_axis_to_activation():
    at = open_page("app_pages/phase.py", s_count="9", seq_len="40")
    at.radio(key="phase__y_axis").set_value("activation").run()
    assert not at.exception
    fig = figures(at)[0]
    assert fig["layout"]["yaxis"]["ticktext"] == ["tanh", "sigmoid", "relu", "linear"]
    assert at.query_params["y_axis"] in ("activation", ["activation"])


@pytest.mark.parametrize("params,fragment", [
    ({"y_axis": "depth"}, "` y_axis=depth ` ignored: y_axis must be one of input_scale, seq_len, activation"),
    ({"y_max": "50"}, "` y_max=50 ` ignored: with y_axis=input_scale it must be a number from 0 to 5"),
    ({"s_max": "50"}, "` s_max=50 ` ignored: s_max must be a number from 0.1 to 10"),
    ({"y_axis": "seq_len", "y_min": "10", "y_max": "60", "input_scale": "50"},
     "` input_scale=50 ` ignored: input_scale must be a number from 0 to 5"),
])
def test_phase_bad_url_values_warn_and_fall_back(params, fragment):
    at = open_page("app_pages/phase.py", **{"s_count": "9", "y_count": "4", "seq_len": "30", **params})
    assert any(fragment in w.value for w in at.warning), [w.value for w in at.warning]
    assert len(at.get("plotly_chart")) == 1


def test_phase_hidden_size_from_a_link_snaps_to_the_slider():
    at = open_page("app_pages/phase.py", s_count="9", y_count="4", seq_len="30", hidden="100")
    assert at.select_slider(key="phase__hidden").value == 128


def test_each_page_keeps_its_own_controls_across_a_visit_elsewhere():
    """Gradient flow, Loss cliff and Phase diagram all have a `seq_len`; each page keeps its own."""
    at = open_page("app_pages/gradient_flow.py")
    at.slider(key="flow__seq_len").set_value(300).run()
    at.query_params.clear()                      # the sidebar menu opens a page without parameters
    at.switch_page("app_pages/cliff.py")
    at.run()
    assert not at.exception
    assert at.slider(key="cliff__seq_len").value == 50 and at.slider(key="cliff__clip").value == 1.0
    at.slider(key="cliff__seq_len").set_value(30).run()
    at.query_params.clear()
    at.switch_page("app_pages/phase.py")
    at.run()
    assert at.slider(key="phase__seq_len").value == 100 and at.select_slider(key="phase__hidden").value == 64
    at.query_params.clear()
    at.switch_page("app_pages/cliff.py")
    at.run()
    assert at.slider(key="cliff__seq_len").value == 30                # remembered for this session
    assert at.query_params["seq_len"] in ("30", ["30"])


def test_a_link_arriving_later_in_the_session_is_honoured():
    at = open_page("app_pages/cliff.py", resolution="50")
    at.query_params.clear()
    at.switch_page("app_pages/gradient_flow.py")
    at.run()
    at.query_params.clear()
    at.query_params.update({"resolution": "50", "w0": "2.5", "seq_len": "20"})
    at.switch_page("app_pages/cliff.py")
    at.run()
    assert at.number_input(key="cliff__w0").value == 2.5 and at.slider(key="cliff__seq_len").value == 20


def test_why_page_has_a_figure_or_link_for_every_step():
    at = open_page("app_pages/why.py")
    assert [h.value[:2] for h in at.subheader][:7] == ["1.", "2.", "3.", "4.", "5.", "6.", "7."]
    assert len(at.get("plotly_chart")) == 7
    links = [p.proto.page for p in at.get("page_link")]
    assert {"gradient-flow", "cliff", "phase", "training"} <= set(links)
    assert any("preset=gating" in p.proto.query_string for p in at.get("page_link"))
    curves = [c.value for c in at.caption if c.value.startswith("RNN ")]
    assert len(curves) == 4 and any("Exploding" in c for c in curves) and any("Vanishing" in c for c in curves)
    assert any(c.value.startswith("LRU T=500") for c in at.caption)
    references = " ".join(m.value for m in at.markdown)
    for author in ("Pascanu", "Bengio, P. Simard", "Hochreiter (1991)", "Schmidhuber (1997)", "Le, N. Jaitly", "Poole",
                   "Pennington", "Orvieto", "Feng"):
        assert author in references
