"""The look every chart shares: title, legend placement, readable log axes, labelled lines on log axes.

Legends sit under the plot, never over the title: with several entries (pinned curves, a race) they wrap
into more rows and the figure grows by that much instead of squashing the plot or covering the title.
"""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

FONT = '"Source Sans", "Source Sans 3", "Source Sans Pro", sans-serif'      # the app's own font
TEXT = "#31333F"           # Streamlit's text colour
TICKS = "#45474F"          # tick labels: 9.4:1 on white (Plotly's default grey is 3.7:1)
GRID = "#E6EAF1"
TITLE_SIZE = 16
LEGEND_PX = 14               # legend text: readable on a phone, where the charts are not scaled down
LEGEND_ROW_PX = 22           # height of one row of a horizontal legend
LEGEND_ITEM_CHARS = 34       # a legend item of about this many characters takes one slot of a row
ROW_WIDTH_CHARS = 100        # characters of legend text in one row at the app's usual chart width
MAX_LOG_TICKS = 7


# One template for every chart, drawn by st.plotly_chart (with theme=None) or by ui.live_chart alike.
TEMPLATE = go.layout.Template(layout=dict(
    font=dict(family=FONT, size=13, color=TEXT),
    title=dict(font=dict(family=FONT, size=TITLE_SIZE, color=TEXT, weight="bold")),
    paper_bgcolor="white", plot_bgcolor="white",
    xaxis=dict(gridcolor=GRID, zerolinecolor=GRID, linecolor="#BDC3CD", tickcolor="#BDC3CD",
               tickfont=dict(color=TICKS), title=dict(font=dict(color=TEXT)), automargin=True),
    yaxis=dict(gridcolor=GRID, zerolinecolor=GRID, linecolor="#BDC3CD", tickcolor="#BDC3CD",
               tickfont=dict(color=TICKS), title=dict(font=dict(color=TEXT)), automargin=True),
    hoverlabel=dict(font=dict(family=FONT)),
    legend=dict(font=dict(color=TEXT, size=LEGEND_PX)),
))
# Plotly's default template for every figure of the process: each new figure starts with it (Plotly copies the
# default into every figure it makes anyway: its own "plotly" template, which layout() used to replace with this
# one, validating the template twice per figure; ~6 ms of the ~10 a simple figure cost).
pio.templates["gradient_flow_lab"] = TEMPLATE
pio.templates.default = "gradient_flow_lab"
# The camera button saves slide-sized pictures.
PLOTLY_CONFIG = {"displaylogo": False,
                 "toImageButtonOptions": {"format": "png", "width": 1920, "height": 1080, "scale": 1,
                                          "filename": "gradient-flow-lab"}}


def legend_rows(fig: go.Figure, chars_per_row: int = ROW_WIDTH_CHARS) -> int:
    """Rows a horizontal legend of this figure's named traces needs (an estimate from their lengths)."""
    return rows_for_names([t.name for t in fig.data if t.name and t.showlegend is not False], chars_per_row)


def rows_for_names(names: list[str], chars_per_row: int = ROW_WIDTH_CHARS) -> int:
    rows, used = (1 if names else 0), 0
    for name in names:
        width = max(len(name) + 6, 12)
        if used and used + width > chars_per_row:
            rows, used = rows + 1, 0
        used += width
    return rows


def layout_dict(legend_names: list[str], title: str, height: int = 380) -> dict:
    """The layout `layout()` gives a figure whose legend shows `legend_names`, as a dict: a figure built in one
    go.Figure(data=[...], layout=...) call costs a fifth of one built trace by trace and updated (the live
    charts of the Training lab are rebuilt several times a second)."""
    extra = rows_for_names(legend_names) * LEGEND_ROW_PX
    return dict(title=dict(text=title, x=0, xanchor="left"), height=height + extra,
                margin=dict(l=60, r=20, t=50, b=55 + extra),
                legend=dict(orientation="h", yref="container", y=0, yanchor="bottom", xanchor="left", x=0))


