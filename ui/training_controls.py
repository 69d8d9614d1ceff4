"""The Training lab's controls: fields (each bound to a URL query parameter), presets, help texts, and the sidebar
drawn from the settings' declarations (core/training.py TRAIN_FIELDS)."""
from __future__ import annotations

from core.cells import CELL_SETTINGS, CELLS
from core.config import FieldSpec
from core.learning_presets import FLOSSING_RACE, FORGETTING_RACE
from core.training import (  # noqa: F401 (the controls' values, which the page and the tests import from here)
    BATCHES,
    CLIPPING_RACE,
    FLOSS_KS,
    FLOSS_UI_MAX,
    FLOSS_WEIGHTS,
    GATING_RACE,
    LEARNING_RATES,
    SEQ_LENS,
    TRAIN_FIELDS,
    TRAIN_HIDDEN_SIZES,
    TrainConfig,
)
from ui.page_state import PageState
from ui.url import UrlField, url_field
from ui.widgets import control, controls

DEFAULT = TrainConfig()
RUN_FIELDS = ["cell", "activation", "init", "weight_scale", "bias", "forget_bias", *CELL_SETTINGS, "hidden", "layers",
              "optimizer", "lr", "clip", "clip_mode", "floss_k", "floss_every", "floss_before", "floss_weight"]
TASK_OPTIONS = ["pixel_order", "perm_seed", "delay"]       # shown only for the task that reads them
SHARED = ["task", "seq_len", "batch", "seed"] + TASK_OPTIONS
B_DEFAULTS = {"cell": "rnn"}                  # run B starts as the vanilla RNN to race against

PRESETS = {
    "gating": {
        "title": "Why gating matters",
        "text": "An LSTM and a vanilla tanh RNN (32 units each) learn the adding problem (T = 100) on the same "
                "batches, with clipping at 1 (Adam 3e-2 for the LSTM; 1e-3 for the RNN, which is unstable at "
                "higher rates: try it). Press **Start**: the RNN's loss stays on the chance line (MSE 1/6 ≈ 0.167: "
                "it cannot carry the marked numbers 100 steps), while the LSTM's falls below 0.01 after 500-950 "
                "steps: about a minute with the page redrawing on a 2-core laptop (half a minute without a "
                "browser; **Fast-forward** 500 skips most of the wait). The heatmaps show why: the RNN's gradient "
                "never reaches far back.",
        "values": {"race": True, **{n: getattr(GATING_RACE[0], n) for n in SHARED},
                   **{f"{p}_{n}": getattr(cfg, n) for p, cfg in zip("ab", GATING_RACE) for n in RUN_FIELDS}},
    },
    "forgetting": {
        "title": "Forgetting a digit",
        "text": "An LSTM and a tanh RNN (32 units each) learn to name a handwritten digit shown pixel by pixel and "
                "then followed by 20 blank steps (T = 84), on the same batches (clipping at 1; Adam 3e-3 for the "
                "LSTM, whose forget gates start at bias 2, and 1e-3 for the RNN). Press **Start** and watch the "
                "held-out accuracy (digits neither network trains on): the RNN stays at chance (10 %), it has "
                "forgotten the digit by the time it must answer, while the LSTM's cell state carries it across the "
                "blank steps. Measured on seeds 0–4: after 400 steps the LSTM was at 34–49 % and the RNN at 10 % "
                "(so was the LSTM with forget bias 0: try it). The LSTM was 10 points ahead after 100–200 steps: "
                "about 2 s of computing, 38 s here while other jobs loaded this 2-core machine (seed 0; more with "
                "the page redrawing; **Fast-forward** 500 skips the wait).",
        "values": {"race": True, **{n: getattr(FORGETTING_RACE[0], n) for n in SHARED},
                   **{f"{p}_{n}": getattr(cfg, n) for p, cfg in zip("ab", FORGETTING_RACE) for n in RUN_FIELDS}},
    },
    "flossing": {
        "title": "Gradient flossing",
        "text": "The same tanh RNN (32 units) twice on delayed XOR: the answer needs a bit shown 40 steps earlier. "
                "Run B first spends 200 steps on gradient flossing (Engelken 2023): it pushes its top 16 Lyapunov "
                "exponents to 0 (the exponents chart), so the gradient stops vanishing over those 40 steps (the "
                "heatmap); then it trains plainly, like A. Press **Start** (or **Fast-forward**): A stays at chance "
                "(50 %), while B's accuracy jumps to 100 % within 800 steps on most seeds (after a while at chance). "
                "Measured over 10 seeds of this race at 800 steps: with flossing 9 of 10 solved it "
                "(accuracy ≥ 90 %), without 0 of 10.",
        "values": {"race": True, **{n: getattr(FLOSSING_RACE[0], n) for n in SHARED},
                   **{f"{p}_{n}": getattr(cfg, n) for p, cfg in zip("ab", FLOSSING_RACE) for n in RUN_FIELDS}},
    },
    "exploding": {
        "title": "Exploding gradients and clipping",
        "text": "The same tanh RNN twice (orthogonal W × 1.5, plain SGD with learning rate 0.1, the adding problem "
                "at T = 30), on the same batches: run A clips the gradient's norm at 1, run B does not. Press "
                "**Start**: within a few seconds (20–40 steps) B's gradient norm climbs by orders of magnitude, its "
                "loss jumps and turns NaN, and the race pauses there. Press **Start** again and A goes on alone: its "
                "gradient was clipped on almost every step, and it stays finite. Clipping does not make A learn "
                "fast: its loss stays at or above the chance line (MSE 1/6) for the first 200 steps, because this "
                "network also forgets. It only keeps it alive.",
        "values": {"race": True, **{n: getattr(CLIPPING_RACE[0], n) for n in SHARED},
                   **{f"{p}_{n}": getattr(cfg, n) for p, cfg in zip("ab", CLIPPING_RACE) for n in RUN_FIELDS}},
    },
}
RACE = FieldSpec("bool", "Train two networks side by side on exactly the same batches, to compare them fairly.",
                 widget="toggle", label="Race two runs on the same batches")
