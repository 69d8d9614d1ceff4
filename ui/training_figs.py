"""Figure builders for the Training lab (pure: histories -> go.Figure), and its exports."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.training import History
from ui.chart_style import figure, hline_parts, log_axis, log_range

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
    traces, shapes, notes = [], [], []
    for i, (hist, label) in enumerate(zip(histories, labels)):
        color = RUN_COLORS[i % 2]
        all_steps, all_loss = hist.column("step"), hist.column("loss")
        steps, loss = _bucketed(all_steps, all_loss, np.mean)
        _, smooth = _bucketed(all_steps, running_mean(all_loss), np.mean)
        traces.append(dict(type="scatter", x=steps, y=_log_values(loss), mode="lines", name=f"{label}: each step",
                           line=dict(color=color, width=1), opacity=0.35, legendgroup=label, showlegend=False,
                           hovertemplate="step %{x}<br>loss %{y:.4g}<extra>" + label + "</extra>"))
        traces.append(dict(type="scatter", x=steps, y=_log_values(smooth), mode="lines",
                           name=f"{label} (mean of {SMOOTH_STEPS} steps)", legendgroup=label,
                           line=dict(color=color, width=2.5),
                           hovertemplate="step %{x}<br>mean loss %{y:.4g}<extra>" + label + "</extra>"))
        if hist.diverged_at is not None:
            shapes.append(dict(type="line", xref="x", x0=hist.diverged_at, x1=hist.diverged_at, yref="y domain",
                               y0=0, y1=1, line=dict(color=color, dash="dash")))
            notes.append(dict(x=hist.diverged_at, xref="x", y=1, yref="y domain", xanchor="left", yanchor="top",
                              showarrow=False, text=f"{label}: NaN/inf at step {hist.diverged_at}"))
    shape, note = hline_parts(baseline, f"chance level ({baseline_label})", GREY, 2, above=False)
    lo, hi = log_range([baseline] + [v for h in histories for v in h.column("loss")])
    return figure(traces, "Loss, with the level of an answer that remembers nothing", 380, shapes + [shape],
                   notes + [note], yaxis=log_axis(lo, hi, f"{loss_name} (log scale)"),
                   xaxis=dict(title=dict(text="training step"), rangemode="tozero"))


def grad_norm_figure(histories: list[History], labels: list[str], clips: list) -> go.Figure:
    """Total gradient norm before and after clipping, the threshold, and every clipping event.
    Long runs are drawn as the largest norm of each bucket of steps (spikes stay visible), with a
    marker on every bucket that holds a clipping event."""
    traces = []
    thresholds = {}                  # threshold -> colour (grey when several runs share it)
    for i, clip in enumerate(clips):
        if clip is not None:
            thresholds[clip] = GREY if clip in thresholds else RUN_COLORS[i % 2]
    for i, (hist, label, clip) in enumerate(zip(histories, labels, clips)):
        color = RUN_COLORS[i % 2]
        all_steps = hist.column("step")
        steps, before = _bucketed(all_steps, hist.column("grad_norm"), np.max)
        traces.append(dict(type="scatter", x=steps, y=_log_values(before), mode="lines",
                           name=f"{label}: before clipping", line=dict(color=color, width=1.5),
                           hovertemplate="step %{x}<br>‖g‖ %{y:.3g}<extra>before</extra>"))
        if clip is not None:
            _, after = _bucketed(all_steps, hist.column("grad_norm_clipped"), np.max)
            traces.append(dict(type="scatter", x=steps, y=_log_values(after), mode="lines",
                               name=f"{label}: after", line=dict(color=color, width=1.5, dash="dot"),
                               hovertemplate="step %{x}<br>‖g‖ %{y:.3g}<extra>after</extra>"))
            clipped = hist.column("clipped")
            _, any_clipped = _bucketed(all_steps, clipped, np.max)
            marked = any_clipped > 0
            traces.append(dict(type="scatter", x=steps[marked], y=_log_values(before[marked]), mode="markers",
                               name=f"{label}: clipped ({hist.clipped_steps} steps)",
                               marker=dict(symbol="x", size=6, color=color),
                               hovertemplate="step %{x}: clipped<extra></extra>"))
    lines = [hline_parts(clip, f"clipping threshold {clip:g}", color, 1.5, above=True)
             for clip, color in thresholds.items()]
    framed = log_range(list(thresholds) + [v for h in histories for name in ("grad_norm", "grad_norm_clipped")
                                           for v in h.column(name)])
    yaxis = (log_axis(*framed, "‖∂L/∂θ‖") if framed is not None else
             dict(type="log", title=dict(text="‖∂L/∂θ‖"), exponentformat="power"))
    return figure(traces, "Gradient norm each step, before and after clipping", 400, [sh for sh, _ in lines],
                   [n for _, n in lines], yaxis=yaxis, xaxis=dict(title=dict(text="training step"), rangemode="tozero"))


def _level_line(y: float, text: str) -> tuple[dict, dict]:
    """(shape, annotation) of a labelled horizontal line on a linear y axis."""
    return (dict(type="line", xref="x domain", x0=0, x1=1, yref="y", y0=y, y1=y, line=dict(color=GREY, dash="dash")),
            dict(x=0, xref="paper", xanchor="left", y=y, yref="y", yanchor="bottom", text=text, showarrow=False,
                 font=dict(color=GREY, size=12), bgcolor="rgba(255,255,255,0.85)"))


def accuracy_figure(histories: list[History], labels: list[str], chance: float) -> go.Figure:
    """Share of right answers: on held-out data where the task has it (markers at the steps it was measured),
    else the running mean over SMOOTH_STEPS training batches (each batch is new data the network has not seen)."""
    traces = []
    for i, (hist, label) in enumerate(zip(histories, labels)):
        color = RUN_COLORS[i % 2]
        held = hist.column("heldout_accuracy")
        if np.isfinite(held).any():
            keep = np.isfinite(held)
            traces.append(dict(type="scatter", x=hist.column("step")[keep], y=held[keep], mode="lines+markers",
                               name=f"{label}: held-out", line=dict(color=color, width=2.5),
                               hovertemplate="step %{x}<br>held-out accuracy %{y:.1%}<extra>" + label + "</extra>"))
            continue
        steps, acc = _bucketed(hist.column("step"), running_mean(hist.column("accuracy")), np.mean)
        traces.append(dict(type="scatter", x=steps, y=acc, mode="lines", line=dict(color=color, width=2.5),
                           name=f"{label} (mean of {SMOOTH_STEPS} batches)",
                           hovertemplate="step %{x}<br>accuracy %{y:.1%}<extra>" + label + "</extra>"))
    shape, note = _level_line(chance, f"chance {chance:.0%}")
    return figure(traces, "Accuracy", 330, [shape], [note],
                  yaxis=dict(title=dict(text="share of right answers"), range=[0, 1.02], tickformat=".0%"),
                  xaxis=dict(title=dict(text="training step"), rangemode="tozero"))


def lyapunov_figure(histories: list[History], labels: list[str]) -> go.Figure:
    """The top Lyapunov exponents of the forward dynamics over training (the largest bold): below 0 a
    perturbation, and the gradient pushed back through the same Jacobians, shrinks by e^λ per step."""
    traces = []
    for i, (hist, label) in enumerate(zip(histories, labels)):
        steps, lyap = hist.exponents()
        for j in range(lyap.shape[1] if lyap.size else 0):
            traces.append(dict(type="scatter", x=steps, y=lyap[:, j], mode="lines+markers" if j == 0 else "lines",
                               marker=dict(size=5), legendgroup=label,
                               name=f"{label}: λ1" if j == 0 else f"{label}: λ{j + 1}", showlegend=j == 0,
                               line=dict(color=RUN_COLORS[i % 2], width=2.5 if j == 0 else 1), opacity=1 if j == 0
                               else 0.5, hovertemplate=f"step %{{x}}<br>λ{j + 1} %{{y:.3f}} per step<extra>{label}"
                                                       "</extra>"))
    shape, note = _level_line(0.0, "λ = 0: the gradient neither shrinks nor grows")
    return figure(traces, "Top Lyapunov exponents of the forward dynamics", 330, [shape], [note],
                  yaxis=dict(title=dict(text="λ (nats per step)")),
                  xaxis=dict(title=dict(text="training step"), rangemode="tozero"))


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
    xaxis, yaxis = dict(title=dict(text="training step")), dict(title=dict(text="distance k from the loss"))
    traces, notes = [], []
    if z.size:
        traces.append(dict(type="heatmap", x=steps, y=distances, z=z, colorscale="Viridis", zmin=HEAT_FLOOR, zmax=0,
                           colorbar=dict(title=dict(text="log10 ‖∂L/∂h‖"), tickvals=[-12, -9, -6, -3, 0],
                                         ticktext=["≤ −12", "−9", "−6", "−3", "0"]),
                           hovertemplate="step %{x}, distance %{y}<br>log10 ‖∂L/∂h‖ %{z:.2f}<extra></extra>"))
    else:
        notes.append(dict(x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                          text=f"no profile yet:<br>it is measured at step 1<br>and every "
                               f"{history.config.probe_every} steps"))
        for axis in (xaxis, yaxis):
            axis.update(showticklabels=False, showgrid=False, zeroline=False)
    return figure(traces, f"{label}: gradient reaching each distance", 330, annotations=notes, xaxis=xaxis,
                   yaxis=yaxis)


def history_csv(histories: list[History], labels: list[str]) -> str:
    """Every record of every run, one row each (non-finite numbers left empty); `span` is the number of steps a
    row covers (a long run keeps its latest 1,000 steps one by one, older ones merged, core/training.py History)."""
    frames = [pd.DataFrame([r.to_json_dict() for r in h.records]).assign(run=label)
              for h, label in zip(histories, labels)]
    table = pd.concat(frames, ignore_index=True)
    return table[["run"] + [c for c in table.columns if c != "run"]].to_csv(index=False)


def configs_json(histories: list[History], labels: list[str]) -> str:
    """The configuration of every run, by run label (the fields of `python -m core train`)."""
    return json.dumps({label: h.config.to_dict() for h, label in zip(histories, labels)}, indent=2)
