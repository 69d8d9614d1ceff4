"""Training lab: train one network, or race two on the same batches, live on a long-range task."""
import math
import time
from dataclasses import replace

import streamlit as st
import torch

from core.config import FieldSpec
from core.tasks import TASKS
from core.training import GATING_RACE, TRAIN_FIELDS, Race, TrainConfig
from ui import training_figs
from ui.flow_controls import CLIP_VALUES, HIDDEN_SIZES, WEIGHT_SCALES, nearest_option
from ui.text import sci
from ui.url import UrlField, build_or_stop, seed_from_url, show_warnings, sync_to_url

DEFAULT = TrainConfig()
LEARNING_RATES = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0]
BATCHES = [8, 16, 32, 64, 128, 256]
RUN_FIELDS = ["cell", "activation", "init", "weight_scale", "hidden", "optimizer", "lr", "clip", "clip_mode"]
SHARED = ["task", "seq_len", "batch", "seed"]
B_DEFAULTS = {"cell": "rnn"}                  # run B starts as the vanilla RNN to race against
CHUNK_SECONDS = 0.3                           # training between two redraws while running
LIVE_SECONDS = 5.0                            # one fragment run trains and redraws for this long

PRESETS = {
    "gating": {
        "title": "Why gating matters",
        "text": "An LSTM and a vanilla tanh RNN learn the adding problem (T = 100) on the same batches, with "
                "clipping at 1 (Adam 1e-2 for the LSTM; 1e-3 for the RNN, which is unstable at 1e-2: try it). "
                "Press **Start**: the RNN's loss stays on the chance line (MSE "
                "1/6 ≈ 0.167: it cannot carry the marked numbers 100 steps), while the LSTM's falls below 0.01 "
                "within a minute. The heatmaps show why: the RNN's gradient never reaches far back.",
        "values": {"race": True, **{n: getattr(GATING_RACE[0], n) for n in SHARED},
                   **{f"{p}_{n}": getattr(cfg, n) for p, cfg in zip("ab", GATING_RACE) for n in RUN_FIELDS}},
    },
}


def run_field(prefix: str, name: str) -> UrlField:
    default = (B_DEFAULTS if prefix == "b" else {}).get(name, getattr(DEFAULT, name))
    spec = TRAIN_FIELDS[name]
    snap = {"weight_scale": nearest_option(WEIGHT_SCALES), "hidden": nearest_option(HIDDEN_SIZES),
            "lr": nearest_option(LEARNING_RATES), "clip": nearest_option(CLIP_VALUES)}.get(name)
    if name == "weight_scale":
        spec = replace(spec, lo=0.1, hi=10.0)
    if name == "clip":
        spec = replace(spec, lo=CLIP_VALUES[0], hi=CLIP_VALUES[-1], lo_open=False)
    if name == "hidden":
        spec = replace(spec, lo=HIDDEN_SIZES[0], hi=HIDDEN_SIZES[-1])
    if name == "lr":
        spec = replace(spec, lo=LEARNING_RATES[0], hi=LEARNING_RATES[-1], lo_open=False)
    return UrlField(f"{prefix}_{name}", default, spec, snap)


# The slider's range: every task is valid at every length it offers.
SEQ_LENS = (max(t.min_seq_len for t in TASKS.values()), TRAIN_FIELDS["seq_len"].hi)
SHARED_SPECS = {"seq_len": replace(TRAIN_FIELDS["seq_len"], lo=SEQ_LENS[0]),
                "batch": replace(TRAIN_FIELDS["batch"], lo=BATCHES[0], hi=BATCHES[-1])}
FIELDS = ([UrlField("race", False, FieldSpec("bool", "Race two runs on the same batches."))]
          + [UrlField(n, getattr(DEFAULT, n), SHARED_SPECS.get(n, TRAIN_FIELDS[n]),
                      nearest_option(BATCHES) if n == "batch" else None)
             for n in SHARED]
          + [run_field(p, n) for p in ("a", "b") for n in RUN_FIELDS])


def apply_preset(name: str) -> None:
    preset = PRESETS[name]
    for key, value in preset["values"].items():
        st.session_state[key] = value
    st.session_state["preset_shown"] = name
    st.session_state.pop("lab", None)
    st.session_state["lab_status"] = "idle"


def run_label(cfg: TrainConfig, prefix: str) -> str:
    cell = {"rnn": f"RNN {cfg.activation}", "lstm": "LSTM", "gru": "GRU"}[cfg.cell]
    return f"{prefix.upper()}: {cell}"


