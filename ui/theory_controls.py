"""Helpers of the Loss cliff and Phase diagram controls: grid sizes that land on the Gradient flow page's
slider values, snapping, and the link that opens a phase-diagram cell on the Gradient flow page."""
from __future__ import annotations

import numpy as np

from ui.flow_controls import WEIGHT_SCALES, nearest_option


def aligned_counts(span: int, most: int) -> list[int]:
    """Grid sizes n (2 ≤ n ≤ most) that split `span` slider steps into equal whole steps, so that every
    grid value is also one of the slider's values: n − 1 must divide span."""
    counts = [d + 1 for d in range(1, span + 1) if span % d == 0 and d + 1 <= most]
    return counts or [2]


def round_to(step: float):
    """A snap for a URL value: the nearest multiple of `step` (a slider's step)."""
    return lambda value: round(round(value / step) * step, 10)


def nearest(options: list, value):
    return min(options, key=lambda o: abs(o - value))


def nearest_cell(res, x: float, y: float) -> tuple[int, int]:
    """Row and column of the phase-diagram cell nearest a clicked point (log distance on log axes)."""
    j = int(np.argmin(np.abs(np.log(res.weight_scale) - np.log(x))))
    if res.config.y_axis == "activation":          # rows drawn at 0, 1, 2, 3
        return int(np.clip(round(y), 0, len(res.y) - 1)), j
    ys = np.asarray(res.y, dtype=float)
    if res.config.y_axis == "seq_len":
        return int(np.argmin(np.abs(np.log(ys) - np.log(max(y, 1e-9))))), j
    return int(np.argmin(np.abs(ys - y))), j


def phase_link_params(cfg, s: float, y) -> dict:
    """Query parameters that open one phase-diagram cell on the Gradient flow page, written as that
    page's own slider values (its weight scales are 10^(i/40) to three digits)."""
    cell = cfg.cell_config(s, y)
    return {"weight_scale": f"{nearest_option(WEIGHT_SCALES)(cell.weight_scale):g}",
            "input_scale": f"{cell.input_scale:g}", "seq_len": str(cell.seq_len), "activation": cell.activation,
            "init": cell.init, "hidden": str(cell.hidden), "batch": str(cell.batch), "seed": str(cell.seed)}
