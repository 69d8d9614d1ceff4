"""Figure builders for the Loss cliff and Phase diagram pages (pure: result -> go.Figure)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from core.cliff import CliffResult, Trajectory
from core.phase import PhaseResult, measured_edge
from ui.chart_style import layout, log_hline, log_range, log_yaxis

PLAIN, CLIPPED, THEORY, RADIUS, OVERFLOW = "#D55E00", "#0072B2", "#111111", "#6E6E6E", "#3b0a0a"
MEAN_FIELD = "#E69F00"
PASCANU_NAME = "Pascanu λ1·γ = 1 (left of it vanishing is guaranteed)"
MEAN_FIELD_NAME = "mean-field χ = 1 (edge of chaos)"
PICK_GRID = 40     # invisible click targets per axis on the cliff surface


# The two descents differ in colour, line dash and marker shape, so they stay apart without colour too.
PATH_STYLE = {"plain": (PLAIN, "solid", "circle"), "clipped": (CLIPPED, "dash", "diamond")}


def _path(tr: Trajectory, name: str, kind: str) -> go.Scatter:
    color, dash, symbol = PATH_STYLE[kind]
    return go.Scatter(x=tr.w, y=tr.b, mode="lines+markers", name=name,
                      line=dict(color=color, width=2.5, dash=dash), marker=dict(size=7, color=color, symbol=symbol),
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
    fig = go.Figure(go.Heatmap(x=g.w, y=g.b, z=z, colorscale=scale, colorbar=colorbar, hoverinfo="skip"))
    pw, pb = np.meshgrid(np.linspace(c.w_min, c.w_max, PICK_GRID), np.linspace(c.b_min, c.b_max, PICK_GRID))
    near_w = np.abs(g.w[None, :] - pw.ravel()[:, None]).argmin(1)      # the grid point under each target
    near_b = np.abs(g.b[None, :] - pb.ravel()[:, None]).argmin(1)
    fig.add_trace(go.Scatter(x=pw.ravel(), y=pb.ravel(), mode="markers", name="start here",
                             marker=dict(size=12, opacity=0), showlegend=False,
                             customdata=np.stack([g.loss[near_b, near_w], g.grad_norm[near_b, near_w]], axis=1),
                             hovertemplate="w %{x:.2f}, b %{y:.2f}<br>E %{customdata[0]:.3g}, ‖∇E‖ "
                                           "%{customdata[1]:.3g}<br>click to start here<extra></extra>"))
    fig.add_trace(_path(res.plain, "plain gradient descent", "plain"))
    fig.add_trace(_path(res.clipped, f"clipped at ‖∇E‖ ≤ {c.clip:g}", "clipped"))
    fig.add_trace(go.Scatter(x=[c.w0], y=[c.b0], mode="markers", name="start",
                             marker=dict(symbol="star", size=16, color="white", line=dict(color="black", width=1))))
    left = _outside(res.plain, c)
    if left is not None:
        (ex, ey), (tx, ty) = _exit_point(res.plain, left, c)
        fig.add_annotation(x=ex, y=ey, ax=tx, ay=ty, axref="x", ayref="y", showarrow=True, arrowhead=2,
                           arrowcolor=PLAIN, bgcolor="rgba(255,255,255,0.9)", font=dict(color=PLAIN),
                           text=f"plain step {left} leaves the plot:<br>w = {res.plain.w[left]:.3g}, "
                                f"b = {res.plain.b[left]:.3g}")
    fig.update_xaxes(title="w (recurrent weight)", range=[c.w_min, c.w_max])
    fig.update_yaxes(title="b (bias)", range=[c.b_min, c.b_max])
    what = "gradient norm ‖∇E‖ (log colour)" if show == "grad" else "loss E"
    return layout(fig, f"Pascanu's cliff: {what} over (w, b), T = {c.seq_len}", height=560)


def _outside(tr: Trajectory, c) -> int | None:
    out = (tr.w < c.w_min) | (tr.w > c.w_max) | (tr.b < c.b_min) | (tr.b > c.b_max)
    return int(np.argmax(out)) if out.any() else None


def _exit_point(tr: Trajectory, k: int, c) -> tuple[tuple[float, float], tuple[float, float]]:
    """Where step k's segment crosses the plot's border, and a spot for its label towards the centre."""
    p0 = np.array([tr.w[k - 1], tr.b[k - 1]]) if k else np.array([c.w0, c.b0])
    p1 = np.array([tr.w[k], tr.b[k]])
    lo, hi = np.array([c.w_min, c.b_min]), np.array([c.w_max, c.b_max])
    if not np.all((p0 >= lo) & (p0 <= hi)):          # started outside: point at the nearest border spot
        exit_ = np.clip(p1, lo, hi)
    else:
        d = p1 - p0
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(d > 0, (hi - p0) / d, np.where(d < 0, (lo - p0) / d, np.inf))
        exit_ = p0 + min(1.0, float(t.min())) * d
    # the label sits back along the jump and off to its side (towards the centre), not on the red line
    span = hi - lo
    u, back = (exit_ - lo) / span, (p0 - exit_) / span
    back = back / max(float(np.hypot(*back)), 1e-9)
    side = np.array([-back[1], back[0]])
    if np.dot(side, 0.5 - u) < 0:
        side = -side
    label = lo + np.clip(u + 0.15 * back + 0.2 * side, 0.12, 0.88) * span
    return (float(exit_[0]), float(exit_[1])), (float(label[0]), float(label[1]))


def _descents_figure(res: CliffResult, values: str, hover: str) -> go.Figure:
    """One line per descent (plain, clipped) of `values` (a field of the trajectory) against the step."""
    fig = go.Figure()
    for tr, name in ((res.plain, "plain"), (res.clipped, "clipped")):
        color, dash, symbol = PATH_STYLE[name]
        y = getattr(tr, values)
        fig.add_trace(go.Scatter(x=np.arange(len(y)), y=y, mode="lines+markers", name=name,
                                 line=dict(color=color, dash=dash), marker=dict(symbol=symbol, size=6),
                                 hovertemplate=hover))
    fig.update_xaxes(title="gradient-descent step")
    return fig


def trajectory_norms_figure(res: CliffResult) -> go.Figure:
    """‖∇E‖ at each step of both descents, with the clipping threshold."""
    fig = _descents_figure(res, "grad_norm", "step %{x}: ‖∇E‖ %{y:.3g}<extra></extra>")
    log_hline(fig, res.config.clip, f"threshold {res.config.clip:g}", CLIPPED)
    framed = log_range(np.concatenate([res.plain.grad_norm, res.clipped.grad_norm, [res.config.clip]]))
    log_yaxis(fig, *framed, "‖∇E‖")
    return layout(fig, "Gradient norm along each descent", height=330)


def trajectory_loss_figure(res: CliffResult) -> go.Figure:
    fig = _descents_figure(res, "loss", "step %{x}: E %{y:.4g}<extra></extra>")
    fig.update_yaxes(title="E", rangemode="tozero")
    return layout(fig, "Loss along each descent", height=330)


def _factor_ticks(limit: float) -> tuple[list[float], list[str]]:
    """Colour-bar ticks at round factors (…, 0.1, 0.3, 1, 3, 10, …) within ±limit decades."""
    factors = [m * 10.0 ** e for e in range(-3, 3) for m in (1, 3)]
    vals = [float(np.log10(f)) for f in factors if abs(np.log10(f)) <= limit + 1e-9]
    return vals, [f"{10 ** v:g}" for v in vals]


def phase_figure(res: PhaseResult) -> go.Figure:
    """Per-step factor over weight scale × y, log colour centred on 1, with the measured edge,
    the theory line λ1·γ = 1 and the spectral-radius line; overflowed cells in their own colour;
    every cell is a click target."""
    cfg = res.config
    x = res.weight_scale
    categorical = cfg.y_axis == "activation"
    y = list(range(len(res.y))) if categorical else res.y
    ylabel = {"input_scale": "input scale", "seq_len": "sequence length T", "activation": "activation"}[cfg.y_axis]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_rate = np.log10(res.rate)
    fig = _factor_heatmap(res, x, y, log_rate)
    if categorical:
        _edge_ticks(fig, res, y)
    else:
        _edge_lines(fig, res, x, y, log_rate)
    fig.add_vline(x=res.radius_edge, line=dict(color=RADIUS, dash="dot"))
    # annotations on a log axis take log10 coordinates (add_vline's own annotation would misplace it)
    fig.add_annotation(x=np.log10(res.radius_edge), y=0, yref="paper", yanchor="top", xanchor="left",
                       text="spectral radius 1", showarrow=False, font=dict(color=RADIUS, size=11), yshift=-2)
    fig.add_trace(_cell_targets(res, x, y, ylabel))
    half = (np.log10(x[-1]) - np.log10(x[0])) / (len(x) - 1) / 2
    fig.update_xaxes(type="log", title="weight scale s (log)", range=[np.log10(x[0]) - half, np.log10(x[-1]) + half])
    if categorical:
        fig.update_yaxes(title=ylabel, tickvals=y, ticktext=res.y)
    else:
        fig.update_yaxes(title=ylabel, type="log" if cfg.y_axis == "seq_len" else "linear")
    return layout(fig, f"Per-step gradient factor of the vanilla RNN ({cfg.init} init, H = {cfg.hidden})",
                  height=560)


def _factor_heatmap(res: PhaseResult, x, y, log_rate: np.ndarray) -> go.Figure:
    """The measured factor in a log colour centred on 1 (at most ±2 decades), overflowed cells in their own."""
    limit = float(np.nanmax(np.abs(log_rate[np.isfinite(log_rate)]))) if np.isfinite(log_rate).any() else 1.0
    limit = min(max(limit, 0.5), 2.0)
    tickvals, ticktext = _factor_ticks(limit)
    fig = go.Figure(go.Heatmap(
        x=x, y=y, z=np.clip(log_rate, -limit, limit), zmid=0, zmin=-limit, zmax=limit, colorscale="RdBu_r",
        colorbar=dict(title="per-step factor", tickvals=tickvals, ticktext=ticktext), hoverinfo="skip"))
    if res.overflow.any():
        fig.add_trace(go.Heatmap(x=x, y=y, z=np.where(res.overflow, 1.0, np.nan), showscale=False,
                                 colorscale=[[0, OVERFLOW], [1, OVERFLOW]], hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name="overflow (inf/NaN)",
                                 marker=dict(symbol="square", size=12, color=OVERFLOW)))
    return fig


def _edge_lines(fig: go.Figure, res: PhaseResult, x, y, log_rate: np.ndarray) -> None:
    """A numeric y axis: the measured edge (factor = 1 contour), Pascanu's bound and the mean-field edge as lines."""
    fig.add_trace(go.Contour(x=x, y=y, z=log_rate, contours=dict(start=0, end=0, size=1, coloring="none"),
                             line=dict(color="black", width=3), showscale=False, name="measured factor = 1",
                             showlegend=True, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=res.theory_edge, y=y, mode="lines", name=PASCANU_NAME,
                             line=dict(color=THEORY, dash="dash", width=2), hoverinfo="skip"))
    if np.isfinite(res.mean_field_edge).any():
        fig.add_trace(go.Scatter(x=res.mean_field_edge, y=y, mode="lines", name=MEAN_FIELD_NAME,
                                 line=dict(color=MEAN_FIELD, width=3, dash="dot"), hoverinfo="skip"))


