"""The look every chart shares: title, legend placement, readable log axes, labelled lines on log axes.

Legends sit under the plot, never over the title: with several entries (pinned curves, a race) they wrap
into more rows and the figure grows by that much instead of squashing the plot or covering the title.
"""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

FONT = '"Source Sans", "Source Sans 3", "Source Sans Pro", sans-serif'      # the app's own font
TEXT = "#31333F"           # Streamlit's text colour
TICKS = "#45474F"          # tick labels: 9.4:1 on white (Plotly's default grey is 3.7:1)
GRID = "#E6EAF1"
TITLE_SIZE = 16
LEGEND_ROW_PX = 22           # height of one row of a horizontal legend
LEGEND_ITEM_CHARS = 34       # a legend item of about this many characters takes one slot of a row
ROW_WIDTH_CHARS = 110        # characters of legend text in one row at the app's usual chart width
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
    legend=dict(font=dict(color=TEXT)),
))
# The camera button saves slide-sized pictures.
PLOTLY_CONFIG = {"displaylogo": False,
                 "toImageButtonOptions": {"format": "png", "width": 1920, "height": 1080, "scale": 1,
                                          "filename": "gradient-flow-lab"}}


def legend_rows(fig: go.Figure, chars_per_row: int = ROW_WIDTH_CHARS) -> int:
    """Rows a horizontal legend of this figure's named traces needs (an estimate from their lengths)."""
    names = [t.name for t in fig.data if t.name and t.showlegend is not False]
    rows, used = (1 if names else 0), 0
    for name in names:
        width = max(len(name) + 6, 12)
        if used and used + width > chars_per_row:
            rows, used = rows + 1, 0
        used += width
    return rows


def layout(fig: go.Figure, title: str, height: int = 380) -> go.Figure:
    """Title at the top left, legend under the x axis (the figure grows with its rows), tight margins."""
    rows = legend_rows(fig)
    extra = rows * LEGEND_ROW_PX
    fig.update_layout(template=TEMPLATE, title=dict(text=title, x=0, xanchor="left"),
                      height=height + extra, margin=dict(l=60, r=20, t=50, b=55 + extra),
                      legend=dict(orientation="h", yref="container", y=0, yanchor="bottom",
                                  xanchor="left", x=0))
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


def log_yaxis(fig: go.Figure, lo: float, hi: float, title: str, **kw) -> None:
    """A log y axis from 10^lo to 10^hi with at most MAX_LOG_TICKS labels, written as powers of ten."""
    dtick = max(1, math.ceil((hi - lo) / MAX_LOG_TICKS))
    fig.update_yaxes(type="log", range=[lo, hi], dtick=dtick, exponentformat="power", title=title, **kw)


def log_hline(fig: go.Figure, y: float, text: str, color: str, width: float = 1.5, above: bool = True,
              dash: str = "dash") -> None:
    """A horizontal line on a log y axis, labelled right at the line. (add_hline's own annotation takes y in
    data units, but a log axis reads annotation positions as log10(y), so its label would float away.)"""
    fig.add_hline(y=y, line=dict(color=color, dash=dash, width=width))
    fig.add_annotation(x=0, xref="paper", xanchor="left", y=float(np.log10(y)), yref="y",
                       yanchor="bottom" if above else "top", text=text, showarrow=False,
                       font=dict(color=color, size=12), bgcolor="rgba(255,255,255,0.85)")


def edge_anchor(x: float, x_min: float, x_max: float) -> str:
    """xanchor for a label at x: it extends towards the middle of the plot, so it is never cut at an edge."""
    return "left" if x <= (x_min + x_max) / 2 else "right"
