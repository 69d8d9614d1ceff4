"""Figure builders and tables of the "Your network" page: pure functions, InspectResult -> go.Figure / rows."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from core.inspect import SATURATED, InspectResult
from ui.chart_style import figure, log_range

# Okabe & Ito's palette, one colour per layer; the reverse direction is the same colour, dashed.
LAYER_COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999933"]
MAX_COLUMNS = 400             # heatmap columns (neighbouring steps averaged beyond)


def _positive_or_none(a) -> list:
    return [float(v) if np.isfinite(v) and v > 0 else None for v in np.asarray(a, dtype=float)]


def label(lf) -> str:
    return f"layer {lf.layer}" + (" reverse" if lf.direction == "reverse" else "")


def curves_figure(res: InspectResult, cell_state: bool = False) -> go.Figure:
    """‖∂L/∂h_t‖ (or ‖∂L/∂c_t‖) against the time step t, one line per layer and direction, log axis."""
    traces, values = [], []
    for lf in res.layers:
        curve = lf.cell_grad_norm if cell_state else lf.grad_norm
        if curve is None:
            continue
        values.append(curve)
        t = np.arange(len(curve))
        what = "‖∂L/∂c_t‖" if cell_state else "‖∂L/∂h_t‖"
        traces.append(dict(type="scatter", x=t, y=_positive_or_none(curve), mode="lines", name=label(lf),
                           line=dict(color=LAYER_COLORS[lf.layer % len(LAYER_COLORS)], width=3,
                                     dash="dash" if lf.direction == "reverse" else "solid"),
                           hovertemplate=f"{label(lf)}<br>step %{{x}}<br>{what} = %{{y:.3e}}<extra></extra>"))
    framed = log_range(np.concatenate(values), spare=0.5) if values else None
    yaxis = dict(type="log", title="‖∂L/∂c_t‖" if cell_state else "‖∂L/∂h_t‖", exponentformat="power")
    if framed is not None:
        yaxis["range"] = list(framed)
    loss = "the last step" if res.config["loss_on"] == "last" else "every step"
    title = (f"{'Cell-state gradient' if cell_state else 'Gradient'} at every step, per layer and direction "
             f"(loss on {loss})")
    return figure(traces, title, xaxis=dict(title="time step t"), yaxis=yaxis)


def heatmap_figure(res: InspectResult) -> go.Figure:
    """log10 ‖∂L/∂h_t‖ over layer and direction (rows, bottom layer at the bottom) × time step (columns)."""
    return layer_heatmap([lf.grad_norm for lf in res.layers], [label(lf) for lf in res.layers], "time step t",
                         "step", "Layer × time: where the gradient dies (dark = small; gaps are exactly 0)")


def layer_heatmap(curves, names: list, x_title: str, x_name: str, title: str) -> go.Figure:
    """log10 of one curve per row (rows bottom first, drawn bottom up) × its index (columns; neighbouring columns
    averaged beyond MAX_COLUMNS). Shared by the Your network and the Gradient flow pages."""
    rows = np.array(curves, dtype=float)
    steps = np.arange(rows.shape[1])
    if rows.shape[1] > MAX_COLUMNS:
        width = int(np.ceil(rows.shape[1] / MAX_COLUMNS))
        n = rows.shape[1] // width * width
        rows, steps = rows[:, :n].reshape(len(rows), -1, width).mean(axis=2), steps[:n:width]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(np.isfinite(rows) & (rows > 0), np.log10(rows), np.nan)
    what = "‖∂L/∂h_t‖" if x_name == "step" else "‖∂L/∂h‖"
    trace = dict(type="heatmap", z=z, x=steps, y=names, colorscale="Viridis",
                 colorbar=dict(title=f"log10 {what}"),
                 hovertemplate=f"%{{y}}, {x_name} %{{x}}<br>log10 {what} = %{{z:.2f}}<extra></extra>")
    return figure([trace], title, height=max(260, 60 + 40 * len(names)), xaxis=dict(title=x_title),
                  yaxis=dict(title="", type="category"))


def lyapunov_figure(res: InspectResult) -> go.Figure:
    """The largest Lyapunov exponents of the stack's forward dynamics, with 0 marked."""
    values = [float(v) if np.isfinite(v) else None for v in res.lyapunov]
    trace = dict(type="bar", x=[f"λ{i + 1}" for i in range(len(values))], y=values, marker=dict(color="#CC79A7"),
                 hovertemplate="%{x} = %{y:.4g} per step<extra></extra>", name="Lyapunov exponent")
    zero = dict(type="line", xref="paper", x0=0, x1=1, y0=0, y1=0, line=dict(color="#6E6E6E", dash="dash"))
    return figure([trace], "Lyapunov exponents of the forward dynamics (nats per step; > 0: chaotic)",
                  height=300, shapes=[zero], yaxis=dict(title="exponent"), xaxis=dict(title=""))


