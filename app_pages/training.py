"""Training lab: train one network, or race two on the same batches, live on a long-range task."""
import math
import time
from dataclasses import dataclass

import streamlit as st

from core.cells import CELLS
from core.tasks import TASKS
from core.training import History, Race, TrainConfig
from serve.admission import ADMISSION, Place
from serve.runner import RUNNERS, Runner, RunStatus
from ui import a11y, training_figs
from ui.heavy import person, tab
from ui.live_chart import dark, freeze_toggle, frozen, live_data, live_figure, live_plotly_chart
from ui.present import fit_height, presenting
from ui.text import sci
from ui.training_controls import PRESETS, RUN_FIELDS, SHARED, STATE, TASK_OPTIONS, run_controls, task_controls
from ui.url import build_or_stop, inert, show_warnings

TICK_SECONDS = 0.4                            # while running, the live area reruns this often...
CHUNK_SECONDS = 0.3                           # ...trains for about this long, then redraws once, in place
FF_TICK_SECONDS, FF_CHUNK_SECONDS = 1.0, 0.85  # fast-forward: longer chunks, only a progress bar between them
BUSY_TICK_SECONDS = 1.0                       # ...or this often while runs wait for a worker (see `tick`),
BUSY_REDRAW_SECONDS = 3.0                     # and then the charts are rebuilt at most this often
FF_STEPS = [100, 500, 2000]
PRESENT_LOSS_PX = 370                         # the loss chart whole on the first screen of a 1024×768 projector
key = STATE.key


def reset_lab() -> None:
    runner = st.session_state.pop("runner", None)
    if runner is not None:
        runner.pause()                            # its thread ends after the step it is in


def apply_preset(name: str) -> None:
    for field, value in PRESETS[name]["values"].items():
        STATE[field] = value
    st.session_state["preset_shown"] = name
    reset_lab()


def run_label(cfg: TrainConfig, prefix: str) -> str:
    spec = CELLS[cfg.cell]
    return f"{prefix.upper()}: {spec.short}" + (f" {cfg.activation}" if spec.uses_activation else "")


def current_configs() -> list[TrainConfig]:
    options = TASKS[STATE["task"]].options
    shared = {n: STATE[n] for n in SHARED if n not in TASK_OPTIONS or n in options}
    prefixes = ["a", "b"] if STATE["race"] else ["a"]
    return [TrainConfig(**shared, **{n: STATE[f"{p}_{n}"] for n in RUN_FIELDS}) for p in prefixes]


def lost_run_message(run_id: str) -> str | None:
    """What to say when a new session arrives with a URL naming a run (`run=`) it does not have."""
    if run_id in RUNNERS:
        return ("**That link names another tab's training run.** A run belongs to the browser tab that started it "
                "(its weights and history live in that tab's session). The settings are kept: press **Start** to "
                "train your own run here.")
    return (f"**The training run in progress was lost.** This page's address names a run ({inert(run_id, 12)}) "
            "that this server does not have: the server was restarted, or the replica that trained it stopped and "
            "your browser was moved to another one. A run lives in its server's memory only, so its weights and "
            "history are gone. Your settings are kept: press **Start** to train again.")


# ---- arriving: a link wins, then what this session had; a `preset` link is applied over the defaults ----

def arrive() -> list[str]:
    """Before the widgets: the page's values (a link, or this session's), a preset from the URL; the warnings."""
    if "training_seen" not in st.session_state:       # this session's first visit: is the URL's run here?
        st.session_state["training_seen"] = True
        arrived = st.query_params.get("run")
        if arrived is not None:
            st.session_state["lost_run"] = lost_run_message(arrived)
    warnings = STATE.begin()
    preset = st.query_params.get("preset")
    if preset in PRESETS:
        apply_preset(preset)                          # the URL then shows the preset's values, not `preset`
    elif preset is not None:
        warnings.append(f"URL parameter {inert('preset=' + preset)} ignored: preset must be one of "
                        f"{', '.join(PRESETS)}.")
    return warnings


# The sidebar's preset buttons: (preset, label, icon).
PRESET_BUTTONS = [
    ("gating", "Preset: Why gating matters", ":material/school:"),
    ("forgetting", "Preset: Forgetting a digit", ":material/draw:"),
    ("flossing", "Preset: Gradient flossing", ":material/cleaning_services:"),
    ("exploding", "Preset: Exploding gradients and clipping", ":material/bolt:"),
]


