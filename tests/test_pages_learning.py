"""The Training lab with the digits and delayed-XOR tasks and gradient flossing, through AppTest."""
from conftest import live_figures, open_page

from core.learning_presets import FLOSSING_RACE, FORGETTING_RACE
from serve.runner import RunStatus

PAGE = "app_pages/training.py"


def status(at) -> RunStatus:
    return at.session_state["run_status"]


def titles(at) -> list[str]:
    return [f["layout"]["title"]["text"] for f in live_figures(at)]


def test_task_picker_names_every_task_by_its_label():
    at = open_page(PAGE)
    assert at.selectbox(key="training__task").options == ["adding problem", "copy / memory", "temporal order",
                                                          "sequential digits", "delayed XOR"]


def test_flossing_preset_races_the_same_rnn_with_and_without_flossing():
    at = open_page(PAGE, preset="flossing")
    assert any("Gradient flossing" in i.value for i in at.info)
    assert at.session_state["runner"].race.configs == list(FLOSSING_RACE)
    assert at.slider(key="training__delay").value == 40
    at.button(key="btn_step").click().run()
    assert status(at).step == 1
    plain, flossed = at.session_state["runner"].race.histories
    assert flossed.records[0].flossed and len(flossed.records[0].lyapunov) == 16
    assert not plain.records[0].flossed and len(plain.records[0].lyapunov) == 5
    assert {"Accuracy", "Top Lyapunov exponents of the forward dynamics"} <= set(titles(at))
    lyap = next(f for f in live_figures(at) if f["layout"]["title"]["text"].startswith("Top Lyapunov"))
    assert {t["name"] for t in lyap["data"] if t.get("showlegend", True)} == {"A: RNN tanh: λ1", "B: RNN tanh: λ1"}


def test_forgetting_preset_reports_held_out_accuracy():
    at = open_page(PAGE, preset="forgetting")
    assert at.session_state["runner"].race.configs == list(FORGETTING_RACE)
    assert at.radio(key="training__pixel_order").value == "row"
    assert at.select_slider(key="training__a_forget_bias").value == 2.0         # the LSTM run's control
    at.button(key="btn_step").click().run()
    histories = at.session_state["runner"].race.histories
    assert all(h.records[0].heldout_accuracy is not None for h in histories)
    assert any("100 of the 360 held-out images (10 of each digit)" in c.value for c in at.caption)
    acc = next(f for f in live_figures(at) if f["layout"]["title"]["text"] == "Accuracy")
    assert [t["name"] for t in acc["data"]] == ["A: LSTM: held-out", "B: RNN tanh: held-out"]


def test_bad_flossing_and_task_values_get_one_message_and_the_page_keeps_working():
    at = open_page(PAGE, a_cell="rnn", a_hidden="16", a_floss_k="32", seq_len="20")
    message = next(e.value for e in at.error if "Cannot train" in e.value)
    assert "floss_k must be from 0 to the state size 16" in message
    at.select_slider(key="training__a_floss_k").set_value(8).run()
    assert not at.exception and not at.error
    at = open_page(PAGE, task="xor", seq_len="20", delay="30")
    assert any("delay must be from 1 to T − 1 = 19" in e.value for e in at.error)
    at = open_page(PAGE, task="digits", seq_len="40")
    assert any("seq_len must be at least 64 for the digits task" in e.value for e in at.error)
    at.slider(key="training__seq_len").set_value(64).run()
    assert not at.exception and not at.error
