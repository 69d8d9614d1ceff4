"""Gradient Flow Lab engine: the public API (re-exported names only)."""
from . import sweep, theory
from .budget import BUDGETS, Budget, BudgetError
from .cliff import CliffConfig, CliffResult, cliff
from .config import UNROLL_FIELDS, ConfigError, FieldSpec, UnrollConfig
from .inspect import Architecture, Finding, InspectResult, LayerFlow, Saturation, inspect
from .phase import PhaseConfig, PhaseResult, measured_edge, phase_diagram
from .probe import UnrollResult, unroll
from .runtime import configure_threads
from .sweep import SweepResult, weight_scale_sweep
from .tasks import TASKS
from .theory import REGIME_RULE, Spectrum, spectrum
from .training import GATING_RACE, TRAIN_FIELDS, History, Race, StepRecord, TrainConfig, Trainer, train
from .watch import Watch, read_watch, watch

__all__ = ["theory", "UNROLL_FIELDS", "ConfigError", "FieldSpec", "UnrollConfig", "BUDGETS", "Budget", "BudgetError",
           "configure_threads", "watch", "Watch", "read_watch", "inspect", "InspectResult", "LayerFlow", "Saturation",
           "Finding", "Architecture", "UnrollResult", "unroll", "SweepResult", "weight_scale_sweep", "sweep",
           "REGIME_RULE", "Spectrum", "spectrum", "TASKS", "TRAIN_FIELDS", "TrainConfig", "Trainer", "Race", "History",
           "StepRecord", "train", "GATING_RACE", "CliffConfig", "CliffResult", "cliff", "PhaseConfig", "PhaseResult",
           "phase_diagram", "measured_edge"]
