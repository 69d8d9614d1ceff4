"""One declaration per setting (`FieldSpec`): its kind, its allowed values, its help line, and the control a page
draws for it. The configs validate themselves with it, the CLI makes its flags from it, and the pages draw their
controls (ui/widgets.py) and check their URLs (ui/url.py) from it, so a setting is written once.

A cell's own settings are `Setting`s in its CellSpec (core/cells/): `add_settings` makes them fields of the
configs that carry them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .errors import ConfigError

WIDGETS = ("slider", "select_slider", "number_input", "radio", "selectbox", "toggle")


@dataclass(frozen=True)
class FieldSpec:
    kind: str                   # "choice", "int", "float", "optional_float" (None = off) or "bool" (pages only)
    help: str
    choices: tuple = ()
    lo: float = -math.inf
    hi: float = math.inf
    lo_open: bool = False       # True: the lower end is excluded (e.g. a threshold > 0)
    # The control a page draws (ui/widgets.py); its range is also what the page's URL accepts (ui/url.py).
    widget: str = ""            # one of WIDGETS ("": no control, e.g. a CLI-only setting)
    label: str = ""
    step: float | None = None   # a slider's grid (a URL value snaps onto it); a number input's arrow step only
    ui_lo: float | None = None  # the control's range, where narrower than the engine's (None: lo, hi)
    ui_hi: float | None = None
    ui_options: tuple = ()      # a select_slider's values, in order (None: off)
    ui_open: bool = False       # ui_options are the usual values, not the only ones: a valid value off them (from a
                                # link) joins them as it is, and the URL accepts the field's whole range
    option_labels: dict = field(default_factory=dict, hash=False)   # how an option is shown, where not as itself
    fmt: str | None = None      # number_input's printf format, e.g. "%.3f" (a URL value is rounded to it)
    ui_help: str | None = None  # the control's tooltip, where it says more or other than `help`

    def __post_init__(self):
        if self.widget and self.widget not in WIDGETS:
            raise ValueError(f"unknown widget {self.widget!r}: one of {', '.join(WIDGETS)}")

    def allowed(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        what = "an integer" if self.kind == "int" else "a number"
        lo = f"greater than {self.lo:g}" if self.lo_open else f"from {self.lo:g}"
        rng = f"{what} {lo} to {self.hi:g}" if not self.lo_open else f"{what} {lo} and at most {self.hi:g}"
        return rng + (" (or 'off')" if self.kind == "optional_float" else "")

    def parse(self, name: str, raw: Any) -> Any:
        """Turn a raw value (a string from a flag or URL, or a Python value) into a checked value."""
        if self.kind == "choice":
            value = str(raw).strip().lower() if raw is not None else raw
            if value not in self.choices:
                raise ConfigError(name, self.allowed(), raw)
            return value
        if self.kind == "optional_float" and (raw is None or str(raw).strip().lower() in ("off", "none", "")):
            return None
        if isinstance(raw, (bool, np.bool_)):          # True is not 1 here (nor is NumPy's)
            raise ConfigError(name, self.allowed(), raw)
        try:
            number = self._number(raw)
        except (TypeError, ValueError, OverflowError):  # OverflowError: an int too big for a float, e.g. 10**400
            raise ConfigError(name, self.allowed(), raw) from None
        too_low = number <= self.lo if self.lo_open else number < self.lo   # exact for big ints too
        if too_low or number > self.hi:
            raise ConfigError(name, self.allowed(), raw)
        return number

    def _number(self, raw: Any):
        """raw as this field's int or float; ValueError when it is not one (an int is never passed through a
        float, so a huge one is compared exactly)."""
        if isinstance(raw, (int, np.integer)):
            return int(raw) if self.kind == "int" else float(raw)
        number = float(raw)                             # a string, a float, a NumPy float
        if not math.isfinite(number) or (self.kind == "int" and number != int(number)):
            raise ValueError(raw)
        return int(number) if self.kind == "int" else number

    # ---- the control -------------------------------------------------------------------------------------
    def ui_range(self) -> tuple:
        """The lowest and highest value the control offers."""
        numbers = [o for o in self.ui_options if o is not None]
        if numbers:
            return min(numbers), max(numbers)
        lo = self.lo if self.ui_lo is None else max(self.lo, self.ui_lo)   # within the field's own range (a copy
        hi = self.hi if self.ui_hi is None else min(self.hi, self.ui_hi)   # with a smaller hi keeps the control's)
        cast = int if self.kind == "int" else float
        return cast(lo), cast(hi)

    def for_ui(self) -> FieldSpec:
        """This field as its control offers it: the range narrowed to the control's (a page's URL accepts that)."""
        if self.ui_open or self.kind not in ("int", "float", "optional_float") or not (
                self.ui_options or self.ui_lo is not None or self.ui_hi is not None):
            return self
        lo, hi = self.ui_range()
        narrowed_lo = self.ui_options or self.ui_lo is not None
        return replace(self, lo=lo, hi=hi, lo_open=self.lo_open and not narrowed_lo)

    def show(self, value) -> str:
        """An option as the control shows it."""
        if value in self.option_labels:
            return self.option_labels[value]
        if value is None:
            return "off"
        return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Setting:
    """A setting a cell declares for itself: its default and its FieldSpec (see add_settings)."""
    default: Any
    spec: FieldSpec


PYTHON_TYPES = {"choice": "str", "int": "int", "float": "float", "optional_float": "float | None", "bool": "bool"}


def add_settings(settings: dict[str, Setting], after: str | None = None):
    """Class decorator, applied before @dataclass: `settings` become fields of the class, after its field `after`
    (None: at the end), with their defaults. How the configs carry every cell's own settings."""
    def decorate(cls):
        own = dict(cls.__dict__.get("__annotations__", {}))
        if clash := set(own) & set(settings):
            raise TypeError(f"{cls.__name__} already has the settings {', '.join(sorted(clash))}")
        names = list(own)
        at = len(names) if after is None else names.index(after) + 1
        added = {name: PYTHON_TYPES[s.spec.kind] for name, s in settings.items()}
        cls.__annotations__ = {**{n: own[n] for n in names[:at]}, **added, **{n: own[n] for n in names[at:]}}
        for name, s in settings.items():
            setattr(cls, name, s.default)
        return cls
    return decorate
