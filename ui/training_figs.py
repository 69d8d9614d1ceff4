"""Figure builders for the Training lab (pure: histories -> go.Figure), and its exports."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.training import History
from ui.chart_style import layout, log_hline, log_range, log_yaxis

RUN_COLORS = ["#0072B2", "#D55E00"]        # blue and vermillion: apart under every colour vision
GREY = "#555555"
MAX_POINTS = 1500          # longer histories are drawn in buckets of steps (the CSV keeps every step)
MAX_HEAT_COLUMNS = 200     # the heatmap is redrawn ~3 times a second: keep it to at most 200 × 200 cells
MAX_HEAT_ROWS = 200
HEAT_FLOOR = -12           # log10 of the smallest gradient the colour scale tells apart
SMOOTH_STEPS = 20          # the bold loss line is the running mean over this many steps


def _buckets(n: int) -> int:
    """Steps per drawn point."""
    return max(1, int(np.ceil(n / MAX_POINTS)))


def _bucketed(steps: np.ndarray, values: np.ndarray, reduce) -> tuple[np.ndarray, np.ndarray]:
    """One point per bucket of steps: the bucket's first step and reduce(values) over the bucket's
    finite values (NaN when it has none)."""
    k = _buckets(len(steps))
    if k == 1:
        return steps, values
    starts = np.arange(0, len(steps), k)
    out = np.full(len(starts), np.nan)
    for j, s in enumerate(starts):
        chunk = values[s:s + k]
        chunk = chunk[np.isfinite(chunk)]
        if chunk.size:
            out[j] = reduce(chunk)
    return steps[starts], out


def _log_values(a: np.ndarray) -> np.ndarray:
    """Values for a log axis: non-finite and non-positive ones become NaN, which Plotly draws as gaps.
    (A float array, not a list with None: Plotly validates and encodes arrays in one go, lists item by
    item, which cost a third of every live redraw.)"""
    a = np.asarray(a, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(a) & (a > 0), a, np.nan)


def running_mean(values: np.ndarray, window: int = SMOOTH_STEPS) -> np.ndarray:
    """Mean of the last `window` values at each step (fewer at the start); NaN from a non-finite value on."""
    if not len(values):
        return values
    sums = np.cumsum(values)
    counts = np.minimum(np.arange(1, len(values) + 1), window)
    lagged = np.concatenate([np.zeros(window), sums])[:len(values)]
    return (sums - lagged) / counts


def loss_figure(histories: list[History], labels: list[str], baseline: float, baseline_label: str,
                loss_name: str) -> go.Figure:
    """Training loss of every run (log scale): each step's loss faint, its running mean over
    SMOOTH_STEPS steps bold, and the memoryless baseline. Long runs are drawn as the mean of each
    bucket of steps."""
    fig = go.Figure()
    for i, (hist, label) in enumerate(zip(histories, labels)):
        color = RUN_COLORS[i % 2]
        all_steps, all_loss = hist.column("step"), hist.column("loss")
        steps, loss = _bucketed(all_steps, all_loss, np.mean)
        _, smooth = _bucketed(all_steps, running_mean(all_loss), np.mean)
        fig.add_trace(go.Scatter(x=steps, y=_log_values(loss), mode="lines", name=f"{label}: each step",
                                 line=dict(color=color, width=1), opacity=0.35, legendgroup=label,
                                 showlegend=False,
                                 hovertemplate="step %{x}<br>loss %{y:.4g}<extra>" + label + "</extra>"))
        fig.add_trace(go.Scatter(x=steps, y=_log_values(smooth), mode="lines",
                                 name=f"{label} (mean of {SMOOTH_STEPS} steps)", legendgroup=label,
                                 line=dict(color=color, width=2.5),
                                 hovertemplate="step %{x}<br>mean loss %{y:.4g}<extra>" + label + "</extra>"))
        if hist.diverged_at is not None:
            fig.add_vline(x=hist.diverged_at, line=dict(color=RUN_COLORS[i % 2], dash="dash"),
                          annotation_text=f"{label}: NaN/inf at step {hist.diverged_at}")
    log_hline(fig, baseline, f"chance level ({baseline_label})", GREY, 2, above=False)
    lo, hi = log_range([baseline] + [v for h in histories for v in h.column("loss")])
    log_yaxis(fig, lo, hi, f"{loss_name} (log scale)")
    fig.update_xaxes(title="training step", rangemode="tozero")
    return layout(fig, "Loss, with the level of an answer that remembers nothing", height=380)


def grad_norm_figure(histories: list[History], labels: list[str], clips: list) -> go.Figure:
    """Total gradient norm before and after clipping, the threshold, and every clipping event.
    Long runs are drawn as the largest norm of each bucket of steps (spikes stay visible), with a
    marker on every bucket that holds a clipping event."""
    fig = go.Figure()
    thresholds = {}                  # threshold -> colour (grey when several runs share it)
    for i, clip in enumerate(clips):
        if clip is not None:
            thresholds[clip] = GREY if clip in thresholds else RUN_COLORS[i % 2]
    for i, (hist, label, clip) in enumerate(zip(histories, labels, clips)):
        color = RUN_COLORS[i % 2]
        all_steps = hist.column("step")
        steps, before = _bucketed(all_steps, hist.column("grad_norm"), np.max)
        fig.add_trace(go.Scatter(x=steps, y=_log_values(before), mode="lines",
                                 name=f"{label}: before clipping", line=dict(color=color, width=1.5),
                                 hovertemplate="step %{x}<br>‖g‖ %{y:.3g}<extra>before</extra>"))
        if clip is not None:
            _, after = _bucketed(all_steps, hist.column("grad_norm_clipped"), np.max)
            fig.add_trace(go.Scatter(x=steps, y=_log_values(after), mode="lines",
                                     name=f"{label}: after", line=dict(color=color, width=1.5, dash="dot"),
                                     hovertemplate="step %{x}<br>‖g‖ %{y:.3g}<extra>after</extra>"))
            clipped = hist.column("clipped")
            _, any_clipped = _bucketed(all_steps, clipped, np.max)
            marked = any_clipped > 0
            fig.add_trace(go.Scatter(x=steps[marked], y=_log_values(before[marked]), mode="markers",
                                     name=f"{label}: clipped ({int(clipped.sum())} steps)",
                                     marker=dict(symbol="x", size=6, color=color),
                                     hovertemplate="step %{x}: clipped<extra></extra>"))
    for clip, color in thresholds.items():
        log_hline(fig, clip, f"clipping threshold {clip:g}", color, 1.5, above=True)
    framed = log_range(list(thresholds) + [v for h in histories for name in ("grad_norm", "grad_norm_clipped")
                                           for v in h.column(name)])
    if framed is not None:
        log_yaxis(fig, *framed, "‖∂L/∂θ‖")
    else:
        fig.update_yaxes(type="log", title="‖∂L/∂θ‖", exponentformat="power")
    fig.update_xaxes(title="training step", rangemode="tozero")
    return layout(fig, "Gradient norm each step, before and after clipping", height=400)


def heatmap_grid(history: History) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(steps, distances, log10 ‖∂L/∂h‖ of shape distances × steps) for drawing: at most
    MAX_HEAT_COLUMNS probes (the latest always kept) and MAX_HEAT_ROWS distances, and a gradient of
    exactly zero (underflow) or below 10^HEAT_FLOOR shown at the floor rather than as a hole."""
    steps, grid = history.probes()
    if not grid.size:
        return steps, np.arange(0), grid
    distances = np.arange(grid.shape[0])
    cols = np.arange(grid.shape[1])
    if len(cols) > MAX_HEAT_COLUMNS:
        cols = np.unique(np.append(cols[::int(np.ceil(len(cols) / MAX_HEAT_COLUMNS))], cols[-1]))
    rows = distances[::int(np.ceil(len(distances) / MAX_HEAT_ROWS))]
    grid = grid[np.ix_(rows, cols)]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.log10(np.maximum(grid, 10.0 ** HEAT_FLOOR))
    z[~np.isfinite(grid)] = np.nan
    return steps[cols], rows, z


