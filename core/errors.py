"""The one error type of bad input: a value outside its allowed range, named by its field."""
from __future__ import annotations

from typing import Any

SHOWN_LIMIT = 40              # characters of a bad value repeated in the message


class ConfigError(ValueError):
    """A configuration value outside its allowed range; the message names the field."""

    def __init__(self, field: str, allowed: str, value: Any):
        self.field, self.allowed, self.value = field, allowed, value
        shown = repr(value)
        if len(shown) > SHOWN_LIMIT:                    # e.g. a 400-digit integer: the message stays one short line
            shown = shown[:SHOWN_LIMIT] + "…"
        super().__init__(f"{field} must be {allowed}, got {shown}")
