"""Figure builders for the Training lab (pure: histories -> go.Figure)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from core.training import History

RUN_COLORS = ["#1f77b4", "#d62728"]
MAX_POINTS = 1500          # longer histories are thinned for drawing (the CSV keeps every step)


def _layout(fig: go.Figure, title: str, height: int = 340) -> go.Figure:
    fig.update_layout(title=dict(text=title, x=0, xanchor="left", font=dict(size=16)), height=height,
                      margin=dict(l=60, r=20, t=40, b=40),
                      legend=dict(orientation="h", yanchor="top", y=-0.22, xanchor="left", x=0))
    return fig


def _thin(n: int) -> slice:
    return slice(None, None, max(1, int(np.ceil(n / MAX_POINTS))))


def _finite_or_none(a: np.ndarray) -> list:
    return [float(v) if np.isfinite(v) and v > 0 else None for v in a]


def loss_figure(histories: list[History], labels: list[str], baseline: float, baseline_label: str,
                loss_name: str) -> go.Figure:
    """Training loss of every run (log scale) with the memoryless baseline."""
    fig = go.Figure()
    for i, (hist, label) in enumerate(zip(histories, labels)):
        steps, loss = hist.column("step"), hist.column("loss")
        cut = _thin(len(steps))
        fig.add_trace(go.Scatter(x=steps[cut], y=_finite_or_none(loss[cut]), mode="lines", name=label,
                                 line=dict(color=RUN_COLORS[i % 2], width=2),
                                 hovertemplate="step %{x}<br>loss %{y:.4g}<extra>" + label + "</extra>"))
        if hist.diverged_at is not None:
            fig.add_vline(x=hist.diverged_at, line=dict(color=RUN_COLORS[i % 2], dash="dash"),
                          annotation_text=f"{label}: NaN/inf at step {hist.diverged_at}")
    fig.add_hline(y=baseline, line=dict(color="#7f7f7f", dash="dash", width=2),
                  annotation_text=f"chance level ({baseline_label})", annotation_position="bottom left")
    fig.update_yaxes(type="log", title=f"{loss_name} (log scale)", exponentformat="power")
    fig.update_xaxes(title="training step", rangemode="tozero")
    return _layout(fig, "Loss, with the level of an answer that remembers nothing", height=380)


def grad_norm_figure(histories: list[History], labels: list[str], clips: list) -> go.Figure:
    """Total gradient norm before and after clipping, the threshold, and every clipping event."""
    fig = go.Figure()
    for i, (hist, label, clip) in enumerate(zip(histories, labels, clips)):
        color = RUN_COLORS[i % 2]
        steps = hist.column("step")
        cut = _thin(len(steps))
        before, after = hist.column("grad_norm"), hist.column("grad_norm_clipped")
        fig.add_trace(go.Scatter(x=steps[cut], y=_finite_or_none(before[cut]), mode="lines",
                                 name=f"{label}: before clipping", line=dict(color=color, width=1.5),
                                 hovertemplate="step %{x}<br>‖g‖ %{y:.3g}<extra>before</extra>"))
        if clip is not None:
            fig.add_trace(go.Scatter(x=steps[cut], y=_finite_or_none(after[cut]), mode="lines",
                                     name=f"{label}: after", line=dict(color=color, width=1.5, dash="dot"),
                                     hovertemplate="step %{x}<br>‖g‖ %{y:.3g}<extra>after</extra>"))
            clipped = hist.column("clipped").astype(bool)
            fig.add_trace(go.Scatter(x=steps[clipped], y=_finite_or_none(before[clipped]), mode="markers",
                                     name=f"{label}: clipped ({int(clipped.sum())})",
                                     marker=dict(symbol="x", size=6, color=color),
                                     hovertemplate="step %{x}: clipped<extra></extra>"))
            fig.add_hline(y=clip, line=dict(color=color, dash="dash", width=1),
                          annotation_text=f"threshold {clip:g}", annotation_position="top left")
    fig.update_yaxes(type="log", title="‖∂L/∂θ‖", exponentformat="power")
    fig.update_xaxes(title="training step", rangemode="tozero")
    return _layout(fig, "Gradient norm each step, before and after clipping", height=400)


def distance_heatmap(history: History, label: str) -> go.Figure:
    """log10 ‖∂L/∂h_{T−k}‖ by distance k (y) over training steps (x): does the long-range signal live?"""
    steps, grid = history.probes()
    fig = go.Figure()
    if grid.size:
        with np.errstate(divide="ignore"):
            z = np.log10(np.where(grid > 0, grid, np.nan))
        fig.add_trace(go.Heatmap(x=steps, y=np.arange(grid.shape[0]), z=z, colorscale="Viridis", zmin=-12, zmax=0,
                                 colorbar=dict(title="log10 ‖∂L/∂h‖", tickvals=[-12, -9, -6, -3, 0]),
                                 hovertemplate="step %{x}, distance %{y}<br>log10 ‖∂L/∂h‖ %{z:.2f}<extra></extra>"))
    else:
        fig.add_annotation(x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                           text="press Start or Step: the profile is measured every few steps")
    fig.update_xaxes(title="training step")
    fig.update_yaxes(title="distance k from the loss")
    return _layout(fig, f"{label}: gradient reaching each distance", height=330)