def sidebar() -> None:
    sb = st.sidebar
    for name, label, icon in PRESET_BUTTONS:
        sb.button(label, icon=icon, on_click=apply_preset, args=(name,), width="stretch",
                  help=PRESETS[name]["text"])
    sb.header("Task")
    task_controls(sb)
    if STATE["race"]:
        tab_a, tab_b = sb.tabs(["Run A", "Run B"])
        run_controls(tab_a, "a")
        run_controls(tab_b, "b")
    else:
        sb.header("Network")
        run_controls(sb, "a")


def end_state() -> None:
    """After the widgets: the URL holds the settings and, while a run has steps, names it (run=…)."""
    previous = st.session_state.get("runner")
    trained = previous is not None and (previous.race.steps > 0 or previous.status == "running")
    STATE.end(extra={"run": [previous.run_id]} if trained else None)
    if trained:
        st.session_state.pop("lost_run", None)      # a new run: the note about the lost one has been read


def header(warnings: list[str]) -> None:
    st.title("Training lab")
    st.caption("Vanishing gradients are silent: the loss just stops improving on anything long-range. Exploding "
               "gradients are loud: NaN, and training halts. Train a network on a long-range task and watch both.")
    show_warnings(warnings)
    if (lost := st.session_state.get("lost_run")) is not None:
        st.warning(lost, icon=":material/cloud_off:")
    if (shown := st.session_state.get("preset_shown")) is not None:
        if presenting():        # the teacher says it; the loss chart stays on the first screen of a projector
            with st.expander(f"Preset: {PRESETS[shown]['title']} (what to watch)", icon=":material/school:"):
                st.markdown(PRESETS[shown]["text"])
        else:
            st.info(f"**{PRESETS[shown]['title']}.** {PRESETS[shown]['text']}", icon=":material/school:")


def session_runner(configs: list[TrainConfig]) -> Runner:
    """This session's runner: kept while it has trained, replaced when the settings changed before any step.

    The run trains in a background thread (core.training.Runner) while this page only draws it: the thread takes
    turns with every other heavy job of the server (serve/admission.py) and stops when the page is left."""
    runner: Runner | None = st.session_state.get("runner")
    if runner is None or (runner.race.steps == 0 and runner.race.configs != configs):
        reset_lab()
        runner = st.session_state["runner"] = Runner(build_or_stop(lambda: Race(configs), "train these runs"),
                                                     ADMISSION, chunk_s=CHUNK_SECONDS, person=person(), tab=tab())
    return runner


@dataclass(frozen=True)
class LiveView:
    """What the full run of the page drew the buttons and the timer for: the fragment's ticks compare with it."""
    runner: Runner
    status: str              # the runner's status then
    finishing: bool          # paused, the thread finishing the step it was in


def fast_forward(runner: Runner) -> None:
    """Train the next N steps without drawing the charts in between (a progress bar instead), then pause."""
    runner.start(steps=st.session_state["ff_steps"])


def run_buttons(view: LiveView, stale: bool) -> None:
    """Start, Pause, Step, Reset and Fast-forward, for the run's state this run of the page saw."""
    runner = view.runner
    running = view.status == "running"
    can_train = not running and runner.race.live and not stale
    with st.container(horizontal=True, vertical_alignment="center"):
        st.button("Start", icon=":material/play_arrow:", type="primary", on_click=runner.start,
                  disabled=not can_train, key="btn_start", help="Train until you press Pause.")
        st.button("Pause", icon=":material/pause:", on_click=runner.pause, disabled=not running, key="btn_pause",
                  help="Stop after the step being computed; nothing more is trained until Start or Step.")
        st.button("Step", icon=":material/skip_next:", on_click=runner.step, disabled=not can_train,
                  key="btn_step", help="Train on exactly one batch.")
        st.button("Reset", icon=":material/restart_alt:", on_click=reset_lab, key="btn_reset",
                  help="Throw the trained weights and the history away and start over with the current settings.")
        st.button("Fast-forward", icon=":material/fast_forward:", on_click=fast_forward, args=(runner,),
                  key="btn_ff", disabled=not can_train,
                  help="Train the number of steps on the right without redrawing the charts in between (faster, "
                       "and no dead air for a class), with a progress bar; Pause stops it. The charts come back at "
                       "the end.")
        st.selectbox("Steps to fast-forward", FF_STEPS, index=1, key="ff_steps", label_visibility="collapsed",
                     format_func=lambda n: f"{n} steps", disabled=running, width=130,
                     help="How many steps Fast-forward trains before it pauses and draws the charts again.")
        freeze_toggle()             # the charts hold still, training goes on (WCAG 2.2.2; ui/live_chart.py)
    if stale:
        st.warning("The settings changed since this run started: press **Reset** to train with the new ones "
                   "(the charts below still show the old run).", icon=":material/sync_problem:")


