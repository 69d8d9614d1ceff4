"""Figure builders for the Gradient flow page: pure functions, UnrollResult -> go.Figure."""
from __future__ import annotations

import warnings

import numpy as np
import plotly.graph_objects as go

from core.cells import CELLS
from core.probe import UnrollResult
from ui.chart_style import edge_anchor, figure, hline_parts, layout, log_axis, log_range, log_yaxis, vline
from ui.inspect_figs import layer_heatmap

# Okabe & Ito's colour-blind-safe palette; tests/test_colour_vision.py checks every multi-line chart, pins
# included, under simulated deuteranopia and protanopia.
COLORS = {"grad": "#0072B2", "bound": "#6E6E6E", "cell": "#009E73", "clipped": "#E69F00", "theory": "#D55E00",
          "lyapunov": "#CC79A7",
          "bad": "#d62728", "threshold": "#d62728"}
MAX_HEATMAP_COLUMNS = 400
# The layers below the top of a stack: the measured curve's colour, each its own dash (no other line uses these).
LOWER_LAYER_DASHES = ["longdash", "longdashdot", "8px,3px,2px,3px,2px,3px"]


def _positive_or_none(a: np.ndarray) -> list:
    """Values for a log axis: non-finite and non-positive points become gaps."""
    a = np.asarray(a, dtype=float)
    return [float(v) if np.isfinite(v) and v > 0 else None for v in a]


PINNED_COLORS = ["#56B4E9", "#000000", "#882255", "#999933", "#332288"]   # apart from the solid lines above


def gradient_curve_figure(res: UnrollResult, finite_prefix: UnrollResult | None = None,
                          pinned: list[tuple[str, np.ndarray, np.ndarray]] = (),
                          y_decades: tuple[float, float] | None = None) -> go.Figure:
    """‖∂L/∂h_{T−k}‖ against distance k on a log axis, with the theory and the events on it.
    `finite_prefix`: when the forward pass blew up, the same network run only as long as it stays finite.
    `pinned`: earlier curves (label, distance, grad_norm) kept for comparison. `y_decades`: a fixed log10 range of
    the y axis (None: fitted to the curves)."""
    k = res.distance
    last = max([int(k[-1])] + [int(d[-1]) for _, d, _ in pinned if len(d)])
    framed = y_decades if y_decades is not None else _curves_range(res, finite_prefix, pinned)
    traces = _pinned_traces(pinned)
    if finite_prefix is not None:
        traces.append(_prefix_trace(res, finite_prefix))
    traces += _lower_layer_traces(res, k)
    top = f"layer {len(res.layer_grad_norm)} (top): ‖∂L/∂h‖ measured" if len(res.layer_grad_norm) > 1 \
        else "‖∂L/∂h‖ measured"
    traces.append(dict(type="scatter", x=k, y=_positive_or_none(res.grad_norm), name=top,
                       mode="lines", line=dict(color=COLORS["grad"], width=3),
                       hovertemplate="distance %{x}<br>‖∂L/∂h‖ = %{y:.3e}<extra></extra>"))
    if res.overflow is not None:
        traces.append(_where_finite_ends(res))
    traces += _theory_traces(res, framed) + _other_norm_traces(res)
    shapes, notes = _event_marks(res, last)
    yaxis = (log_axis(*framed, "gradient norm (log scale)") if framed is not None else
             dict(type="log", title=dict(text="gradient norm (log scale)"), exponentformat="power"))
    xaxis = dict(title=dict(text="time-step distance k = T − t  (0 = the step the loss is on)"),
                 range=[-0.02 * max(last, 1), last * 1.02 + 0.5])
    return figure(traces, "Gradient norm against time-step distance", 460, shapes, notes, xaxis=xaxis, yaxis=yaxis)


def _curves_range(res: UnrollResult, finite_prefix: UnrollResult | None,
                  pinned: list[tuple[str, np.ndarray, np.ndarray]]) -> tuple[float, float] | None:
    """The log10 range that holds every curve drawn (with half a decade to spare)."""
    return log_range(np.concatenate([np.asarray(c, dtype=float) for c in
                                     [res.layer_grad_norm.ravel(), res.cell_grad_norm, res.clipped_grad_norm,
                                      None if finite_prefix is None else finite_prefix.grad_norm]
                                     + [n for _, _, n in pinned] if c is not None]), spare=0.5)


