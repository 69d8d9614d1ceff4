"""The Loss cliff's controls: fields bound to URL query parameters, and what the widgets can show."""
from __future__ import annotations

from dataclasses import replace

from core.cliff import CLIFF_FIELDS, CliffConfig
from core.config import FieldSpec
from ui.page_state import PageState
from ui.url import UrlField, nearest_option, round_to

PAGE = "cliff"
DEFAULTS = CliffConfig()
RESOLUTIONS = [50, 100, 150, 200, 300, 400]
LEARNING_RATES = [0.001, 0.003, 0.01, 0.03, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0]
MAX_STEPS = 200
CLIP_STEP = 0.05


# What the widgets can show; a URL value outside it gets a warning naming the allowed range.
UI_SPECS = {
    "resolution": (replace(CLIFF_FIELDS["resolution"], lo=RESOLUTIONS[0], hi=RESOLUTIONS[-1]),
                   nearest_option(RESOLUTIONS)),
    "steps": (replace(CLIFF_FIELDS["steps"], hi=MAX_STEPS), None),
    "clip": (replace(CLIFF_FIELDS["clip"], lo=CLIP_STEP, hi=10.0, lo_open=False), round_to(CLIP_STEP)),
    "target": (replace(CLIFF_FIELDS["target"], lo=0.01, lo_open=False), None),
}
SHOW = {"grad": "gradient norm", "loss": "loss"}
FIELDS = ([UrlField(name, getattr(DEFAULTS, name), *UI_SPECS.get(name, (spec, None)))
           for name, spec in CLIFF_FIELDS.items()]
          + [UrlField("show", "grad", FieldSpec("choice", "Colour the surface by the gradient norm (log) or the loss.",
                                                tuple(SHOW)))])
STATE = PageState(PAGE, FIELDS)