def training_wait(place: Place) -> str:
    """What a run waiting for its next chunk is waiting for (serve/admission.py Place)."""
    if place.own_first:
        return "waiting for your earlier job (in this or another tab) to finish: each person runs one job at a time"
    ahead = "nobody" if not place.people_ahead else (
        "1 person" if place.people_ahead == 1 else f"{place.people_ahead} people")
    return (f"waiting for a free worker, {ahead} ahead (the server runs {place.slots} jobs at a time; people take "
            "turns)")


def status_line(run: RunStatus, labels: list[str]) -> str:
    losses = " · ".join(f"{label} loss {sci(loss, 3)}" for label, loss in zip(labels, run.losses))
    return (f"**{run_state(run)}** · step **{run.step}** · {run.steps_per_second:.0f} steps/s · "
            f"{run.seconds:.1f} s of training" + (f" · {losses}" if losses else ""))


def run_state(run: RunStatus) -> str:
    """The run's state in words."""
    if run.state == "refused":
        return f"not training: {run.refused}"
    if run.state == "waiting" and run.waiting is not None:
        return training_wait(run.waiting)
    return {"ready": "ready", "running": "training…", "waiting": "training…", "pausing":
            "pausing: finishing the step in progress…", "paused": "paused", "stopped": "stopped: NaN/inf"}[
        run.state]


# ---- the live area: a fragment redrawn every tick while the run trains ----------------------------------------

def live_area(view: LiveView) -> None:
    """The live area: while the run trains (in its thread) it is redrawn every tick, in place (ui/live_chart:
    no blank frame, no scroll jump); the figures are rebuilt only when there are new steps."""
    full_run = st.session_state.pop("_live_resend", True)    # False: a tick of the timer, only this fragment
    runner = view.runner
    runner.watch()
    if runner.status != view.status or (view.finishing and not runner.busy):
        st.rerun(scope="app")             # paused, stopped or finished by the thread: refresh buttons and timer
    if not full_run and not (view.status == "running" or view.finishing):
        # A tick from a timer this page no longer has: the browser missed the end of the last full run (Streamlit
        # drops a run's last messages when a timer's rerun arrives just as it ends). Redraw the page whole.
        st.rerun(scope="app")
    run_labels = [run_label(c, p) for c, p in zip(runner.race.configs, ["a", "b"])]
    histories, status = runner.snapshot()
    st.session_state["run_status"] = status          # what the status line says, typed (tests read it)
    steps = status.step
    run_status(status, run_labels)
    if fast_forward_progress(status):
        return
    divergence_alerts(st.container(), runner, histories, run_labels)
    figures = live_figures(runner, histories, steps, run_labels)
    draw_live_charts(figures, len(histories), resend=full_run)
    if runner.status != "running" and steps:
        downloads(histories, run_labels)


def run_status(status: RunStatus, run_labels: list[str]) -> None:
    st.markdown(status_line(status, run_labels))
    if status.over_budget is not None:
        st.error(f"Training paused: {status.over_budget}. Press Reset to train with smaller settings.",
                 icon=":material/timer_off:")
    # For a screen reader: the run's state alone, in a live region (ui/a11y.py), so a change is announced
    # (ready, training, paused, stopped) and not every step count of the line above.
    st.container(key=a11y.RUN_STATE_KEY).markdown(f"Training lab: {run_state(status)}")
    if status.error is not None:
        st.error(f"Training stopped: {inert(status.error)}. Press Start to try again, or Reset.",
                 icon=":material/error:")


def fast_forward_progress(status: RunStatus) -> bool:
    """While fast-forwarding: a progress bar instead of the charts (True)."""
    ff = status.fast_forward
    if ff is None or status.state not in ("running", "waiting", "refused"):
        return False
    done, total = status.step - ff[0], ff[1] - ff[0]
    st.progress(min(1.0, done / total), text=f"Fast-forward: {done} of {total} steps (the charts come back "
                                              "at the end; Pause stops here)")
    return True


