"""Training lab: train one network, or race two on the same batches, live on a long-range task."""
import math
import time

import streamlit as st

from core.admission import ADMISSION
from core.cells import CELLS
from core.tasks import TASKS
from core.training import RUNNERS, TRAIN_FIELDS, History, Race, Runner, TrainConfig
from ui import a11y, training_figs
from ui.flow_controls import CLIP_VALUES, UI_MAX_SEED, WEIGHT_SCALES
from ui.heavy import person, tab
from ui.live_chart import live_figure, live_plotly_chart
from ui.present import fit_height, presenting
from ui.text import sci
from ui.training_controls import (
    BATCHES,
    FLOSS_KS,
    FLOSS_UI_MAX,
    FLOSS_WEIGHTS,
    FORGET_BIASES,
    HELP,
    LEARNING_RATES,
    PRESETS,
    RUN_FIELDS,
    SEQ_LENS,
    SHARED,
    STATE,
    TASK_OPTIONS,
    TRAIN_HIDDEN_SIZES,
)
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


def run_controls(container, prefix: str) -> None:
    k = lambda name: key(f"{prefix}_{name}")          # noqa: E731
    container.selectbox("Cell", list(CELLS), key=k("cell"), help=HELP["cell"],
                        format_func=lambda name: CELLS[name].label)
    uses = CELLS[STATE[f"{prefix}_cell"]].train_uses
    container.selectbox("Activation", ["tanh", "relu"], key=k("activation"), disabled="activation" not in uses,
                        help=TRAIN_FIELDS["activation"].help)
    container.selectbox("Initialisation", list(TRAIN_FIELDS["init"].choices), key=k("init"),
                        disabled="init" not in uses, help=TRAIN_FIELDS["init"].help)
    container.select_slider("Weight scale s", WEIGHT_SCALES, key=k("weight_scale"), format_func=lambda v: f"{v:g}",
                            disabled="weight_scale" not in uses or STATE[f"{prefix}_init"] == "pytorch",
                            help=HELP["weight_scale"])
    if "bias" in uses:
        container.slider("Gate bias", -5.0, 5.0, step=0.1, key=k("bias"), help=TRAIN_FIELDS["bias"].help)
    if "forget_bias" in uses:
        container.select_slider("Forget-gate bias", FORGET_BIASES, key=k("forget_bias"), format_func=lambda v: f"{v:g}",
                                help=TRAIN_FIELDS["forget_bias"].help)
    if "r_min" in uses:
        c1, c2 = container.columns(2)
        c1.number_input("r min", 0.0, 1.0, step=0.01, format="%.3f", key=k("r_min"), help=TRAIN_FIELDS["r_min"].help)
        c2.number_input("r max", 0.0, 1.0, step=0.001, format="%.3f", key=k("r_max"), help=TRAIN_FIELDS["r_max"].help)
        container.slider("Max phase", 0.0, 6.28, step=0.01, key=k("max_phase"), help=TRAIN_FIELDS["max_phase"].help)
        container.radio("Normalisation γ", ["on", "off"], key=k("lru_norm"), horizontal=True,
                        help=TRAIN_FIELDS["lru_norm"].help)
    container.select_slider("Hidden size", TRAIN_HIDDEN_SIZES, key=k("hidden"), help=HELP["hidden"])
    container.radio("Optimiser", ["adam", "sgd"], key=k("optimizer"), horizontal=True,
                    format_func={"adam": "Adam", "sgd": "SGD"}.get, help=HELP["optimizer"])
    container.select_slider("Learning rate", LEARNING_RATES, key=k("lr"), format_func=lambda v: f"{v:g}",
                            help=HELP["lr"])
    container.select_slider("Clipping threshold", [None] + CLIP_VALUES, key=k("clip"),
                            format_func=lambda v: "off" if v is None else f"{v:g}", help=HELP["clip"])
    container.radio("Clip by", ["norm", "value"], key=k("clip_mode"), horizontal=True,
                    disabled=STATE[f"{prefix}_clip"] is None, help=HELP["clip_mode"])
    floss = container.expander("Gradient flossing", expanded=bool(STATE[f"{prefix}_floss_k"]))
    floss.select_slider("Exponents to floss, K", FLOSS_KS, key=k("floss_k"), help=HELP["floss_k"],
                        format_func=lambda v: "off" if v == 0 else str(v))
    off = not STATE[f"{prefix}_floss_k"]
    floss.number_input("Flossing alone before training (steps)", 0, FLOSS_UI_MAX, key=k("floss_before"),
                       disabled=off, help=TRAIN_FIELDS["floss_before"].help)
    floss.number_input("Floss every N training steps (0: never)", 0, FLOSS_UI_MAX, key=k("floss_every"),
                       disabled=off, help=TRAIN_FIELDS["floss_every"].help)
    floss.select_slider("Weight of Σλᵢ²", FLOSS_WEIGHTS, key=k("floss_weight"), disabled=off,
                        format_func=lambda v: f"{v:g}", help=TRAIN_FIELDS["floss_weight"].help)


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


