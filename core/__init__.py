"""Gradient Flow Lab engine: the public API (re-exported names only)."""
from .config import UNROLL_FIELDS, ConfigError, FieldSpec, UnrollConfig, estimate_memory_bytes
from .probe import UnrollResult, unroll
from .theory import REGIME_RULE, Spectrum, spectrum

__all__ = ["UNROLL_FIELDS", "ConfigError", "FieldSpec", "UnrollConfig", "estimate_memory_bytes",
           "UnrollResult", "unroll", "REGIME_RULE", "Spectrum", "spectrum"]
