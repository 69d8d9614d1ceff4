"""The Training lab page through AppTest: preset link, Step, Start, Reset, bad URL values."""
import asyncio
import time

import pytest
from conftest import ROOT, live_figures, open_page, run_async, streamlit_server, values

from core.training import CLIPPING_RACE, GATING_RACE
from harness.streamlit_client import StreamlitSession
from serve.runner import RunStatus

PAGE = "app_pages/training.py"


def open_training(**params):
    return open_page(PAGE, **params)


def status(at) -> RunStatus:
    """The run's status as the live area last drew it (its status line says the same in words)."""
    return at.session_state["run_status"]


def status_line(at) -> str:
    return next(m.value for m in at.markdown if " · step **" in m.value)


def test_preset_link_sets_up_the_race():
    at = open_training(preset="gating")
    assert any("Why gating matters" in i.value for i in at.info)
    assert at.toggle(key="training__race").value is True
    assert at.selectbox(key="training__a_cell").value == "lstm" and at.selectbox(key="training__b_cell").value == "rnn"
    assert at.slider(key="training__seq_len").value == 100 and at.selectbox(key="training__task").value == "adding"
    assert (status(at).state, status(at).step) == ("ready", 0)
    assert status_line(at).startswith("**ready** · step **0**")
    assert at.session_state["runner"].race.configs == list(GATING_RACE)        # exactly the preset of the engine


def test_the_clipping_preset_races_the_same_network_with_and_without_clipping():
    at = open_training(preset="exploding")
    assert any("Exploding gradients and clipping" in i.value for i in at.info)
    assert at.session_state["runner"].race.configs == list(CLIPPING_RACE)
    assert at.select_slider(key="training__a_clip").value == 1.0
    assert at.select_slider(key="training__b_clip").value is None


def test_step_trains_one_batch_and_reset_starts_over():
    at = open_training(seq_len="20", a_hidden="8", batch="8")
    at.button(key="btn_step").click().run()
    assert status(at).step == 1
    at.button(key="btn_step").click().run()
    assert status(at).step == 2 and len(status(at).losses) == 1 and "A: LSTM loss" in status_line(at)
    assert [d.proto.label for d in at.get("download_button")] == ["Download history (CSV)",
                                                                  "Download configuration (JSON)"]
    at.button(key="btn_reset").click().run()
    assert status(at).step == 0


def test_start_runs_live_and_pause_stops():
    at = open_training(seq_len="20", a_hidden="8", batch="8")
    at.button(key="btn_start").click().run()
    assert at.session_state["runner"].status == "running"
    assert at.button(key="btn_start").disabled and not at.button(key="btn_pause").disabled
    deadline = time.monotonic() + 30
    while steps_shown(at) == 0 and time.monotonic() < deadline:   # the run trains in its own thread
        time.sleep(0.2)
        at.run()
    assert steps_shown(at) > 0
    at.button(key="btn_pause").click().run()
    runner = at.session_state["runner"]
    deadline = time.monotonic() + 30
    while runner.busy and time.monotonic() < deadline:             # the step in progress finishes
        time.sleep(0.1)
    at.run()
    assert runner.status == "paused" and status(at).state == "paused"
    paused_at = steps_shown(at)
    time.sleep(1.0)
    at.run()
    assert steps_shown(at) == paused_at == runner.race.steps             # paused means nothing more is trained


def test_the_run_waits_while_nobody_watches_and_goes_on_when_the_page_is_back():
    at = open_training(seq_len="20", a_hidden="8", batch="8")
    runner = at.session_state["runner"]
    runner.unwatched_s = 0.5
    at.button(key="btn_start").click().run()
    at.switch_page("app_pages/home.py").run()                     # the lab's page is left
    deadline = time.monotonic() + 30
    while runner.busy and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not runner.busy and runner.status == "running"          # its thread ended: the run waits
    left_at = runner.race.steps
    time.sleep(1.0)
    assert runner.race.steps == left_at
    at.switch_page("app_pages/training.py").run()                 # back: it goes on
    deadline = time.monotonic() + 30
    while runner.race.steps == left_at and time.monotonic() < deadline:
        time.sleep(0.1)
    assert runner.race.steps > left_at
    at.button(key="btn_pause").click().run()