def divergence_alerts(alerts, runner: Runner, histories: list[History], run_labels: list[str]) -> None:
    """A run whose loss or gradient became NaN/inf: where, and what to try. `alerts` is always drawn, so the charts
    below keep their place when it fills."""
    going_on = [lbl for lbl, h in zip(run_labels, histories) if h.diverged_at is None]
    for label, history, cfg in zip(run_labels, histories, runner.race.configs):
        if history.diverged_at is None:
            continue
        bad = history.records[-1]
        what = "loss" if not math.isfinite(bad.loss) else "gradient norm"
        tips = ["enable clipping by norm (threshold 1)" if cfg.clip is None else "lower the clipping threshold",
                "lower the learning rate", "use a smaller weight scale or an LSTM/GRU"]
        alerts.error(f"**{label} stopped at step {history.diverged_at}:** its {what} became NaN/inf, so the "
                     f"update was not applied and training paused. The charts keep the history. Try: "
                     + "; ".join(tips) + ". Then press Reset"
                     + (f" (or Start to go on with {going_on[0]} alone)." if going_on else "."),
                     icon=":material/error:")


def live_figures(runner: Runner, histories: list[History], steps: int, run_labels: list[str]) -> tuple:
    """(stamp, the charts as live figures, when they were built, each figure with its description now), rebuilt
    only when the runs changed (and not while the charts are frozen).

    The four charts change only when the runs do: while this session waits for a worker (or is paused) its ticks
    send the figures it already built instead of building them again (~110 ms of server time a tick). While other
    runs wait for a worker, rebuilding them at most every BUSY_REDRAW_SECONDS leaves the server's time to the
    training of the runs in turn (building the four figures costs ~0.1 s of the interpreter)."""
    stamp = (steps, tuple(h.diverged_at for h in histories), tuple(run_labels), presenting(), dark(), id(runner))
    cached = st.session_state.get("_live_figures")
    held = frozen() and cached is not None and cached[0][2:] == stamp[2:]     # same runs: keep their pictures
    if held and cached[0] != stamp:
        st.caption(f"Charts frozen at step {cached[0][0]}; training goes on (step {steps} in the line above). "
                   "Switch off **Freeze charts** to see the run as it is now.")
    if cached is None or (cached[0] != stamp and not held and (
            runner.status != "running" or ADMISSION.waiting == 0
            or time.monotonic() - cached[2] >= BUSY_REDRAW_SECONDS)):
        figures = build_figures(runner, histories, run_labels)
        cached = st.session_state["_live_figures"] = (stamp, [live_figure(f) for f in figures], time.monotonic(),
                                                      [(f, a11y.describe_now(f)) for f in figures])
    return cached


def build_figures(runner: Runner, histories: list[History], run_labels: list[str]) -> list:
    """Loss and gradient norm, then accuracy and Lyapunov exponents (when the runs have them), then the heatmaps."""
    configs = runner.race.configs
    task = TASKS[configs[0].task]
    loss = training_figs.loss_figure(histories, run_labels, task.baseline, task.baseline_label, task.loss_name)
    figures = [fit_height(loss, PRESENT_LOSS_PX) if presenting() else loss,
               training_figs.grad_norm_figure(histories, run_labels, [c.clip for c in configs])]
    if task.accuracy is not None:
        figures.append(training_figs.accuracy_figure(histories, run_labels, 1 / task.output_size))
    if any(r.lyapunov is not None for h in histories for r in h.records[:1]):
        figures.append(training_figs.lyapunov_figure(histories, run_labels))
    return figures + [training_figs.distance_heatmap(h, label) for h, label in zip(histories, run_labels)]


def draw_live_charts(cached: tuple, runs: int, resend: bool) -> None:
    """A tick with nothing new sends each chart's version only (the browser keeps the figures it has); a full run
    of the page sends them whole."""
    version = repr(cached[0])
    (loss_fig, grad_fig, *rest), (loss_data, grad_data, *rest_data) = cached[1], cached[3]
    n_extra = len(rest) - runs
    extra, heat_figs = list(zip(rest[:n_extra], rest_data[:n_extra])), list(zip(rest[n_extra:], rest_data[n_extra:]))

    def draw(fig, data, key):                 # the chart, then its description and data (ui/live_chart.live_data)
        live_plotly_chart(fig, key=key, version=version, resend=resend)
        live_data(*data, key=key)
    draw(loss_fig, loss_data, "train_loss")
    if extra:
        for col, (fig, data), name in zip(st.columns(len(extra)), extra, ("a", "b")):
            with col:
                draw(fig, data, f"train_extra_{name}")
    draw(grad_fig, grad_data, "train_grad")
    for i, (col, (heat, data)) in enumerate(zip(st.columns(len(heat_figs)), heat_figs)):
        with col:
            draw(heat, data, f"train_heat_{i}")