def _lower_layer_traces(res: UnrollResult, k: np.ndarray) -> list[dict]:
    """A stack's layers below the top, bottom first: the measured curve's colour, each its own dash."""
    return [dict(type="scatter", x=k, y=_positive_or_none(curve), name=f"layer {layer + 1}", mode="lines",
                 line=dict(color=COLORS["grad"], width=2, dash=LOWER_LAYER_DASHES[layer % len(LOWER_LAYER_DASHES)]),
                 hovertemplate=f"layer {layer + 1}<br>distance %{{x}}<br>‖∂L/∂h‖ = %{{y:.3e}}<extra></extra>")
            for layer, curve in enumerate(res.layer_grad_norm[:-1])]


def _pinned_traces(pinned: list[tuple[str, np.ndarray, np.ndarray]]) -> list[dict]:
    traces = []
    for i, (label, dist, norms) in enumerate(pinned):
        traces.append(dict(type="scatter", x=dist, y=_positive_or_none(norms), name=f"pinned: {label}", mode="lines",
                           line=dict(color=PINNED_COLORS[i % len(PINNED_COLORS)], width=1.5),
                           opacity=0.8, hovertemplate=f"{label}<br>distance %{{x}}<br>%{{y:.3e}}<extra></extra>"))
    return traces


def _prefix_trace(res: UnrollResult, finite_prefix: UnrollResult) -> dict:
    """The same network run only as long as it stays finite. Its steps are the first steps of this run, which sit
    at the largest distances (beyond the overflow): drawn there, it cannot be read as this run's curve."""
    steps = finite_prefix.config.seq_len
    offset = int(res.distance[-1]) - (steps - 1)
    return dict(type="scatter", x=finite_prefix.distance + offset,
                y=_positive_or_none(finite_prefix.grad_norm),
                name=f"the first {steps} steps alone (loss on step {steps}), at their distances here",
                mode="lines", line=dict(color=COLORS["lyapunov"], width=2, dash="dot"),
                hovertemplate=f"distance %{{x}} here (%{{customdata}} from step {steps})"
                              "<br>‖∂L/∂h‖ = %{y:.3e}<extra></extra>",
                customdata=finite_prefix.distance)


def _theory_traces(res: UnrollResult, framed: tuple[float, float] | None) -> list[dict]:
    """What theory says of the curve: the Pascanu bound, the mean-field (or exact) line, the Lyapunov line."""
    k, traces = res.distance, []
    if np.isfinite(res.bound).any():
        name = "Pascanu bound (λ1·γ)^k"
        above = np.isfinite(res.bound) & (res.bound > 10 ** framed[1]) if framed is not None else res.bound < 0
        if above.any():             # said in the legend: a label on the chart would crowd the top of small charts
            name += (f", λ1·γ = {res.spectrum.lambda1 * res.gamma:.3g}:<br>"
                     f"above the chart from k = {int(np.argmax(above))}")
        traces.append(dict(type="scatter", x=k, y=_positive_or_none(res.bound), name=name,
                           mode="lines", line=dict(color=COLORS["bound"], dash="dash", width=2),
                           hovertemplate="distance %{x}<br>bound = %{y:.3e}<extra></extra>"))
    if res.theory_curve is not None:
        traces.append(dict(type="scatter", x=k, y=_positive_or_none(res.theory_curve), name=res.theory_label,
                           mode="lines",
                           line=dict(color=COLORS["theory"], dash="dashdot", width=2.5),
                           hovertemplate="distance %{x}<br>theory = %{y:.3e}<extra></extra>"))
    if res.lyapunov.size and np.isfinite(res.lyapunov[0]) and np.isfinite(res.grad_norm[0]):
        lam = float(res.lyapunov[0])
        with np.errstate(over="ignore"):
            line = res.grad_norm[0] * np.exp(lam * k)
        traces.append(dict(type="scatter", x=k, y=_positive_or_none(line), mode="lines",
                           name=f"Lyapunov e^(λ_max·k), λ_max = {lam:.3g}",
                           line=dict(color=COLORS["lyapunov"], dash="dot", width=2.5),
                           hovertemplate="distance %{x}<br>e^(λ_max k) = %{y:.3e}<extra></extra>"))
    return traces