def distance_heatmap(history: History, label: str) -> go.Figure:
    """log10 ‖∂L/∂h_{T−k}‖ by distance k (y) over training steps (x): does the long-range signal live?"""
    steps, distances, z = heatmap_grid(history)
    fig = go.Figure()
    if z.size:
        fig.add_trace(go.Heatmap(x=steps, y=distances, z=z, colorscale="Viridis", zmin=HEAT_FLOOR, zmax=0,
                                 colorbar=dict(title="log10 ‖∂L/∂h‖", tickvals=[-12, -9, -6, -3, 0],
                                               ticktext=["≤ −12", "−9", "−6", "−3", "0"]),
                                 hovertemplate="step %{x}, distance %{y}<br>log10 ‖∂L/∂h‖ %{z:.2f}<extra></extra>"))
    else:
        fig.add_annotation(x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                           text=f"no profile yet:<br>it is measured at step 1<br>and every "
                                f"{history.config.probe_every} steps")
        fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
        fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_xaxes(title="training step")
    fig.update_yaxes(title="distance k from the loss")
    return layout(fig, f"{label}: gradient reaching each distance", height=330)


def history_csv(histories: list[History], labels: list[str]) -> str:
    """Every recorded step of every run, one row each (non-finite numbers left empty)."""
    frames = [pd.DataFrame([r.to_json_dict() for r in h.records]).assign(run=label)
              for h, label in zip(histories, labels)]
    table = pd.concat(frames, ignore_index=True)
    return table[["run"] + [c for c in table.columns if c != "run"]].to_csv(index=False)


def configs_json(histories: list[History], labels: list[str]) -> str:
    """The configuration of every run, by run label (the fields of `python -m core train`)."""
    return json.dumps({label: h.config.to_dict() for h, label in zip(histories, labels)}, indent=2)