def run_controls(container, prefix: str) -> None:
    k = prefix + "_"
    container.selectbox("Cell", ["rnn", "lstm", "gru"], key=k + "cell",
                        format_func={"rnn": "Vanilla RNN", "lstm": "LSTM", "gru": "GRU"}.get)
    gated = st.session_state[k + "cell"] != "rnn"
    container.selectbox("Activation", ["tanh", "relu"], key=k + "activation", disabled=gated,
                        help=TRAIN_FIELDS["activation"].help)
    container.selectbox("Initialisation", list(TRAIN_FIELDS["init"].choices), key=k + "init",
                        help=TRAIN_FIELDS["init"].help)
    container.select_slider("Weight scale s", WEIGHT_SCALES, key=k + "weight_scale", format_func=lambda v: f"{v:g}",
                            disabled=st.session_state[k + "init"] == "pytorch")
    container.select_slider("Hidden size", HIDDEN_SIZES, key=k + "hidden")
    container.radio("Optimiser", ["adam", "sgd"], key=k + "optimizer", horizontal=True,
                    format_func={"adam": "Adam", "sgd": "SGD"}.get)
    container.select_slider("Learning rate", LEARNING_RATES, key=k + "lr", format_func=lambda v: f"{v:g}")
    container.select_slider("Clipping threshold", [None] + CLIP_VALUES, key=k + "clip",
                            format_func=lambda v: "off" if v is None else f"{v:g}")
    container.radio("Clip by", ["norm", "value"], key=k + "clip_mode", horizontal=True,
                    disabled=st.session_state[k + "clip"] is None)


def current_configs() -> list[TrainConfig]:
    shared = {n: st.session_state[n] for n in SHARED}
    prefixes = ["a", "b"] if st.session_state["race"] else ["a"]
    return [TrainConfig(**shared, **{n: st.session_state[f"{p}_{n}"] for n in RUN_FIELDS}) for p in prefixes]


# ---- state: a preset link, then explicit URL parameters, then what this session had ----
# A `preset` parameter is honoured whenever it arrives (a link from another page may bring it on a later
# visit); sync_to_url below drops it from the address once applied.
preset = st.query_params.get("preset")
if preset in PRESETS:
    apply_preset(preset)
warnings = seed_from_url("training", FIELDS)
if preset is not None and preset not in PRESETS:
    warnings.append(f"URL parameter `preset={preset}` ignored: preset must be one of {', '.join(PRESETS)}.")
# Streamlit forgets the state of widgets that are not on screen, so a visit to another page would
# put every control back to its default (and strand the run behind "settings changed"): keep a copy.
SAVED = "_training_values"
saved = st.session_state.get(SAVED, {})
for f in FIELDS:
    st.session_state.setdefault(f.name, saved.get(f.name, f.default))
st.session_state.setdefault("lab_status", "idle")

sb = st.sidebar
sb.button("Preset: Why gating matters", icon=":material/school:", on_click=apply_preset, args=("gating",),
          width="stretch", help=PRESETS["gating"]["text"])
sb.header("Task")
sb.selectbox("Task", list(TASKS), key="task", help=TRAIN_FIELDS["task"].help,
             format_func={"adding": "adding problem", "copy": "copy / memory",
                          "order": "temporal order"}.get)
sb.slider("Sequence length T", *SEQ_LENS, key="seq_len", help=TRAIN_FIELDS["seq_len"].help)
sb.select_slider("Batch", BATCHES, key="batch")
sb.number_input("Seed", 0, 2**31 - 1, key="seed", help="Seeds the weights and the batches.")
sb.toggle("Race two runs on the same batches", key="race")
if st.session_state["race"]:
    tab_a, tab_b = sb.tabs(["Run A", "Run B"])
    run_controls(tab_a, "a")
    run_controls(tab_b, "b")
else:
    sb.header("Network")
    run_controls(sb, "a")
sync_to_url(FIELDS)
st.session_state[SAVED] = {f.name: st.session_state[f.name] for f in FIELDS}

st.title("Training lab")
st.caption("Vanishing gradients are silent: the loss just stops improving on anything long-range. Exploding "
           "gradients are loud: NaN, and training halts. Train a network on a long-range task and watch both.")
show_warnings(warnings)
if (shown := st.session_state.get("preset_shown")) is not None:
    st.info(f"**{PRESETS[shown]['title']}.** {PRESETS[shown]['text']}", icon=":material/school:")

configs = build_or_stop(current_configs, "train this configuration")
prefixes = ["a", "b"][:len(configs)]
labels = [run_label(c, p) for c, p in zip(configs, prefixes)]

lab: Race | None = st.session_state.get("lab")
if lab is None or (lab.steps == 0 and lab.configs != configs):
    lab = st.session_state["lab"] = build_or_stop(lambda: Race(configs), "race these runs")
    st.session_state["lab_status"] = "idle"
stale = lab.configs != configs


def start():
    st.session_state["lab_status"] = "running"


def pause():
    st.session_state["lab_status"] = "paused"


def stopped_runs(lab: Race) -> int:
    return sum(d is not None for d in lab.diverged)


def step_once():
    before = stopped_runs(lab)
    lab.advance(max_steps=1)
    st.session_state["lab_status"] = "diverged" if stopped_runs(lab) > before else "paused"


def reset():
    st.session_state.pop("lab", None)
    st.session_state["lab_status"] = "idle"


