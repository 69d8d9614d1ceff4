"""The Training lab's controls: fields (each bound to a URL query parameter), presets and help texts."""
from __future__ import annotations

from dataclasses import replace

from core.config import FieldSpec
from core.learning_presets import FLOSSING_RACE, FORGETTING_RACE
from core.tasks import TASKS
from core.training import CLIPPING_RACE, GATING_RACE, TRAIN_FIELDS, TrainConfig
from ui.flow_controls import CLIP_VALUES, HIDDEN_SIZES, UI_MAX_SEED, WEIGHT_SCALES
from ui.page_state import PageState
from ui.url import UrlField, nearest_option, round_to

DEFAULT = TrainConfig()
# Every size on the sliders fits the training-step budget with the others at their defaults (core/budget.py):
# an LSTM step at H = 512 would take ~4 s, longer than a Pause should wait.
TRAIN_HIDDEN_SIZES = [h for h in HIDDEN_SIZES if h <= 256]
LEARNING_RATES = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0]
BATCHES = [8, 16, 32, 64, 128, 256]
FORGET_BIASES = [-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0]
FLOSS_KS = [0, 1, 2, 4, 8, 16, 32, 64]
FLOSS_WEIGHTS = [0.1, 0.3, 1.0, 3.0, 10.0]
RUN_FIELDS = ["cell", "activation", "init", "weight_scale", "bias", "forget_bias", "r_min", "r_max", "max_phase",
              "lru_norm", "hidden", "optimizer", "lr", "clip", "clip_mode", "floss_k", "floss_every", "floss_before",
              "floss_weight"]
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
                "Measured over 10 seeds of this race at 800 steps: with flossing 7 of 10 solved it "
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
HELP = {
    "race": "Train two networks side by side on exactly the same batches, to compare them fairly.",
    "cell": "Vanilla RNN, LSTM, GRU (torch's fused layers), LRU or minGRU; one layer with a linear readout.",
    "weight_scale": "Scale s of the recurrent matrix for the initialisations other than PyTorch's default.",
    "hidden": "Hidden size H: units in the recurrent layer.",
    "optimizer": "Adam adapts the step size per parameter; SGD takes plain gradient steps (learning rate × gradient).",
    "lr": "Learning rate: the size of each update.",
    "clip": "Rescale the gradient when it passes this threshold (off: slide to the left end). Clipping tames "
            "exploding gradients; it cannot revive vanishing ones.",
    "clip_mode": "By norm: shrink the whole gradient so its total norm is the threshold (direction kept). By "
                 "value: cap each entry at ± the threshold (direction may turn).",
    "batch": "Sequences per training batch (each step trains on one batch).",
    "seed": "Seeds the weights and the batches: the same seed gives the same run.",
    "floss_k": "Gradient flossing (Engelken 2023): push this many of the top Lyapunov exponents of the forward "
                "dynamics towards 0 by adding Σλᵢ² (× the weight) to the loss; 0 is off. The exponents are computed "
                "along the batch's first sequence with a QR at every step. At most the state size (2H for an LSTM).",
}


FLOSS_UI_MAX = 5000


def run_field(prefix: str, name: str) -> UrlField:
    default = (B_DEFAULTS if prefix == "b" else {}).get(name, getattr(DEFAULT, name))
    spec = TRAIN_FIELDS[name]
    snap = {"weight_scale": nearest_option(WEIGHT_SCALES), "hidden": nearest_option(TRAIN_HIDDEN_SIZES),
            "lr": nearest_option(LEARNING_RATES), "clip": nearest_option(CLIP_VALUES)}.get(name)
    if name == "weight_scale":
        spec = replace(spec, lo=0.1, hi=10.0)
    if name == "clip":
        spec = replace(spec, lo=CLIP_VALUES[0], hi=CLIP_VALUES[-1], lo_open=False)
    if name == "hidden":
        spec = replace(spec, lo=TRAIN_HIDDEN_SIZES[0], hi=TRAIN_HIDDEN_SIZES[-1])
    if name == "lr":
        spec = replace(spec, lo=LEARNING_RATES[0], hi=LEARNING_RATES[-1], lo_open=False)
    if name == "bias":
        spec, snap = replace(spec, lo=-5.0, hi=5.0), round_to(0.1)
    if name == "forget_bias":
        spec, snap = replace(spec, lo=FORGET_BIASES[0], hi=FORGET_BIASES[-1]), nearest_option(FORGET_BIASES)
    if name in ("r_min", "r_max"):
        snap = round_to(0.001)
    if name == "max_phase":
        spec, snap = replace(spec, hi=6.28), round_to(0.01)
    if name == "floss_k":
        spec, snap = replace(spec, hi=FLOSS_KS[-1]), lambda v: min(FLOSS_KS, key=lambda o: abs(o - v))
    if name == "floss_weight":
        spec = replace(spec, lo=FLOSS_WEIGHTS[0], hi=FLOSS_WEIGHTS[-1], lo_open=False)
        snap = nearest_option(FLOSS_WEIGHTS)
    if name in ("floss_every", "floss_before"):
        spec = replace(spec, hi=FLOSS_UI_MAX)
    return UrlField(f"{prefix}_{name}", default, spec, snap)


# The slider's range: every synthetic task is valid at every length it offers (the digits task needs the 64 pixels
# and says so below that), and a race of any two cells at the longest length fits the training-step budget (two
# LSTMs at T = 500: ~1.2 s a step).
SEQ_LENS = (max(t.min_seq_len for t in TASKS.values() if t.name != "digits"), 500)
SHARED_SPECS = {"seq_len": replace(TRAIN_FIELDS["seq_len"], lo=SEQ_LENS[0], hi=SEQ_LENS[1]),
                "batch": replace(TRAIN_FIELDS["batch"], lo=BATCHES[0], hi=BATCHES[-1]),
                "seed": replace(TRAIN_FIELDS["seed"], hi=UI_MAX_SEED),
                "perm_seed": replace(TRAIN_FIELDS["perm_seed"], hi=UI_MAX_SEED),
                "delay": replace(TRAIN_FIELDS["delay"], hi=SEQ_LENS[1] - 1)}
FIELDS = ([UrlField("race", False, FieldSpec("bool", HELP["race"]))]
          + [UrlField(n, getattr(DEFAULT, n), SHARED_SPECS.get(n, TRAIN_FIELDS[n]),
                      nearest_option(BATCHES) if n == "batch" else None)
             for n in SHARED]
          + [run_field(p, n) for p in ("a", "b") for n in RUN_FIELDS])
STATE = PageState("training", FIELDS, extra_params=("preset", "run"))