def _other_norm_traces(res: UnrollResult) -> list[dict]:
    """An LSTM's cell-state gradient, and the gradient after clipping (when clipping changed it)."""
    k, traces = res.distance, []
    if res.cell_grad_norm is not None:
        traces.append(dict(type="scatter", x=k, y=_positive_or_none(res.cell_grad_norm), name="‖∂L/∂c‖ cell state",
                           mode="lines", line=dict(color=COLORS["cell"], width=2),
                           hovertemplate="distance %{x}<br>‖∂L/∂c‖ = %{y:.3e}<extra></extra>"))
    if res.clipped_grad_norm is not None and res.clip_factor < 1:
        traces.append(dict(type="scatter", x=k, y=_positive_or_none(res.clipped_grad_norm), name="after clipping",
                           mode="lines", line=dict(color=COLORS["clipped"], width=2, dash="dot"),
                           hovertemplate="distance %{x}<br>clipped = %{y:.3e}<extra></extra>"))
    return traces


def _event_marks(res: UnrollResult, last: int) -> tuple[list[dict], list[dict]]:
    """(shapes, annotations): where the run overflowed, and where the gradient underflowed to exactly 0."""
    shapes, notes = [], []
    if res.overflow is not None:
        d = res.overflow["distance"]
        what = "forward pass" if res.overflow["where"] == "forward" else "gradient"
        shapes.append(vline(d, dict(color=COLORS["bad"], width=2, dash="dash")))
        notes.append(dict(x=d, y=1, yref="paper", text=f"{what}<br>overflow ({res.overflow['kind']})<br>at k = {d}",
                          showarrow=False, xanchor=edge_anchor(d, 0, last), yanchor="top",
                          font=dict(color=COLORS["bad"]), bgcolor="rgba(255,255,255,0.8)"))
    if res.reached_zero_at is not None:
        d = res.reached_zero_at
        shapes.append(vline(d, dict(color=COLORS["bound"], width=1, dash="dot")))
        notes.append(dict(x=d, y=0, yref="paper", text=f"exactly 0 from distance {d}<br>(underflow)",
                          showarrow=False, xanchor=edge_anchor(d, 0, last), yanchor="bottom",
                          bgcolor="rgba(255,255,255,0.8)"))
    return shapes, notes


def layer_heatmap_figure(res: UnrollResult) -> go.Figure:
    """A stack's layer × distance heatmap of log10 ‖∂L/∂h^l_{T−k}‖ (the Your network page's, by distance)."""
    names = [f"layer {k + 1}" + (" (top)" if k == len(res.layer_grad_norm) - 1 else "")
             for k in range(len(res.layer_grad_norm))]
    return layer_heatmap(res.layer_grad_norm, names, "time-step distance k = T − t  (0 = the step the loss is on)",
                         "distance", "Layer × distance: where the gradient dies in the stack (dark = small; gaps "
                         "are exactly 0)")


def _where_finite_ends(res: UnrollResult) -> dict:
    """A marker on the last finite point of the measured curve: the curve stops there (one finite point draws
    no line)."""
    finite = np.isfinite(res.grad_norm) & (res.grad_norm > 0)
    last = int(np.flatnonzero(finite)[-1]) if finite.any() else 0
    value = float(res.grad_norm[last]) if finite.any() else None
    return dict(type="scatter", x=[last], y=[value], mode="markers",
                name=f"measured: finite up to k = {last}, not a number beyond (overflow)",
                marker=dict(color=COLORS["grad"], size=11, symbol="x", line=dict(width=1, color="white")),
                hovertemplate="last finite point: distance %{x}<br>‖∂L/∂h‖ = %{y:.3e}<extra></extra>")