def layer_rows(res: InspectResult) -> list[dict]:
    """One row per layer and direction: regime, fitted factor, λ1, saturation."""
    rows = []
    for lf, s in zip(res.layers, res.saturation):
        rows.append({"layer": label(lf), "regime": lf.regime,
                     "per-step factor": None if lf.rate is None else round(lf.rate, 4),
                     "λ1": round(lf.lambda1, 4) if np.isfinite(lf.lambda1) else None,
                     s.quantity + " (mean)": round(s.mean, 3) if np.isfinite(s.mean) else None,
                     f"share < {SATURATED[0]}": f"{s.share_low:.0%}" if np.isfinite(s.share_low) else "n/a",
                     f"share > {SATURATED[1]}": f"{s.share_high:.0%}" if np.isfinite(s.share_high) else "n/a"})
    return rows


def diagnosis_rows(res: InspectResult) -> list[dict]:
    """Each sentence with the number it rests on."""
    return [{"finding": f.text, "number": f"{f.value:.4g}", "which is": f.quantity} for f in res.diagnosis]


def architecture_text(res: InspectResult) -> str:
    a = res.architecture
    kind = {"rnn": f"vanilla RNN ({a.nonlinearity})", "gru": "GRU", "lstm": "LSTM"}[a.kind]
    extra = f", projection to {a.proj_size}" if a.proj_size else ""
    return (f"{a.num_layers}-layer {'bidirectional ' if a.bidirectional else ''}{kind}: input size {a.input_size}, "
            f"hidden size {a.hidden_size}{extra}")


def watch_heatmap_figure(records: list, layer: int, direction: str) -> go.Figure:
    """A watch file's ‖∂loss/∂h‖ of one layer and direction by distance from the last step (rows) × recorded step
    (columns), log colour: the Training lab's heatmap for the user's own run."""
    curves = [next((lf["grad_norm"] for lf in r["layers"] if lf["layer"] == layer and lf["direction"] == direction),
                   []) for r in records]
    longest = max((len(c) for c in curves), default=0)
    z = np.full((longest, len(records)), np.nan)
    for j, curve in enumerate(curves):
        by_distance = np.array([np.nan if v is None else v for v in curve], dtype=float)[::-1]
        z[:len(by_distance), j] = by_distance
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(np.isfinite(z) & (z > 0), np.log10(z), np.nan)
    trace = dict(type="heatmap", z=z, x=[r["step"] for r in records], y=np.arange(longest), colorscale="Viridis",
                 colorbar=dict(title="log10 ‖∂loss/∂h‖"),
                 hovertemplate="step %{x}, distance %{y}<br>log10 ‖∂loss/∂h‖ = %{z:.2f}<extra></extra>")
    name = f"layer {layer}" + (" reverse" if direction == "reverse" else "")
    return figure([trace], f"{name}: ‖∂loss/∂h_(T−k)‖ over training (your own loss)",
                  xaxis=dict(title="training step"), yaxis=dict(title="distance k from the last step"))


def watch_scalars_figure(records: list) -> go.Figure:
    """The loss (where recorded) and the parameter-gradient norm of each recorded step, log axis."""
    steps = [r["step"] for r in records]
    traces = [dict(type="scatter", x=steps, y=_positive_or_none([r.get("loss") or np.nan for r in records]),
                   mode="lines+markers", name="loss", line=dict(color=LAYER_COLORS[0], width=3)),
              dict(type="scatter", x=steps, y=_positive_or_none([r.get("grad_norm") or np.nan for r in records]),
                   mode="lines+markers", name="‖∂loss/∂θ‖ of the module", line=dict(color=LAYER_COLORS[1], width=3,
                                                                                  dash="dash"))]
    return figure(traces, "Loss and gradient norm at the recorded steps", height=320,
                  xaxis=dict(title="training step"), yaxis=dict(type="log", exponentformat="power"))
