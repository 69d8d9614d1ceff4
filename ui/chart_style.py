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


# ---- dark mode: the same figure on the dark theme Streamlit picks when the system prefers it -------------------
# The figure is drawn on a transparent background (the page's own dark shows through); its texts, grid and axes
# are lightened, and every colour of a line, marker, shape or label that would be too faint on the dark page is
# mixed with white until it is not (text 4.5:1, lines and marks 3:1, WCAG 1.4.3 and 1.4.11).
DARK_PAGE = "#262730"           # the lightest dark a chart may sit on (Streamlit's dark widget background; the page
                                # itself is darker): colours are lifted until they contrast with it
DARK_TEXT = "#FAFAFA"
DARK_TICKS = "#D5D6DA"
DARK_GRID = "#30333D"
DARK_LINE = "#70737D"
DARK_LABEL_BG = "rgba(23,22,20,0.85)"   # a label's box: the dark page's own colour
TEXT_CONTRAST, MARK_CONTRAST = 4.5, 3.0


def _rgb(colour: str) -> tuple[float, float, float, float] | None:
    """(r, g, b, alpha) of '#RRGGBB', '#RGB', 'rgb(…)', 'rgba(…)', 'white' or 'black'; None for anything else."""
    c = colour.strip().lower()
    named = {"white": "#ffffff", "black": "#000000"}
    c = named.get(c, c)
    if c.startswith("#") and len(c) in (4, 7):
        h = c[1:] if len(c) == 7 else "".join(ch * 2 for ch in c[1:])
        return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16), 1.0
    if c.startswith("rgb"):
        parts = [float(p) for p in c[c.index("(") + 1:c.index(")")].split(",")]
        return parts[0], parts[1], parts[2], parts[3] if len(parts) == 4 else 1.0
    return None


def luminance(colour: str) -> float:
    """WCAG relative luminance of an opaque colour."""
    r, g, b, _ = _rgb(colour)
    lin = [(v / 255) / 12.92 if v / 255 <= 0.04045 else ((v / 255 + 0.055) / 1.055) ** 2.4 for v in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two opaque colours."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def lifted(colour, ratio: float, page: str = DARK_PAGE):
    """`colour` mixed with white until it has `ratio` contrast on `page` (unchanged when it has; anything that is
    not a single colour, such as a list of colours, is returned as it is)."""
    parsed = _rgb(colour) if isinstance(colour, str) else None
    if parsed is None:
        return colour
    r, g, b, alpha = parsed
    for step in range(0, 21):
        t = step / 20
        mixed = [round(v + (255 - v) * t) for v in (r, g, b)]
        opaque = "#" + "".join(f"{v:02X}" for v in mixed)
        if contrast(opaque, page) >= ratio:
            return opaque if alpha == 1.0 else f"rgba({mixed[0]},{mixed[1]},{mixed[2]},{alpha:g})"
    return "#FFFFFF"


def _dark_trace(trace) -> None:
    for part in ("line", "marker"):
        style = getattr(trace, part, None)
        if style is not None and isinstance(getattr(style, "color", None), str):
            style.color = lifted(style.color, MARK_CONTRAST)
    if getattr(trace, "textfont", None) is not None and isinstance(trace.textfont.color, str):
        trace.textfont.color = lifted(trace.textfont.color, TEXT_CONTRAST)
    if getattr(trace, "colorbar", None) is not None:
        trace.colorbar.tickfont.color = DARK_TICKS
        trace.colorbar.title.font.color = DARK_TEXT


def for_dark(fig: go.Figure) -> go.Figure:
    """A copy of `fig` for a dark page (see above); a figure already made dark is kept."""
    import copy
    if fig.layout.meta == "dark" or (isinstance(fig.layout.meta, list) and "dark" in fig.layout.meta):
        return fig
    fig = copy.deepcopy(fig)
    meta = fig.layout.meta
    fig.layout.meta = (list(meta) if isinstance(meta, (list, tuple)) else [meta] if meta else []) + ["dark"]
    fig.update_layout(paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)", font_color=DARK_TEXT,
                      title_font_color=DARK_TEXT, legend_font_color=DARK_TEXT, legend_bgcolor="rgba(0,0,0,0)",
                      hoverlabel=dict(bgcolor="#262730", font_color=DARK_TEXT))
    axis_style = dict(gridcolor=DARK_GRID, zerolinecolor=DARK_GRID, linecolor=DARK_LINE, tickcolor=DARK_LINE,
                      tickfont_color=DARK_TICKS, title_font_color=DARK_TEXT)
    fig.update_xaxes(**axis_style)
    fig.update_yaxes(**axis_style)
    for note in fig.layout.annotations or ():
        note.font.color = lifted(note.font.color, TEXT_CONTRAST) if note.font.color else DARK_TEXT
        if note.bgcolor:
            note.bgcolor = DARK_LABEL_BG
        if note.arrowcolor:
            note.arrowcolor = lifted(note.arrowcolor, MARK_CONTRAST)
    for shape in fig.layout.shapes or ():
        if shape.line is not None and shape.line.color:
            shape.line.color = lifted(shape.line.color, MARK_CONTRAST)
    for slider in fig.layout.sliders or ():
        slider.font.color = DARK_TEXT
        slider.currentvalue.font.color = DARK_TEXT
        slider.bgcolor, slider.activebgcolor, slider.bordercolor = "#474A55", "#8A8D97", DARK_LINE
        slider.tickcolor = DARK_LINE
    for trace in fig.data:
        _dark_trace(trace)
    for frame in fig.frames or ():
        for trace in frame.data:
            _dark_trace(trace)
    return fig
