"""Strict JSON: non-finite floats become null, so the CLI's output and the watch file parse anywhere."""
from __future__ import annotations

import math


def strict(obj):
    """Replace non-finite floats with None, recursively through dicts, lists and tuples."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict(v) for v in obj]
    return obj