def downloads(histories: list[History], run_labels: list[str]) -> None:
    with st.container(horizontal=True):
        st.download_button("Download history (CSV)", lambda: training_figs.history_csv(histories, run_labels),
                           file_name="training_history.csv", mime="text/csv", icon=":material/download:",
                           on_click="ignore",
                           help="Every step of every run: loss, gradient norms, clipping (past 3,000 steps the "
                                "older steps come in merged rows; the column span says how many).")
        st.download_button("Download configuration (JSON)",
                           lambda: training_figs.configs_json(histories, run_labels),
                           file_name="training_config.json", mime="application/json",
                           icon=":material/download:", on_click="ignore",
                           help="The settings of every run, as `python -m core train` flags take them.")


# The live area is a fragment whose identity names the run's state (Streamlit derives a fragment's id from the
# function's name and its place on the page): one fragment function per state, the same drawing in each. A timer
# tick sent for the state before a full run (a tick already on its way when Pause was pressed) then names a
# fragment the new run did not register, and the server drops it on arrival. With one id for every state, such a
# tick arriving just as that full run ends makes Streamlit 1.67 start a new run and drop the end of the full one
# (its last deltas, and the timer it set), so the page kept stale buttons and stopped ticking
# (harness/streamlit_client.py, module notes).
def live_running(view: LiveView) -> None:
    live_area(view)


def live_finishing(view: LiveView) -> None:
    live_area(view)


def live_idle(view: LiveView) -> None:
    live_area(view)


LIVE_BY_PHASE = {"running": live_running, "finishing": live_finishing, "idle": live_idle}


def live(view: LiveView) -> None:
    """The live area, as the fragment of the run's state, ticking while the run trains or finishes its step."""
    running = view.status == "running"
    fast = running and view.runner.target is not None
    st.session_state["_live_resend"] = True            # this full run sends the charts whole (see live_area)
    # While other runs wait for a worker, this page redraws less often: each redraw costs the server time that the
    # training of the runs in turn needs (the status line still says where this run is in line).
    tick = FF_TICK_SECONDS if fast else (TICK_SECONDS if ADMISSION.waiting == 0 else BUSY_TICK_SECONDS)
    phase = "running" if running else "finishing" if view.finishing else "idle"
    st.fragment(LIVE_BY_PHASE[phase], run_every=None if phase == "idle" else tick)(view)


def about_the_charts(configs: list[TrainConfig]) -> None:
    st.caption(f"Each step trains on one batch; every {configs[0].probe_every} steps the gradient reaching each "
               "distance is measured on 8 sequences of the batch (heatmaps), and the top Lyapunov exponents along its "
               "first sequence (every step of a run that flosses). "
               + (f"The accuracy chart shows held-out digits that no run trains on: 100 of the 360 held-out images (10 "
                  f"of each digit), measured every {configs[0].probe_every} steps. "
                  if TASKS[configs[0].task].heldout is not None else
                  "The accuracy is that of each new batch, before the network trains on it. "
                  if TASKS[configs[0].task].accuracy is not None else "")
               + "Training state lives in your browser "
               "session only: other users never see or touch your models. Training runs only while this page is "
               "open: on another page it waits, and goes on when you come back.")


def training_page() -> None:
    warnings = arrive()
    sidebar()
    end_state()
    header(warnings)
    configs = build_or_stop(current_configs, "train this configuration")
    task = TASKS[configs[0].task]
    st.caption(f"**Task: {task.label}.** {task.description}")
    runner = session_runner(configs)
    status = runner.status                      # one reading of the run's state for the buttons and the live area
    view = LiveView(runner, status, finishing=runner.busy and status != "running")
    run_buttons(view, stale=runner.race.configs != configs)
    live(view)
    about_the_charts(configs)


if __name__ == "__main__":             # run by Streamlit as the page (ui/nav.py)
    training_page()
