"""One registry for recurrent cells: a new cell is one module in this package plus one entry in CELLS.

Each module defines a `SPEC` (base.CellSpec): how to draw its weights, its one-pass gradient probe, its
cost model for the budgets, and the labels the pages show. The engine, the CLI, the pages and the budgets
read cells only through CELLS.
"""
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

__all__ = ["CELLS", "CellSpec", "Network", "Trace", "ACTIVATIONS", "ACTIVATION_FN", "GAMMA", "INITS",
           "derivative_from_output", "recurrent_matrix"]
