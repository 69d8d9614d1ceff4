"""The one error type of bad input: a value outside its allowed range, named by its field."""
from __future__ import annotations

from typing import Any


class ConfigError(ValueError):
    """A configuration value outside its allowed range; the message names the field."""

    def __init__(self, field: str, allowed: str, value: Any):
        self.field, self.allowed, self.value = field, allowed, value
        super().__init__(f"{field} must be {allowed}, got {value!r}")