def steps_shown(at) -> int:
    return status(at).step


def step_until_diverged(at, most: int) -> None:
    """Press Step until the lab reports NaN/inf (at most `most` times)."""
    for _ in range(most):
        if at.session_state["runner"].status == "diverged":
            break
        at.button(key="btn_step").click().run()
    assert at.session_state["runner"].status == "diverged"


def test_divergence_pauses_with_advice_and_keeps_history():
    at = open_training(a_cell="rnn", a_activation="relu", a_init="identity", a_weight_scale="3.16",
                       a_optimizer="sgd", a_lr="1", a_clip="off", seq_len="60")
    step_until_diverged(at, 3)
    message = next(e.value for e in at.error if "stopped at step" in e.value)
    assert "NaN/inf" in message and "enable clipping" in message
    assert at.button(key="btn_start").disabled
    figures = live_figures(at)
    assert len(figures) == 3                                       # charts keep the history
    steps = status(at).step
    assert len(values(figures[0]["data"][0]["x"])) == steps


@pytest.mark.parametrize("seq_len", ["5000", "5", "10"])
def test_bad_url_values_warn_and_fall_back(seq_len):
    at = open_training(seq_len=seq_len, a_lr="banana", preset="magic")
    warnings = " ".join(w.value for w in at.warning)
    assert f"` seq_len={seq_len} `" in warnings and "from 11 to 500" in warnings    # 11: every task fits
    assert "` a_lr=banana `" in warnings
    assert "` preset=magic `" in warnings and "gating" in warnings
    assert at.slider(key="training__seq_len").value == 100


def test_settings_change_after_training_asks_for_reset():
    at = open_training(seq_len="20", a_hidden="8", batch="8")
    at.button(key="btn_step").click().run()
    at.select_slider(key="training__a_lr").set_value(0.01).run()
    assert any("press **Reset**" in w.value for w in at.warning)
    assert at.button(key="btn_start").disabled


def test_race_goes_on_with_the_healthy_run_after_the_other_diverges():
    at = open_training(race="true", seq_len="60", batch="8", a_hidden="8", b_cell="rnn", b_activation="relu",
                       b_init="identity", b_weight_scale="3.16", b_optimizer="sgd", b_lr="1", b_clip="off")
    step_until_diverged(at, 5)
    message = next(e.value for e in at.error if "stopped at step" in e.value)
    assert message.startswith("**B: RNN relu stopped") and "Start to go on with A: LSTM alone" in message
    stopped = status(at).step
    assert not at.button(key="btn_step").disabled and not at.button(key="btn_start").disabled
    at.button(key="btn_step").click().run()
    assert status(at).step == stopped + 1 and at.session_state["runner"].status == "paused"
    assert any("B: RNN relu stopped" in e.value for e in at.error)          # the stopped run stays reported


def test_every_task_trains_from_the_page():
    for task in ("copy", "order"):
        at = open_training(task=task, seq_len="20", a_hidden="8", batch="8")
        assert at.selectbox(key="training__task").value == task
        at.button(key="btn_step").click().run()
        assert not at.exception and status(at).step == 1
        task_text = " ".join(c.value for c in at.caption)
        expected = {"copy": "cross-entropy over those 5 recall steps only", "order": "which order it saw"}[task]
        assert expected in task_text
        assert "T is the" in task_text


def test_a_visit_to_another_page_keeps_the_controls_and_the_run():
    at = open_training(seq_len="20", a_hidden="8", batch="8", a_lr="0.01")
    at.button(key="btn_step").click().run()
    at.button(key="btn_step").click().run()
    at.switch_page("app_pages/home.py").run()
    at.switch_page("app_pages/training.py").run()
    assert not at.exception and status(at).step == 2
    assert at.select_slider(key="training__a_lr").value == 0.01 and at.slider(key="training__seq_len").value == 20
    assert not any("press **Reset**" in w.value for w in at.warning)
    assert not at.button(key="btn_start").disabled