def clipping_figure(res: UnrollResult) -> go.Figure:
    """Total parameter-gradient norm before and after clipping, against the threshold (log axis with a
    handful of labels, whatever the magnitude). A gradient that is not finite gets no bars, only a note."""
    cfg = res.config
    before = res.param_grad_norm
    title = "Total parameter-gradient norm"
    if not np.isfinite(before):
        note = dict(x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                    text="the parameter gradient<br>is not finite (inf/NaN):<br>there is nothing to rescale",
                    font=dict(color=COLORS["bad"], size=14))
        return figure([], title, 360, annotations=[note], xaxis=dict(visible=False), yaxis=dict(visible=False))
    bars_x, bars_y = ["before clipping"], [before]
    if cfg.clip is not None:
        bars_x.append(f"after clipping by {cfg.clip_mode}")
        bars_y.append(before * res.clip_factor)
    bars = dict(type="bar", x=bars_x, y=bars_y, marker=dict(color=[COLORS["grad"], COLORS["clipped"]][:len(bars_x)]),
                text=[f"{v:.3g}" for v in bars_y], textposition="outside",
                hovertemplate="%{x}: %{y:.4g}<extra></extra>")
    framed = log_range(bars_y + ([cfg.clip] if cfg.clip is not None else []), spare=0.6)
    lines = [hline_parts(cfg.clip, f"threshold {cfg.clip:g}", COLORS["threshold"])] if cfg.clip is not None else []
    return figure([bars], title, 360, [sh for sh, _ in lines], [n for _, n in lines],
                  yaxis=log_axis(framed[0], framed[1], "‖∂L/∂θ‖ (all parameters)"))


def _no_matrix(res: UnrollResult, title: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       text=f"{CELLS[res.config.cell].label} has no recurrent matrix:<br>its Jacobian is diagonal "
                            "(see the Saturation tab)")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return layout(fig, title)


def spectrum_figure(res: UnrollResult) -> go.Figure:
    """Eigenvalues of the recurrent matrix in the complex plane, with the unit and 1/γ circles."""
    eig = res.spectrum.eigenvalues
    if eig.size == 0:
        return _no_matrix(res, "Eigenvalues")
    fig = go.Figure()
    theta = np.linspace(0, 2 * np.pi, 361)
    fig.add_trace(go.Scatter(x=np.cos(theta), y=np.sin(theta), mode="lines", name="unit circle",
                             line=dict(color=COLORS["bound"], width=1), hoverinfo="skip"))
    if res.gamma is not None and res.gamma != 1.0:
        r = 1.0 / res.gamma
        fig.add_trace(go.Scatter(x=r * np.cos(theta), y=r * np.sin(theta), mode="lines",
                                 name=f"1/γ = {r:g} circle", line=dict(color=COLORS["clipped"], dash="dash"),
                                 hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=eig.real, y=eig.imag, mode="markers", name="eigenvalues",
                             marker=dict(color=COLORS["grad"], size=6, opacity=0.8),
                             hovertemplate="%{x:.3f} %{y:+.3f}i<extra></extra>"))
    fig.update_xaxes(title="real", zeroline=True)
    fig.update_yaxes(title="imaginary", scaleanchor="x", scaleratio=1, zeroline=True)
    which = CELLS[res.config.cell].spectrum_label
    return layout(fig, f"Eigenvalues of {which} (spectral radius {res.spectrum.spectral_radius:.3g})")


def singular_values_figure(res: UnrollResult) -> go.Figure:
    sv = res.spectrum.singular_values
    if sv.size == 0:
        return _no_matrix(res, "Singular values")
    fig = go.Figure(go.Scatter(x=np.arange(1, sv.size + 1), y=sv, mode="lines+markers",
                               marker=dict(size=4, color=COLORS["grad"]), name="σ_i",
                               hovertemplate="σ_%{x} = %{y:.4g}<extra></extra>"))
    fig.add_hline(y=1.0, line=dict(color=COLORS["bound"], dash="dot"), annotation_text="1")
    if res.gamma is not None and res.gamma != 1.0:
        fig.add_hline(y=1 / res.gamma, line=dict(color=COLORS["clipped"], dash="dash"),
                      annotation_text=f"1/γ = {1 / res.gamma:g}")
    fig.update_xaxes(title="index i")
    fig.update_yaxes(title="singular value", rangemode="tozero")
    return layout(fig, f"Singular values (λ1 = {res.spectrum.lambda1:.3g})")


