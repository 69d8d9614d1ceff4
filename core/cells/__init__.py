"""One registry for recurrent cells: a new cell is one module in this package plus one entry in CELLS.

Each module defines a `SPEC` (base.CellSpec): how to draw its weights, its one-pass gradient probe, its
cost model for the budgets, the labels the pages show, and its own settings (`settings`, e.g. the LRU's ring).
The engine, the CLI, the pages and the budgets read cells only through CELLS; the configs carry every cell's
settings (CELL_SETTINGS) as their own fields.
"""
from ..fields import Setting
from . import gru, lru, lstm, mingru, rnn
from .base import (
                   ACTIVATION_FN,
                   ACTIVATIONS,
                   GAMMA,
                   INITS,
                   CellSpec,
                   Network,
                   Trace,
                   derivative_from_output,
                   recurrent_matrix,
)

CELLS: dict[str, CellSpec] = {spec.name: spec for spec in (rnn.SPEC, lstm.SPEC, gru.SPEC, lru.SPEC, mingru.SPEC)}


def _cell_settings() -> dict[str, Setting]:
    settings: dict[str, Setting] = {}
    for spec in CELLS.values():
        if clash := set(settings) & set(spec.settings):
            raise TypeError(f"cell {spec.name} declares settings another cell has: {', '.join(sorted(clash))}")
        settings.update(spec.settings)
    return settings


CELL_SETTINGS: dict[str, Setting] = _cell_settings()     # every cell's own settings, by name (core/fields.py)


def check_cell_settings(cfg) -> None:
    """Each cell's own check of its settings (e.g. the LRU's r_max ≥ r_min); raises ConfigError."""
    for spec in CELLS.values():
        if spec.check is not None:
            spec.check(cfg)

__all__ = ["CELLS", "CELL_SETTINGS", "check_cell_settings", "Setting", "CellSpec", "Network", "Trace", "ACTIVATIONS",
           "ACTIVATION_FN", "GAMMA", "INITS", "derivative_from_output", "recurrent_matrix"]