# ---- state: a link wins, then what this session had; a `preset` link is applied over the defaults ----
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

sb = st.sidebar
sb.button("Preset: Why gating matters", icon=":material/school:", on_click=apply_preset, args=("gating",),
          width="stretch", help=PRESETS["gating"]["text"])
sb.button("Preset: Forgetting a digit", icon=":material/draw:", on_click=apply_preset, args=("forgetting",),
          width="stretch", help=PRESETS["forgetting"]["text"])
sb.button("Preset: Gradient flossing", icon=":material/cleaning_services:", on_click=apply_preset,
          args=("flossing",), width="stretch", help=PRESETS["flossing"]["text"])
sb.button("Preset: Exploding gradients and clipping", icon=":material/bolt:", on_click=apply_preset,
          args=("exploding",), width="stretch", help=PRESETS["exploding"]["text"])
sb.header("Task")
sb.selectbox("Task", list(TASKS), key=key("task"), help=TRAIN_FIELDS["task"].help,
             format_func=lambda name: TASKS[name].label)
sb.slider("Sequence length T", *SEQ_LENS, key=key("seq_len"), help=TRAIN_FIELDS["seq_len"].help)
if STATE["task"] == "digits":
    sb.radio("Pixel order", ["row", "permuted"], key=key("pixel_order"), horizontal=True,
             format_func={"row": "row by row", "permuted": "permuted"}.get, help=TRAIN_FIELDS["pixel_order"].help)
    sb.number_input("Permutation seed", 0, UI_MAX_SEED, key=key("perm_seed"), help=TRAIN_FIELDS["perm_seed"].help,
                    disabled=STATE["pixel_order"] != "permuted")
elif STATE["task"] == "xor":
    sb.slider("Delay d (steps between the bits)", 1, SEQ_LENS[1] - 1, key=key("delay"),
              help=TRAIN_FIELDS["delay"].help)
sb.select_slider("Batch", BATCHES, key=key("batch"), help=HELP["batch"])
sb.number_input("Seed", 0, UI_MAX_SEED, key=key("seed"), help=HELP["seed"])
sb.toggle("Race two runs on the same batches", key=key("race"), help=HELP["race"])
if STATE["race"]:
    tab_a, tab_b = sb.tabs(["Run A", "Run B"])
    run_controls(tab_a, "a")
    run_controls(tab_b, "b")
else:
    sb.header("Network")
    run_controls(sb, "a")
previous = st.session_state.get("runner")       # while a run has steps, the URL names it (run=…)
trained = previous is not None and (previous.race.steps > 0 or previous.status == "running")
STATE.end(extra={"run": [previous.run_id]} if trained else None)
if trained:
    st.session_state.pop("lost_run", None)      # a new run: the note about the lost one has been read

st.title("Training lab")
st.caption("Vanishing gradients are silent: the loss just stops improving on anything long-range. Exploding "
           "gradients are loud: NaN, and training halts. Train a network on a long-range task and watch both.")
show_warnings(warnings)
if (lost := st.session_state.get("lost_run")) is not None:
    st.warning(lost, icon=":material/cloud_off:")
if (shown := st.session_state.get("preset_shown")) is not None:
    if presenting():            # the teacher says it; the loss chart stays on the first screen of a projector
        with st.expander(f"Preset: {PRESETS[shown]['title']} (what to watch)", icon=":material/school:"):
            st.markdown(PRESETS[shown]["text"])
    else:
        st.info(f"**{PRESETS[shown]['title']}.** {PRESETS[shown]['text']}", icon=":material/school:")

configs = build_or_stop(current_configs, "train this configuration")
task = TASKS[configs[0].task]
st.caption(f"**Task: {task.label}.** {task.description}")

# The run trains in a background thread (core.training.Runner) while this page only draws it: the thread
# takes turns with every other heavy job of the server (core/admission.py) and stops when the page is left.
runner: Runner | None = st.session_state.get("runner")
if runner is None or (runner.race.steps == 0 and runner.race.configs != configs):
    reset_lab()
    runner = st.session_state["runner"] = Runner(build_or_stop(lambda: Race(configs), "train these runs"),
                                                 ADMISSION, chunk_s=CHUNK_SECONDS, person=person(), tab=tab())
lab = runner.race
stale = lab.configs != configs


def fast_forward():
    """Train the next N steps without drawing the charts in between (a progress bar instead), then pause."""
    runner.start(steps=st.session_state["ff_steps"])


