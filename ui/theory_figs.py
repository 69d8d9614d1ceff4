"""Figure builders for the Loss cliff and Phase diagram pages (pure: result -> go.Figure)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from core.cliff import CliffResult, Trajectory
from core.phase import PhaseResult, measured_edge

PLAIN, CLIPPED, THEORY, RADIUS = "#d62728", "#2ca02c", "#111111", "#7f7f7f"
PICK_GRID = 40     # invisible click targets per axis on the cliff surface


def _layout(fig: go.Figure, title: str, height: int = 460) -> go.Figure:
    fig.update_layout(title=dict(text=title, x=0, xanchor="left", font=dict(size=16)), height=height,
                      margin=dict(l=60, r=20, t=50, b=50),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1))
    return fig


def _path(tr: Trajectory, name: str, color: str) -> go.Scatter:
    return go.Scatter(x=tr.w, y=tr.b, mode="lines+markers", name=name,
                      line=dict(color=color, width=2.5), marker=dict(size=6, color=color),
                      customdata=np.stack([np.arange(len(tr.w)), tr.loss, tr.grad_norm], axis=1),
                      hovertemplate="step %{customdata[0]}<br>w %{x:.3f}, b %{y:.3f}<br>E %{customdata[1]:.4f}"
                                    "<br>‖∇E‖ %{customdata[2]:.3g}<extra>" + name + "</extra>")


def cliff_surface_figure(res: CliffResult, show: str = "grad") -> go.Figure:
    """log10‖∇E‖ (show="grad") or E (show="loss") over the (w, b) grid, both descents drawn on it,
    and an invisible grid of click targets for choosing the start point."""
    g, c = res.grid, res.config
    if show == "grad":
        z = np.log10(np.maximum(g.grad_norm, 1e-12))
        colorbar = dict(title="log10 ‖∇E‖")
        scale = "Inferno"
    else:
        z, colorbar, scale = g.loss, dict(title="E"), "Viridis"
    fig = go.Figure(go.Heatmap(x=g.w, y=g.b, z=z, colorscale=scale, colorbar=colorbar,
                               hovertemplate="w %{x:.3f}, b %{y:.3f}<br>value %{z:.3g}<extra></extra>"))
    pw, pb = np.meshgrid(np.linspace(c.w_min, c.w_max, PICK_GRID), np.linspace(c.b_min, c.b_max, PICK_GRID))
    fig.add_trace(go.Scatter(x=pw.ravel(), y=pb.ravel(), mode="markers", name="start here",
                             marker=dict(size=12, opacity=0), showlegend=False,
                             hovertemplate="click to start at w %{x:.2f}, b %{y:.2f}<extra></extra>"))
    fig.add_trace(_path(res.plain, "plain gradient descent", PLAIN))
    fig.add_trace(_path(res.clipped, f"clipped at ‖∇E‖ ≤ {c.clip:g}", CLIPPED))
    fig.add_trace(go.Scatter(x=[c.w0], y=[c.b0], mode="markers", name="start",
                             marker=dict(symbol="star", size=16, color="white", line=dict(color="black", width=1))))
    left = _outside(res.plain, c)
    if left is not None:
        k = left
        fig.add_annotation(x=np.clip(res.plain.w[k], c.w_min, c.w_max), y=np.clip(res.plain.b[k], c.b_min, c.b_max),
                           text=f"plain step {k} leaves the plot: w = {res.plain.w[k]:.2f}, b = {res.plain.b[k]:.2f}",
                           showarrow=True, arrowhead=2, ax=-60, ay=30, bgcolor="rgba(255,255,255,0.85)",
                           font=dict(color=PLAIN))
    fig.update_xaxes(title="w (recurrent weight)", range=[c.w_min, c.w_max])
    fig.update_yaxes(title="b (bias)", range=[c.b_min, c.b_max])
    what = "gradient norm ‖∇E‖ (log colour)" if show == "grad" else "loss E"
    return _layout(fig, f"Pascanu's cliff: {what} over (w, b), T = {c.seq_len}", height=560)


def _outside(tr: Trajectory, c) -> int | None:
    out = (tr.w < c.w_min) | (tr.w > c.w_max) | (tr.b < c.b_min) | (tr.b > c.b_max)
    return int(np.argmax(out)) if out.any() else None


def trajectory_norms_figure(res: CliffResult) -> go.Figure:
    """‖∇E‖ at each step of both descents, with the clipping threshold."""
    fig = go.Figure()
    for tr, name, color in ((res.plain, "plain", PLAIN), (res.clipped, "clipped", CLIPPED)):
        fig.add_trace(go.Scatter(x=np.arange(len(tr.grad_norm)), y=tr.grad_norm, mode="lines+markers", name=name,
                                 line=dict(color=color), hovertemplate="step %{x}: ‖∇E‖ %{y:.3g}<extra></extra>"))
    fig.add_hline(y=res.config.clip, line=dict(color=CLIPPED, dash="dash"),
                  annotation_text=f"threshold {res.config.clip:g}", annotation_position="top left")
    fig.update_yaxes(type="log", title="‖∇E‖", exponentformat="power", dtick=1)
    fig.update_xaxes(title="gradient-descent step")
    return _layout(fig, "Gradient norm along each descent", height=330)


def trajectory_loss_figure(res: CliffResult) -> go.Figure:
    fig = go.Figure()
    for tr, name, color in ((res.plain, "plain", PLAIN), (res.clipped, "clipped", CLIPPED)):
        fig.add_trace(go.Scatter(x=np.arange(len(tr.loss)), y=tr.loss, mode="lines+markers", name=name,
                                 line=dict(color=color), hovertemplate="step %{x}: E %{y:.4g}<extra></extra>"))
    fig.update_yaxes(title="E", rangemode="tozero")
    fig.update_xaxes(title="gradient-descent step")
    return _layout(fig, "Loss along each descent", height=330)


def phase_figure(res: PhaseResult) -> go.Figure:
    """Per-step factor over weight scale × y, log colour centred on 1, with the measured edge,
    the theory line λ1·γ = 1 and the spectral-radius line; every cell is a click target."""
    cfg = res.config
    x = res.weight_scale
    categorical = cfg.y_axis == "activation"
    y = list(range(len(res.y))) if categorical else res.y
    log_rate = np.log10(res.rate)
    limit = float(np.nanmax(np.abs(log_rate))) if np.isfinite(log_rate).any() else 1.0
    limit = min(max(limit, 0.1), 2.0)
    text = np.where(res.overflow, "overflow", np.vectorize(lambda r: f"{r:.3g}" if np.isfinite(r) else "n/a")(res.rate))
    fig = go.Figure(go.Heatmap(
        x=x, y=y, z=np.clip(log_rate, -limit, limit), zmid=0, zmin=-limit, zmax=limit, colorscale="RdBu_r",
        colorbar=dict(title="per-step factor", tickvals=[-limit, -limit / 2, 0, limit / 2, limit],
                      ticktext=[f"{10 ** v:.2g}" for v in (-limit, -limit / 2, 0, limit / 2, limit)]),
        text=text, hovertemplate="s %{x:.3g}, " + cfg.y_axis + " %{y}<br>factor %{text}<extra></extra>"))
    if not categorical:
        fig.add_trace(go.Contour(x=x, y=y, z=log_rate, contours=dict(start=0, end=0, size=1, coloring="none"),
                                 line=dict(color="black", width=3), showscale=False, name="measured factor = 1",
                                 showlegend=True, hoverinfo="skip"))
    else:
        edge = measured_edge(res)
        fig.add_trace(go.Scatter(x=edge, y=y, mode="markers", name="measured factor = 1",
                                 marker=dict(symbol="line-ns", size=26, line=dict(color="black", width=3)),
                                 hoverinfo="skip"))
    theory_y = y if not categorical else y
    fig.add_trace(go.Scatter(x=res.theory_edge, y=theory_y, mode="lines+markers" if categorical else "lines",
                             name="theory λ1·γ = 1", line=dict(color=THEORY, dash="dash", width=2),
                             marker=dict(symbol="line-ns", size=26, line=dict(color=THEORY, width=2)),
                             hoverinfo="skip"))
    fig.add_vline(x=res.radius_edge, line=dict(color=RADIUS, dash="dot"),
                  annotation_text="spectral radius 1", annotation_position="bottom right")
    gx, gy = np.meshgrid(x, y)
    fig.add_trace(go.Scatter(x=gx.ravel(), y=gy.ravel(), mode="markers", marker=dict(size=10, opacity=0),
                             showlegend=False, name="cells", customdata=np.arange(gx.size),
                             hovertemplate="s %{x:.3g}<br>click to open on the Gradient flow page<extra></extra>"))
    fig.update_xaxes(type="log", title="weight scale s (log)", range=[np.log10(x[0]), np.log10(x[-1])])
    ylabel = {"input_scale": "input scale", "seq_len": "sequence length T", "activation": "activation"}[cfg.y_axis]
    if categorical:
        fig.update_yaxes(title=ylabel, tickvals=y, ticktext=res.y)
    else:
        fig.update_yaxes(title=ylabel, type="log" if cfg.y_axis == "seq_len" else "linear")
    return _layout(fig, f"Per-step gradient factor of the vanilla RNN ({cfg.init} init, H = {cfg.hidden})",
                   height=560)
