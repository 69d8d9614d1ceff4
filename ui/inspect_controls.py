"""The "Your network" page's controls: fields bound to URL query parameters (an uploaded file is not one)."""
from __future__ import annotations

from dataclasses import replace

from core.config import FieldSpec
from core.inspect import INSPECT_FIELDS
from ui.nav import ROOT
from ui.page_state import PageState
from ui.url import UrlField, round_to

PAGE = "network"
EXAMPLE = ROOT / "examples" / "adding_lstm.safetensors"
EXAMPLE_INPUTS = ROOT / "examples" / "adding_inputs.npy"
EXAMPLE_RUN = ROOT / "examples" / "adding_run.gfl"
VIEWS = {"inspect": "Inspect the weights", "replay": "Replay a watched run (core.watch)"}
RUNS = {"example": "the example's training run", "upload": "my own .gfl file"}
SOURCES = {"example": "the shipped example (a 2-layer LSTM trained on the adding problem)",
           "upload": "my own weights file"}
INPUTS = {"gaussian": "gaussian inputs (T × batch, drawn from the seed)",
          "adding": "the example's adding-problem batch (T 100, batch 8)",
          "upload": "my own input batch (.npy)"}
UI_MAX_SEQ_LEN, UI_MAX_BATCH, INPUT_STEP = 2000, 64, 0.1

FIELDS = [
    UrlField("source", "example", FieldSpec("choice", "Which network: the shipped example or your own file.",
                                            tuple(SOURCES))),
    UrlField("view", "inspect", FieldSpec("choice", "Inspect weights, or replay a core.watch file.", tuple(VIEWS))),
    UrlField("run", "example", FieldSpec("choice", "Which watch file to replay.", tuple(RUNS))),
    UrlField("inputs", "gaussian", FieldSpec("choice", "What the network reads.", tuple(INPUTS))),
    UrlField("seq_len", 100, replace(INSPECT_FIELDS["seq_len"], hi=UI_MAX_SEQ_LEN)),
    UrlField("batch", 8, replace(INSPECT_FIELDS["batch"], hi=UI_MAX_BATCH)),
    UrlField("loss_on", "last", INSPECT_FIELDS["loss_on"]),
    UrlField("input_scale", 1.0, replace(INSPECT_FIELDS["input_scale"], hi=10.0), round_to(INPUT_STEP)),
    UrlField("seed", 0, replace(INSPECT_FIELDS["seed"], hi=9999)),
    UrlField("nonlinearity", "tanh", FieldSpec("choice", "f of a vanilla RNN (it is not in the weights).",
                                               ("tanh", "relu"))),
]
STATE = PageState(PAGE, FIELDS)