status = runner.status
running = status == "running"
finishing = runner.busy and not running        # paused, the thread finishing the step it was in
with st.container(horizontal=True, vertical_alignment="center"):
    st.button("Start", icon=":material/play_arrow:", type="primary", on_click=runner.start,
              disabled=running or not lab.live or stale, key="btn_start", help="Train until you press Pause.")
    st.button("Pause", icon=":material/pause:", on_click=runner.pause, disabled=not running, key="btn_pause",
              help="Stop after the step being computed; nothing more is trained until Start or Step.")
    st.button("Step", icon=":material/skip_next:", on_click=runner.step,
              disabled=running or not lab.live or stale, key="btn_step",
              help="Train on exactly one batch.")
    st.button("Reset", icon=":material/restart_alt:", on_click=reset_lab, key="btn_reset",
              help="Throw the trained weights and the history away and start over with the current settings.")
    st.button("Fast-forward", icon=":material/fast_forward:", on_click=fast_forward, key="btn_ff",
              disabled=running or not lab.live or stale,
              help="Train the number of steps on the right without redrawing the charts in between (faster, "
                   "and no dead air for a class), with a progress bar; Pause stops it. The charts come back at "
                   "the end.")
    st.selectbox("Steps to fast-forward", FF_STEPS, index=1, key="ff_steps", label_visibility="collapsed",
                 format_func=lambda n: f"{n} steps", disabled=running, width=130,
                 help="How many steps Fast-forward trains before it pauses and draws the charts again.")
if stale:
    st.warning("The settings changed since this run started: press **Reset** to train with the new ones "
               "(the charts below still show the old run).", icon=":material/sync_problem:")


def training_wait(place) -> str:
    """What a run waiting for its next chunk is waiting for (core/admission.py Place)."""
    if place.own_first:
        return "waiting for your earlier job (in this or another tab) to finish: each person runs one job at a time"
    ahead = "nobody" if not place.people_ahead else (
        "1 person" if place.people_ahead == 1 else f"{place.people_ahead} people")
    return (f"waiting for a free worker, {ahead} ahead (the server runs {place.slots} jobs at a time; people take "
            "turns)")


def status_line(histories: list[History], steps: int, seconds: float, labels: list[str]) -> str:
    rate = steps / seconds if seconds > 0 else 0.0
    last = [h.records[-1] for h in histories if h.records]
    losses = " · ".join(f"{label} loss {sci(r.loss, 3)}" for label, r in zip(labels, last))
    return (f"**{run_state()}** · step **{steps}** · {rate:.0f} steps/s · {seconds:.1f} s of training"
            + (f" · {losses}" if losses else ""))


def run_state() -> str:
    state = {"idle": "ready", "running": "training…", "paused": "paused", "diverged": "stopped: NaN/inf"}[
        runner.status]
    if runner.busy and runner.status != "running":
        state = "pausing: finishing the step in progress…"
    elif runner.refused is not None and runner.status == "running":
        state = f"not training: {runner.refused}"
    elif runner.waiting is not None and runner.status == "running":
        state = training_wait(runner.waiting)
    return state


fast = running and runner.target is not None
st.session_state["_live_resend"] = True            # this full run sends the charts whole (see live())
# While other runs wait for a worker, this page redraws less often: each redraw costs the server time that the
# training of the runs in turn needs (the status line still says where this run is in line).
tick = FF_TICK_SECONDS if fast else (TICK_SECONDS if ADMISSION.waiting == 0 else BUSY_TICK_SECONDS)