def _edge_ticks(fig: go.Figure, res: PhaseResult, y) -> None:
    """Activations on the y axis: one short tick per row (rows are separate networks), mean-field as diamonds."""
    tick = dict(symbol="line-ns", size=40)
    fig.add_trace(go.Scatter(x=measured_edge(res), y=y, mode="markers", name="measured factor = 1",
                             marker=dict(**tick, line=dict(color="black", width=4)), hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=res.theory_edge, y=y, mode="markers", name=PASCANU_NAME,
                             marker=dict(**tick, line=dict(color=THEORY, width=2)), hoverinfo="skip"))
    if np.isfinite(res.mean_field_edge).any():
        fig.add_trace(go.Scatter(x=res.mean_field_edge, y=y, mode="markers", name=MEAN_FIELD_NAME,
                                 marker=dict(symbol="diamond-wide", size=14, color=MEAN_FIELD,
                                             line=dict(color="black", width=1)), hoverinfo="skip"))


def _cell_targets(res: PhaseResult, x, y, ylabel: str) -> go.Scatter:
    """An invisible marker on every cell: its hover text, and the click that opens it on the Gradient flow page."""
    gx, gy = np.meshgrid(x, y)
    labels = np.broadcast_to(np.asarray(res.y, dtype=object)[:, None], res.rate.shape)
    factor = np.where(res.overflow, "overflow (inf/NaN)",
                      np.vectorize(lambda r: f"{r:.3g}" if np.isfinite(r) else "n/a")(res.rate))
    return go.Scatter(x=gx.ravel(), y=gy.ravel(), mode="markers", marker=dict(size=10, opacity=0),
                      showlegend=False, name="cells", customdata=np.stack([labels.ravel(), factor.ravel()], 1),
                      hovertemplate="s %{x:.3g}, " + ylabel + " %{customdata[0]}<br>per-step factor "
                                    "%{customdata[1]}<br>click to open it on the Gradient flow page"
                                    "<extra></extra>")
