"""Loss cliff, Phase diagram and Why pages through AppTest."""
import json

from conftest import open_page


def metric(at, label):
    return next(m.value for m in at.metric if m.label.startswith(label))


def test_cliff_page_shows_the_jump_and_the_tame_step():
    at = open_page("app_pages/cliff.py", resolution="50")
    figs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert len(figs) == 3
    names = [t.get("name") for t in figs[0]["data"]]
    assert "plain gradient descent" in names and "clipped at ‖∇E‖ ≤ 1" in names
    assert float(metric(at, "Longest plain step")) > 10 * float(metric(at, "Longest clipped step"))
    assert any("leaves the plot" in a["text"] for a in figs[0]["layout"]["annotations"])


def test_cliff_start_and_clipping_follow_the_controls():
    at = open_page("app_pages/cliff.py", resolution="50", w0="2", b0="-1", clip="0.5", lr="0.1")
    assert at.number_input(key="w0").value == 2.0 and at.slider(key="clip").value == 0.5
    assert float(metric(at, "Longest clipped step")) <= 0.1 * 0.5 + 1e-9
    at.number_input(key="w0").set_value(3.5).run()
    assert at.query_params["w0"] in ("3.5", ["3.5"])


def test_cliff_bad_values():
    at = open_page("app_pages/cliff.py", resolution="9999", lr="fast")
    warnings = " ".join(w.value for w in at.warning)
    assert "`resolution=9999`" in warnings and "from 10 to 400" in warnings and "`lr=fast`" in warnings
    at = open_page("app_pages/cliff.py", w_min="5", w_max="2")
    assert any("w_max must be greater than w_min" in e.value for e in at.error)


def test_phase_page_draws_the_grid_and_the_lines():
    at = open_page("app_pages/phase.py", s_count="8", y_count="5", seq_len="40")
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    names = [t.get("name") for t in fig["data"]]
    assert "measured factor = 1" in names and "theory λ1·γ = 1" in names
    assert any("| measured edge s |" in m.value for m in at.markdown)


def test_phase_page_switches_axis_to_activation():
    at = open_page("app_pages/phase.py", s_count="8", seq_len="40")
    at.radio(key="y_axis").set_value("activation").run()
    assert not at.exception
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert fig["layout"]["yaxis"]["ticktext"] == ["tanh", "sigmoid", "relu", "linear"]


def test_phase_bad_values():
    at = open_page("app_pages/phase.py", y_axis="depth", s_count="8", y_count="4", seq_len="30")
    assert any("`y_axis=depth`" in w.value and "input_scale, seq_len, activation" in w.value for w in at.warning)
    assert len(at.get("plotly_chart")) == 1


def test_why_page_has_a_figure_or_link_for_every_step():
    at = open_page("app_pages/why.py")
    assert [h.value[:2] for h in at.subheader][:6] == ["1.", "2.", "3.", "4.", "5.", "6."]
    assert len(at.get("plotly_chart")) == 6
    links = [p.proto.page for p in at.get("page_link")]
    assert {"gradient-flow", "cliff", "training"} <= set(links)
    references = " ".join(m.value for m in at.markdown)
    for author in ("Pascanu", "Bengio, P. Simard", "Hochreiter (1991)", "Schmidhuber (1997)", "Le, N. Jaitly"):
        assert author in references