# The controls' tooltips, by setting (from the declarations, core/training.py TRAIN_FIELDS).
HELP = {"race": RACE.help, **{name: spec.ui_help or spec.help for name, spec in TRAIN_FIELDS.items()}}


def run_field(prefix: str, name: str) -> UrlField:
    default = (B_DEFAULTS if prefix == "b" else {}).get(name, getattr(DEFAULT, name))
    return url_field(f"{prefix}_{name}", default, TRAIN_FIELDS[name])


FIELDS = ([UrlField("race", False, RACE)]
          + [url_field(n, getattr(DEFAULT, n), TRAIN_FIELDS[n]) for n in SHARED]
          + [run_field(p, n) for p in ("a", "b") for n in RUN_FIELDS])
STATE = PageState("training", FIELDS, extra_params=("preset", "run"))


def _control(container, name: str, **overrides):
    return control(container, TRAIN_FIELDS[name], STATE.key(name), **overrides)


def task_controls(container) -> None:
    """The task and what the runs share: the sequence length, the task's options, the batch and the seed."""
    _control(container, "task")
    _control(container, "seq_len")
    if STATE["task"] == "digits":
        _control(container, "pixel_order")
        _control(container, "perm_seed", disabled=STATE["pixel_order"] != "permuted")
    elif STATE["task"] == "xor":
        _control(container, "delay")
    _control(container, "batch")
    _control(container, "seed")
    control(container, RACE, STATE.key("race"))


def run_controls(container, prefix: str) -> None:
    """One run's network, optimiser, clipping and flossing (prefix "a" or "b")."""
    def run(name: str, where=container, **overrides):
        return control(where, TRAIN_FIELDS[name], STATE.key(f"{prefix}_{name}"), **overrides)
    run("cell")
    cell = CELLS[STATE[f"{prefix}_cell"]]
    uses = cell.train_uses
    run("activation", disabled="activation" not in uses)
    run("init", disabled="init" not in uses)
    run("weight_scale", disabled="weight_scale" not in uses or STATE[f"{prefix}_init"] == "pytorch")
    if "bias" in uses:
        run("bias")
    if "forget_bias" in uses:
        run("forget_bias")
    controls(container, {name: TRAIN_FIELDS[name] for name in cell.settings},
             lambda name: STATE.key(f"{prefix}_{name}"))                                # the cell's own
    run("hidden")
    run("layers", disabled=not cell.stacks)
    run("optimizer")
    run("lr")
    run("clip")
    run("clip_mode", disabled=STATE[f"{prefix}_clip"] is None)
    floss = container.expander("Gradient flossing", expanded=bool(STATE[f"{prefix}_floss_k"]))
    run("floss_k", floss)
    off = not STATE[f"{prefix}_floss_k"]
    run("floss_before", floss, disabled=off)
    run("floss_every", floss, disabled=off)
    run("floss_weight", floss, disabled=off)