def saturation_figure(res: UnrollResult) -> go.Figure:
    """|f'(a_t)| (or the carry gate of a gated cell) over time × units for the first sequence."""
    sat = res.saturation
    steps = np.arange(1, sat.shape[0] + 1)
    if sat.shape[0] > MAX_HEATMAP_COLUMNS:      # average neighbouring steps so the browser stays fast
        width = int(np.ceil(sat.shape[0] / MAX_HEATMAP_COLUMNS))
        n = sat.shape[0] // width * width
        with warnings.catch_warnings():      # all-NaN windows (blown-up states) stay NaN, quietly
            warnings.simplefilter("ignore", RuntimeWarning)
            sat = np.nanmean(sat[:n].reshape(-1, width, sat.shape[1]), axis=1)
        steps = steps[:n].reshape(-1, width)[:, 0]
    z = np.where(np.isfinite(sat), sat, np.nan).T
    uses_activation = CELLS[res.config.cell].uses_activation
    zmax = 0.25 if uses_activation and res.config.activation == "sigmoid" else 1.0
    fig = go.Figure(go.Heatmap(z=z, x=steps, colorscale="Viridis", zmin=0, zmax=zmax,
                               colorbar=dict(title=res.saturation_label),
                               hovertemplate="step %{x}, unit %{y}<br>value %{z:.3f}<extra></extra>"))
    fig.update_xaxes(title="time step t")
    fig.update_yaxes(title="hidden unit")
    title = ("Saturation: |f′(aₜ)| per unit (dark = the unit blocks the gradient)" if uses_activation
             else f"Carry: {res.saturation_label} per unit (bright = the cell state keeps its gradient)")
    return layout(fig, title)


SWEEP_MAX_POINTS = 300       # points per curve and frame: a scrub redraws every frame's traces from memory


def _frame_title(sw, i: int) -> str:
    s, rate = float(sw.scales[i]), sw.rate[i]
    text = f"s = {s:g}: "
    if sw.overflow[i]:
        text += "overflow"
    else:
        text += f"measured ×{rate:.3g} per step" if np.isfinite(rate) else "no fit (the curve is 0)"
    if sw.theory_rate is not None:
        text += f", √χ = {sw.theory_rate[i]:.3g}"           # the legend says it is mean-field's (√χ)^k
    return text


def sweep_figure(sw) -> go.Figure:
    """Every weight scale of the grid as one frame of one figure, scrubbed by Plotly's own slider: moving it
    redraws in the browser from the frames already shipped, with no server round-trip. The y axis is fixed
    across frames, so the slope visibly turns as s moves; the starting frame is the page's own s."""
    k = sw.distance
    idx = np.unique(np.linspace(0, len(k) - 1, min(len(k), SWEEP_MAX_POINTS)).round().astype(int))
    kx = k[idx].tolist()
    curves = [("measured ‖∂L/∂h‖", sw.grad_norm, dict(color=COLORS["grad"], width=3))]
    if sw.theory is not None:
        curves.append((sw.theory_label, sw.theory, dict(color=COLORS["theory"], dash="dashdot", width=2.5)))
    if sw.bound is not None:
        curves.append(("Pascanu bound (λ1·γ)^k", sw.bound, dict(color=COLORS["bound"], dash="dash", width=2)))
    span = log_range(sw.grad_norm, spare=0.5) or (-1.0, 1.0)
    lo, hi = max(span[0], -60.0), min(span[1], 60.0)

    def traces(i):
        with np.errstate(over="ignore", invalid="ignore"):
            return [go.Scatter(x=kx, y=_positive_or_none(np.asarray(values[i], dtype=np.float32)[idx]))
                    for _, values, _ in curves]

    start = sw.start
    fig = go.Figure()
    for (name, _, line), trace in zip(curves, traces(start)):
        fig.add_trace(trace.update(name=name, mode="lines", line=line,
                                   hovertemplate="distance %{x}<br>%{y:.3e}<extra>" + name + "</extra>"))
    fig.frames = [go.Frame(name=str(i), data=traces(i), traces=list(range(len(curves))),
                           layout=dict(title=dict(text=_frame_title(sw, i))))
                  for i in range(len(sw.scales))]
    steps = [dict(method="animate", label=f"{s:g}",
                  args=[[str(i)], dict(mode="immediate", frame=dict(duration=0, redraw=False),
                                       transition=dict(duration=0))])
             for i, s in enumerate(sw.scales)]
    layout(fig, _frame_title(sw, start), height=460)
    fig.update_layout(sliders=[dict(active=start, steps=steps, x=0, len=1, y=0, yanchor="top", pad=dict(t=45),
                                    currentvalue=dict(visible=False),       # the frame title says s
                                    ticklen=3, minorticklen=0)],
                      margin=dict(b=fig.layout.margin.b + 70), height=fig.layout.height + 70)
    fig.update_xaxes(title="distance k (steps back)", range=[0, max(1, int(k[-1]))])
    log_yaxis(fig, lo, hi, "‖∂L/∂h<sub>T−k</sub>‖ (log scale)")
    return fig