status = st.session_state["lab_status"]
running = status == "running"
with st.container(horizontal=True, vertical_alignment="center"):
    st.button("Start", icon=":material/play_arrow:", type="primary", on_click=start,
              disabled=running or not lab.live or stale, key="btn_start")
    st.button("Pause", icon=":material/pause:", on_click=pause, disabled=not running, key="btn_pause")
    st.button("Step", icon=":material/skip_next:", on_click=step_once,
              disabled=running or not lab.live or stale, key="btn_step",
              help="Train on exactly one batch.")
    st.button("Reset", icon=":material/restart_alt:", on_click=reset, key="btn_reset",
              help="Throw the trained weights and the history away and start over with the current settings.")
if stale:
    st.warning("The settings changed since this run started: press **Reset** to train with the new ones "
               "(the charts below still show the old run).", icon=":material/sync_problem:")


def draw(lab: Race, slots: dict, n: int = 0) -> None:
    """Fill the live area's placeholders from the lab's history (n: the redraw's number in this run,
    so that every redraw's charts get their own element keys)."""
    task = TASKS[lab.configs[0].task]
    run_labels = [run_label(c, p) for c, p in zip(lab.configs, ["a", "b"])]
    rate = lab.steps / lab.seconds if lab.seconds > 0 else 0.0
    last = [h.records[-1] for h in lab.histories if h.records]
    losses = " · ".join(f"{lab_label} loss {sci(r.loss, 3)}" for lab_label, r in zip(run_labels, last))
    state = {"idle": "ready", "running": "training…", "paused": "paused", "diverged": "stopped: NaN/inf"}[
        st.session_state["lab_status"]]
    slots["status"].markdown(f"**{state}** · step **{lab.steps}** · {rate:.0f} steps/s · {lab.seconds:.1f} s of "
                             "training" + (f" · {losses}" if losses else ""))
    slots["loss"].plotly_chart(training_figs.loss_figure(lab.histories, run_labels, task.baseline,
                                                         task.baseline_label, task.loss_name),
                               key=f"train_loss_{n}", width="stretch")
    slots["grad"].plotly_chart(training_figs.grad_norm_figure(lab.histories, run_labels,
                                                              [c.clip for c in lab.configs]),
                               key=f"train_grad_{n}", width="stretch")
    for i, (slot, history, lab_label) in enumerate(zip(slots["heat"], lab.histories, run_labels)):
        slot.plotly_chart(training_figs.distance_heatmap(history, lab_label), key=f"train_heat_{i}_{n}",
                          width="stretch")


@st.fragment(run_every=LIVE_SECONDS if running else None)
def live():
    """While running, each tick trains in chunks for up to LIVE_SECONDS and redraws after every chunk
    (about three times a second); a click on Pause interrupts it at the next redraw."""
    lab = st.session_state["lab"]
    run_labels = [run_label(c, p) for c, p in zip(lab.configs, ["a", "b"])]
    slots = {"status": st.empty()}
    alerts = st.container()             # NaN/inf reports, right under the status line
    slots.update(loss=st.empty(), grad=st.empty())
    slots["heat"] = [col.empty() for col in st.columns(len(lab.histories))]
    if st.session_state["lab_status"] == "running":
        torch.set_num_threads(1)        # small matrices: one thread, no OpenMP spinning against other work
        until = time.perf_counter() + LIVE_SECONDS
        n = 0
        while time.perf_counter() < until:
            before = stopped_runs(lab)
            lab.advance(max_steps=10**9, budget_s=CHUNK_SECONDS)
            if stopped_runs(lab) > before or not lab.live:
                st.session_state["lab_status"] = "diverged"
                st.rerun(scope="app")                     # stops the timer and refreshes the buttons
            draw(lab, slots, n)
            n += 1
    else:
        draw(lab, slots)
    going_on = [lbl for lbl, h in zip(run_labels, lab.histories) if h.diverged_at is None]
    for lab_label, history, cfg in zip(run_labels, lab.histories, lab.configs):
        if history.diverged_at is not None:
            bad = history.records[-1]
            what = "loss" if not math.isfinite(bad.loss) else "gradient norm"
            tips = ["enable clipping by norm (threshold 1)" if cfg.clip is None else "lower the clipping threshold",
                    "lower the learning rate", "use a smaller weight scale or an LSTM/GRU"]
            alerts.error(f"**{lab_label} stopped at step {history.diverged_at}:** its {what} became NaN/inf, so the "
                         f"update was not applied and training paused. The charts keep the history. Try: "
                         + "; ".join(tips) + ". Then press Reset"
                         + (f" (or Start to go on with {going_on[0]} alone)." if going_on else "."),
                         icon=":material/error:")
    if st.session_state["lab_status"] != "running" and lab.steps:
        with st.container(horizontal=True):
            st.download_button("Download history (CSV)", lambda: training_figs.history_csv(lab.histories, run_labels),
                               file_name="training_history.csv", mime="text/csv", icon=":material/download:",
                               on_click="ignore")
            st.download_button("Download configuration (JSON)",
                               lambda: training_figs.configs_json(lab.histories, run_labels),
                               file_name="training_config.json", mime="application/json",
                               icon=":material/download:", on_click="ignore")


live()
st.caption(f"Each step trains on one batch; every {configs[0].probe_every} steps the gradient reaching each "
           "distance is measured on 8 sequences of the batch (heatmaps). Training state lives in your browser "
           "session only: other users never see or touch your models.")