def test_a_preset_link_followed_on_a_later_visit_still_opens_the_preset():
    at = open_training(seq_len="20", a_hidden="8", batch="8")
    at.button(key="btn_step").click().run()
    at.switch_page("app_pages/why.py").run()
    at.switch_page("app_pages/training.py")
    at.query_params["preset"] = "gating"                   # what the Why page's link does
    at.run()
    assert any("Why gating matters" in i.value for i in at.info)
    assert at.session_state["runner"].race.configs == list(GATING_RACE) and status(at).step == 0
    assert "preset" not in at.query_params                  # applied once, not again on every rerun


def test_a_timer_tick_sent_before_pause_is_dropped_and_the_paused_page_stays_whole():
    """Streamlit 1.67 drops the end of a full run (its last deltas and the timer it sets) when a fragment's timer
    tick arrives just as that run ends. The live area's fragment is named after the run's state, so a tick of the
    running page's timer that reaches the server after Pause names a fragment the page no longer has: the server
    drops it, and no run can cut off the Pause run. Real server, protocol-level client (a tick sent on purpose)."""
    timeout = 90

    async def scenario(base):
        async with StreamlitSession() as s:
            await s.connect(base, page_url_path="training", query_string="seq_len=20&a_hidden=8&batch=8",
                            timeout=timeout)
            assert (await s.click("Start", timeout=timeout)).status == "FINISHED_SUCCESSFULLY"
            running_timers = set(s._auto)
            assert running_timers                               # the live area ticks while the run trains
            await s.click("Pause", timeout=timeout)
            await s.wait_idle(timeout=timeout, quiet=1.5)       # the step in progress ends; the page redraws
            assert not s._auto                                  # a paused page has no timer
            runs = s.runs_started
            for fragment_id in running_timers:                  # a tick that was on its way when Pause went out
                await s._send_rerun(fragment_id, auto=True)
            await asyncio.sleep(1.5)
            assert s.runs_started == runs and s.lost_runs == 0
            assert not s.find_widget("Start").proto.disabled and s.find_widget("Pause").proto.disabled
            assert any(e.markdown.body.startswith("**paused** · step **") for e in s.elements("markdown"))

    with streamlit_server(ROOT / "app.py") as base:
        run_async(scenario(base))


def test_a_link_naming_a_run_this_server_does_not_have_says_the_run_was_lost_and_keeps_the_settings():
    """Failover or restart: the browser comes back (new session) with the URL of a run in progress."""
    at = open_training(seq_len="20", a_hidden="8", batch="8", run="0123456789ab")
    lost = next(w.value for w in at.warning if "was lost" in w.value)
    assert "0123456789ab" in lost and "the server was restarted, or the replica" in lost
    assert "Your settings are kept: press **Start** to train again." in lost
    assert at.slider(key="training__seq_len").value == 20                     # the settings are the link's
    assert (status(at).state, status(at).step) == ("ready", 0)
    at.button(key="btn_step").click().run()                                    # training again…
    assert status(at).step == 1
    assert not any("was lost" in w.value for w in at.warning)                  # …the note has been read
    run_id = at.session_state["runner"].run_id
    assert at.query_params["run"] in (run_id, [run_id])                        # the URL now names this run


def test_a_link_naming_another_tabs_run_says_so_instead():
    first = open_training(seq_len="20", a_hidden="8", batch="8")
    first.button(key="btn_step").click().run()
    other = open_training(seq_len="20", a_hidden="8", batch="8", run=first.session_state["runner"].run_id)
    assert any("names another tab's training run" in w.value for w in other.warning)
    assert not any("was lost" in w.value for w in other.warning)