def figure(traces: list[dict], title: str, height: int = 380, shapes: list[dict] = (),
           annotations: list[dict] = (), **axes) -> go.Figure:
    """A figure made in one go.Figure(data, layout) call, with the layout `layout()` gives (a fifth of the cost
    of adding traces and updating the layout one by one). `traces` are dicts with a "type"."""
    names = [t["name"] for t in traces if t.get("name") and t.get("showlegend", True) is not False]
    fig_layout = layout_dict(names, title, height)
    fig_layout.update(shapes=list(shapes), annotations=list(annotations), **axes)
    return go.Figure(data=traces, layout=fig_layout)


def layout(fig: go.Figure, title: str, height: int = 380) -> go.Figure:
    """Title at the top left, legend under the x axis (the figure grows with its rows), tight margins."""
    if fig.layout.template.layout.font.family != FONT:    # made before this module set the default
        fig.update_layout(template=TEMPLATE)
    fig.update_layout(layout_dict([t.name for t in fig.data if t.name and t.showlegend is not False], title, height))
    return fig


def log_range(values, spare: float = 0.3, min_decades: float = 1.0) -> tuple[float, float] | None:
    """log10 range framing the finite positive values, at least `min_decades` wide."""
    a = np.asarray([v for v in np.ravel(np.asarray(values, dtype=float)) if np.isfinite(v) and v > 0])
    if a.size == 0:
        return None
    lo, hi = float(np.log10(a.min())), float(np.log10(a.max()))
    if hi - lo < min_decades:
        mid = (hi + lo) / 2
        lo, hi = mid - min_decades / 2, mid + min_decades / 2
    return lo - spare, hi + spare


def log_axis(lo: float, hi: float, title: str, **kw) -> dict:
    """A log axis from 10^lo to 10^hi with at most MAX_LOG_TICKS labels, written as powers of ten."""
    dtick = max(1, math.ceil((hi - lo) / MAX_LOG_TICKS))
    return dict(type="log", range=[lo, hi], dtick=dtick, exponentformat="power", title=dict(text=title), **kw)


def log_yaxis(fig: go.Figure, lo: float, hi: float, title: str, **kw) -> None:
    """A log y axis (see log_axis) on `fig`."""
    fig.update_yaxes(log_axis(lo, hi, title, **kw))


def hline_parts(y: float, text: str, color: str, width: float = 1.5, above: bool = True,
                dash: str = "dash") -> tuple[dict, dict]:
    """(shape, annotation) of a horizontal line on a log y axis, labelled right at the line. (add_hline's own
    annotation takes y in data units, but a log axis reads annotation positions as log10(y), so its label would
    float away.)"""
    shape = dict(type="line", xref="x domain", x0=0, x1=1, yref="y", y0=y, y1=y,
                 line=dict(color=color, dash=dash, width=width))
    note = dict(x=0, xref="paper", xanchor="left", y=float(np.log10(y)), yref="y",
                yanchor="bottom" if above else "top", text=text, showarrow=False,
                font=dict(color=color, size=12), bgcolor="rgba(255,255,255,0.85)")
    return shape, note


def log_hline(fig: go.Figure, y: float, text: str, color: str, width: float = 1.5, above: bool = True,
              dash: str = "dash") -> None:
    """hline_parts drawn on `fig`."""
    shape, note = hline_parts(y, text, color, width, above, dash)
    fig.add_shape(shape)
    fig.add_annotation(note)


def vline(x: float, line: dict) -> dict:
    """A vertical line across the plot at x (add_vline's shape, as a dict for `figure`)."""
    return dict(type="line", xref="x", x0=x, x1=x, yref="y domain", y0=0, y1=1, line=line)


def edge_anchor(x: float, x_min: float, x_max: float) -> str:
    """xanchor for a label at x: it extends towards the middle of the plot, so it is never cut at an edge."""
    return "left" if x <= (x_min + x_max) / 2 else "right"