def live():
    """The live area: while the run trains (in its thread) it is redrawn every tick, in place (ui/live_chart:
    no blank frame, no scroll jump); the figures are rebuilt only when there are new steps."""
    full_run = st.session_state.pop("_live_resend", True)    # False: a tick of the timer, only this fragment
    runner.watch()
    if runner.status != status or (finishing and not runner.busy):
        st.rerun(scope="app")             # paused, stopped or finished by the thread: refresh buttons and timer
    if not full_run and not (running or finishing):
        # A tick from a timer this page no longer has: the browser missed the end of the last full run (Streamlit
        # drops a run's last messages when a timer's rerun arrives just as it ends). Redraw the page whole.
        st.rerun(scope="app")
    run_labels = [run_label(c, p) for c, p in zip(lab.configs, ["a", "b"])]
    task = TASKS[lab.configs[0].task]
    histories, steps, seconds = runner.snapshot()
    st.markdown(status_line(histories, steps, seconds, run_labels))
    if runner.over_budget is not None:
        st.error(f"Training paused: {runner.over_budget}. Press Reset to train with smaller settings.",
                 icon=":material/timer_off:")
    # For a screen reader: the run's state alone, in a live region (ui/a11y.py), so a change is announced
    # (ready, training, paused, stopped) and not every step count of the line above.
    st.container(key=a11y.RUN_STATE_KEY).markdown(f"Training lab: {run_state()}")
    if runner.error is not None:
        st.error(f"Training stopped: {inert(runner.error)}. Press Start to try again, or Reset.",
                 icon=":material/error:")
    ff = runner.target
    if ff is not None and runner.status == "running":
        done, total = steps - ff[0], ff[1] - ff[0]
        st.progress(min(1.0, done / total), text=f"Fast-forward: {done} of {total} steps (the charts come back "
                                                  "at the end; Pause stops here)")
        return
    alerts = st.container()             # always there, so the charts below keep their place when it fills
    going_on = [lbl for lbl, h in zip(run_labels, histories) if h.diverged_at is None]
    for label, history, cfg in zip(run_labels, histories, lab.configs):
        if history.diverged_at is not None:
            bad = history.records[-1]
            what = "loss" if not math.isfinite(bad.loss) else "gradient norm"
            tips = ["enable clipping by norm (threshold 1)" if cfg.clip is None else "lower the clipping threshold",
                    "lower the learning rate", "use a smaller weight scale or an LSTM/GRU"]
            alerts.error(f"**{label} stopped at step {history.diverged_at}:** its {what} became NaN/inf, so the "
                     f"update was not applied and training paused. The charts keep the history. Try: "
                     + "; ".join(tips) + ". Then press Reset"
                     + (f" (or Start to go on with {going_on[0]} alone)." if going_on else "."),
                     icon=":material/error:")
    # The four charts change only when the runs do: while this session waits for a worker (or is paused) its
    # ticks send the figures it already built instead of building them again (~110 ms of server time a tick).
    # While other runs wait for a worker, rebuilding them at most every BUSY_REDRAW_SECONDS leaves the server's
    # time to the training of the runs in turn (building the four figures costs ~0.1 s of the interpreter).
    stamp = (steps, tuple(h.diverged_at for h in histories), tuple(run_labels), presenting(), id(runner))
    cached = st.session_state.get("_live_figures")
    if cached is None or (cached[0] != stamp and (
            runner.status != "running" or ADMISSION.waiting == 0
            or time.monotonic() - cached[2] >= BUSY_REDRAW_SECONDS)):
        loss = training_figs.loss_figure(histories, run_labels, task.baseline, task.baseline_label, task.loss_name)
        figures = [fit_height(loss, PRESENT_LOSS_PX) if presenting() else loss,
                   training_figs.grad_norm_figure(histories, run_labels, [c.clip for c in lab.configs])]
        if task.accuracy is not None:
            figures.append(training_figs.accuracy_figure(histories, run_labels, 1 / task.output_size))
        if any(r.lyapunov is not None for h in histories for r in h.records[:1]):
            figures.append(training_figs.lyapunov_figure(histories, run_labels))
        figures += [training_figs.distance_heatmap(h, label) for h, label in zip(histories, run_labels)]
        cached = st.session_state["_live_figures"] = (stamp, [live_figure(f) for f in figures], time.monotonic())
    # A tick with nothing new sends each chart's version only (the browser keeps the figures it has); a full
    # run of the page sends them whole.
    version, resend = repr(cached[0]), full_run
    loss_fig, grad_fig, *rest = cached[1]
    extra, heat_figs = rest[:len(rest) - len(histories)], rest[len(rest) - len(histories):]
    live_plotly_chart(loss_fig, key="train_loss", version=version, resend=resend)
    if extra:
        for col, fig, name in zip(st.columns(len(extra)), extra, ("a", "b")):
            with col:
                live_plotly_chart(fig, key=f"train_extra_{name}", version=version, resend=resend)
    live_plotly_chart(grad_fig, key="train_grad", version=version, resend=resend)
    for i, (col, heat) in enumerate(zip(st.columns(len(heat_figs)), heat_figs)):
        with col:
            live_plotly_chart(heat, key=f"train_heat_{i}", version=version, resend=resend)
    if runner.status != "running" and steps:
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
# function's name and its place on the page). A timer tick sent for the state before a full run (a tick already
# on its way when Pause was pressed) then names a fragment the new run did not register, and the server drops it
# on arrival. With one id for every state, such a tick arriving just as that full run ends makes Streamlit 1.67
# start a new run and drop the end of the full one (its last deltas, and the timer it set), so the page kept
# stale buttons and stopped ticking (benchmarks/streamlit_client.py, module notes).
phase = "running" if running else "finishing" if finishing else "idle"
live.__qualname__ = live.__name__ = f"live_{phase}"
st.fragment(live, run_every=None if phase == "idle" else tick)()
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
