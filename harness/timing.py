"""Repeated timings and what a benchmark prints of them: medians, percentiles, tables.

Functions measured side by side run in turn within every repeat, so a slow spell of a shared machine hits them
alike; benchmarks report ratios of such medians, never a timed assertion.
"""
from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any


def timed(fn: Callable[[], Any], repeats: int = 5, warmup: int = 1) -> list[float]:
    """Seconds of each of `repeats` calls of fn, after `warmup` unrecorded calls."""
    return interleaved([fn], repeats, warmup)[0]


def median_time(fn: Callable[[], Any], repeats: int = 5, warmup: int = 1) -> float:
    """Median seconds of fn over `repeats` calls, after `warmup` unrecorded calls."""
    return statistics.median(timed(fn, repeats, warmup))


def interleaved(fns: Sequence[Callable[..., Any]], repeats: int, warmup: int = 1, alternate: bool = False,
                inputs: Callable[[int], tuple] | None = None,
                clock: Callable[[], float] = time.perf_counter) -> list[list[float]]:
    """Seconds of each function per repeat, the functions run in turn within every repeat.

    `warmup` unrecorded rounds go first; `alternate` reverses the order every other repeat (so none always runs on
    a cache the other warmed); `inputs(i)` gives the arguments of every function in round i (the warm-up rounds
    are 0 .. warmup-1, the recorded ones 0 .. repeats-1), e.g. the same batch for an engine and its baseline;
    `clock` is wall time by default (time.process_time: this process's CPU time, steadier on a shared machine).
    """
    times: list[list[float]] = [[] for _ in fns]
    for i in range(warmup):
        for fn in fns:
            fn(*(inputs(i) if inputs else ()))
    for i in range(repeats):
        args = inputs(i) if inputs else ()
        order = list(zip(fns, times))
        for fn, out in (order[::-1] if alternate and i % 2 else order):
            t0 = clock()
            fn(*args)
            out.append(clock() - t0)
    return times


def median_times(fns: Sequence[Callable[[], Any]], repeats: int, warmup: int = 1, alternate: bool = False,
                 clock: Callable[[], float] = time.perf_counter) -> list[float]:
    """Median seconds of each function, measured with `interleaved`."""
    return [statistics.median(t) for t in interleaved(fns, repeats, warmup, alternate, clock=clock)]


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0 <= q <= 1) by linear interpolation between the sorted values (q = 0.5: the median);
    nan if there are none."""
    if not values:
        return math.nan
    values = sorted(values)
    pos = q * (len(values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


def summary(times_ms: Sequence[float]) -> str:
    """n, median, p90, min and max of timings in ms, on one line."""
    return (f"n={len(times_ms)}  median {statistics.median(times_ms):6.0f} ms  p90 {percentile(times_ms, 0.9):6.0f} ms"
            f"  min {min(times_ms):5.0f} ms  max {max(times_ms):5.0f} ms")


def fmt(x: float | None, digits: int = 3) -> str:
    """A number with `digits` decimals, or "-" for a missing or nan one."""
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def table(columns: Sequence[tuple[str, str, int]], rows: Sequence[dict[str, Any]]) -> str:
    """A fixed-width text table: `columns` are (header, row key, decimals; -1: as text); a header starting with
    "|" opens a group. Numbers are right-aligned (fmt), text left-aligned."""
    cells = [[c[0].lstrip("|") for c in columns]]
    for r in rows:
        cells.append([str(r[key]) if digits < 0 else fmt(r[key], digits) for _, key, digits in columns])
    widths = [max(len(line[j]) for line in cells) for j in range(len(columns))]
    lines = []
    for k, line in enumerate(cells):
        parts = []
        for j, (header, _, digits) in enumerate(columns):
            text = line[j].ljust(widths[j]) if digits < 0 else line[j].rjust(widths[j])
            parts.append(("| " if header.startswith("|") else "") + text)
        lines.append(" ".join(parts))
        if k == 0:
            lines.append("-" * len(lines[0]))
    return "\n".join(lines)
