"""Presentation mode (`present=1` in the URL, a toggle in the sidebar on every page): readable from the back
of a lecture hall on a 1280×720 projector.

Charts: every text ≥ 20 px (ticks, legend, annotations, hover), titles 24 px, lines ≥ 3 px, markers larger,
the legend's room recomputed for the bigger font. Page: larger body text, metrics that wrap instead of
truncating, less padding. The mode lives in the session (`present`) and in every page's URL.
"""
from __future__ import annotations

import copy

import plotly.graph_objects as go
import streamlit as st

from ui import chart_style
from ui.chart_style import legend_rows

PARAM = "present"
KEY = "present"
CHART_TEXT_PX = 20
TITLE_PX = 24
LINE_PX = 3.0
LEGEND_ROW_PX = 32
LEGEND_CHARS_PER_ROW = 70           # characters of 20 px legend text in one row at a projector's chart width
MAX_CHART_PX = 490                  # a chart's whole height on a projector: it fits under a title and a row
TITLE_CHARS = 40                    # a 24 px title longer than this is cut on a 1024×768 projector: two lines
TITLE_LINE_PX = 30


def two_lines(title: str) -> str:
    """A long title broken after the separator (": ", ", ", " (") nearest its middle; a short one as it is."""
    if len(title) <= TITLE_CHARS or "<br>" in title:
        return title
    cuts = [i + len(sep) for sep in (": ", ", ", " (", " over ", " against ") for i in range(len(title))
            if title.startswith(sep, i)]
    middle = [i for i in cuts if 0.3 * len(title) <= i <= 0.7 * len(title)]
    if not middle:                                        # else the space nearest the middle
        middle = [i + 1 for i, c in enumerate(title) if c == " "]
    if not middle:
        return title
    cut = min(middle, key=lambda i: abs(i - len(title) / 2))
    if cut < len(title) and title[cut - 1] == "(":        # " (" breaks before the bracket
        cut -= 1
    return title[:cut].rstrip() + "<br>" + title[cut:].lstrip()

CSS = """
<style>
.stApp, .stApp p, .stApp li, .stApp label, .stMarkdown, [data-testid="stCaptionContainer"] { font-size: 20px; }
[data-testid="stMetricValue"] > div { font-size: 30px; white-space: normal; overflow: visible; text-overflow: clip; }
[data-testid="stMetricLabel"] p { font-size: 18px; white-space: normal; overflow: visible; text-overflow: clip; }
[data-testid="stMetricLabel"] > div { overflow: visible; }
.block-container, [data-testid="stMainBlockContainer"] { padding-top: 3.9rem; }   /* just under the app header */
h1 { font-size: 2.1rem !important; padding-top: 0 !important; }
[data-testid="stMain"] h2 { font-size: 1.9rem !important; padding: 0.2rem 0 0.3rem 0 !important; }
[data-testid="stMain"] [data-testid="stAlert"] p { font-size: 20px; }
/* the sidebar: the menu compact, so the controls a teacher moves most are on screen too */
/* the sidebar's header (its logo row) takes no room; its collapse button stays, over the menu's top right corner */
[data-testid="stSidebarHeader"] { position: absolute !important; top: 0; right: 0; width: auto !important; height: auto !important;
  padding: 0.3rem !important; margin: 0 !important; z-index: 3; }
[data-testid="stSidebarHeader"] [data-testid="stSidebarCollapseButton"] { display: block !important; visibility: visible !important; }
.block-container, [data-testid="stMainBlockContainer"] { padding-left: 1.5rem; padding-right: 1.5rem; max-width: none; }
[data-testid="stSidebarNavItems"] a, [data-testid="stSidebarNavLink"] { min-height: 1.6rem !important; padding-top: 0 !important; padding-bottom: 0 !important; }
[data-testid="stSidebarNavItems"] li { margin: 0 !important; }
[data-testid="stSidebarNavItems"] a span { font-size: 16px; }
/* each menu row no taller than its text, so eight pages leave the controls on a 720-pixel-high screen */
[data-testid="stSidebarNavLink"] { height: 1.75rem !important; min-height: 0 !important; }
[data-testid="stSidebarNavLink"] span, [data-testid="stSidebarNavLink"] p { line-height: 1.2 !important; }
[data-testid="stSidebarUserContent"] { padding-top: 0.5rem; }
[data-testid="stSidebarUserContent"] h2 { padding-top: 0.2rem; padding-bottom: 0.1rem; }
/* on a projector the teacher says what the captions say: the main chart moves up into view */
[data-testid="stMain"] [data-testid="stCaptionContainer"] { display: none; }
</style>
"""


# Every page, on a phone (≤ 640 px wide): metrics three to a row in small type and no intro captions, so the
# main chart shows on the first screen without opening the sidebar; Plotly's toolbar sits beside the chart's
# top right corner, under the title, never over it.
PHONE_CSS = """
<style>
@media (max-width: 640px) {
  [data-testid="stHorizontalBlock"]:has(> [data-testid="stColumn"] [data-testid="stMetric"]) { flex-wrap: wrap; gap: 0.3rem 0.8rem; }
  [data-testid="stHorizontalBlock"]:has(> [data-testid="stColumn"] [data-testid="stMetric"]) > [data-testid="stColumn"] {
    width: calc(33% - 0.6rem) !important; flex: 1 1 calc(33% - 0.6rem) !important; min-width: 0 !important; }
  [data-testid="stMetricValue"] > div { font-size: 1.15rem; }
  [data-testid="stMetricLabel"] p { font-size: 0.75rem; }
  [data-testid="stMain"] h1 + div [data-testid="stCaptionContainer"],
  [data-testid="stMain"] [data-testid="stHeadingWithActionElements"] ~ [data-testid="stCaptionContainer"] { display: none; }
  h1 { font-size: 1.8rem !important; }
  /* columns that hold a chart stack: a chart a third of 390 px wide cuts its title, axis title and legend */
  [data-testid="stMain"] [data-testid="stHorizontalBlock"]:has(> [data-testid="stColumn"] .js-plotly-plot,
      > [data-testid="stColumn"] .gfl-live-plot) { flex-direction: column; }
  [data-testid="stMain"] [data-testid="stHorizontalBlock"]:has(> [data-testid="stColumn"] .js-plotly-plot,
      > [data-testid="stColumn"] .gfl-live-plot) > [data-testid="stColumn"] {
    width: 100% !important; flex: 1 1 auto !important; min-width: 0 !important; }
}
.js-plotly-plot .modebar-container { top: 34px !important; }
</style>
"""


def presenting() -> bool:
    return bool(st.session_state.get(KEY, False))


def begin() -> None:
    """Before the page: a link's present=1/0 wins; draw the toggle; style the page when on."""
    raw = st.query_params.get(PARAM)
    if raw in ("1", "0") and st.session_state.get("_present_link") != raw:
        st.session_state[KEY] = raw == "1"
    st.session_state["_present_link"] = raw
    st.session_state[KEY] = presenting()          # keep the value while the toggle is drawn after the page
    st.html(PHONE_CSS + (CSS if presenting() else ""))


def toggle() -> None:
    """The sidebar switch, under the page's own controls (they are what a teacher reaches for first)."""
    st.sidebar.toggle("Presentation mode", key=KEY,
                      help="Big chart text (≥ 20 px), thick lines and a compact page for a projector; in the URL "
                           "as present=1, so a link opens the lecture view.")


def url_params() -> dict[str, str]:
    """What every page adds to its URL."""
    return {PARAM: "1"} if presenting() else {}


def fit_height(fig: go.Figure, total_px: int) -> go.Figure:
    """Presentation size, then the plot area shrunk so the whole figure (title, axes, legend) is total_px tall."""
    fig = for_projector(fig)
    fig.update_layout(height=total_px)
    return fig


def _scaled(font, size: float) -> dict:
    out = font.to_plotly_json() if hasattr(font, "to_plotly_json") else dict(font or {})
    out["size"] = max(size, out.get("size") or 0)
    return out


def for_projector(fig: go.Figure) -> go.Figure:
    """A copy of `fig` with presentation sizes (see the module docstring); a figure already sized is kept."""
    if fig.layout.meta == "projector":
        return fig
    fig = copy.deepcopy(fig)
    fig.layout.meta = "projector"
    _projector_text(fig)
    _projector_lines(fig)
    broken = _two_line_titles(fig)
    _projector_sliders(fig)
    _projector_room(fig, broken)
    return fig


def _projector_text(fig: go.Figure) -> None:
    """Every text of the chart at the projector's sizes: fonts, axes, annotations."""
    lay = fig.layout
    fig.update_layout(font=_scaled(lay.font, CHART_TEXT_PX), hoverlabel=dict(font=dict(size=CHART_TEXT_PX - 2)),
                      legend=dict(font=_scaled(lay.legend.font, CHART_TEXT_PX)),
                      title=dict(font=_scaled(lay.title.font, TITLE_PX)))
    fig.update_xaxes(tickfont=dict(size=CHART_TEXT_PX), title_font=dict(size=CHART_TEXT_PX))
    fig.update_yaxes(tickfont=dict(size=CHART_TEXT_PX), title_font=dict(size=CHART_TEXT_PX))

    def powers_only(axis):                  # Plotly draws a log axis's 2…9 labels at 3/4 size: leave them out
        if axis.type == "log" and axis.dtick is None:
            axis.dtick = 1
    fig.for_each_xaxis(powers_only)
    fig.for_each_yaxis(powers_only)
    for ann in lay.annotations or ():
        ann.font = _scaled(ann.font, CHART_TEXT_PX)


def _projector_lines(fig: go.Figure) -> None:
    """Thicker lines and bigger markers; colour bars' text at the projector's size."""
    for shape in fig.layout.shapes or ():
        if shape.line is not None and shape.type == "line":
            shape.line.width = max(LINE_PX, shape.line.width or 0)
    for trace in fig.data:
        if trace.type == "scatter":
            if trace.mode is None or "lines" in trace.mode:
                trace.line.width = max(LINE_PX, 1.5 * (trace.line.width or 2))
            if trace.marker is not None and trace.marker.size is not None and not isinstance(trace.marker.size,
                                                                                                 (list, tuple)):
                trace.marker.size = max(trace.marker.size * 1.5, 9)
        if trace.type in ("heatmap", "contour") and trace.colorbar is not None:
            trace.colorbar.tickfont = dict(size=CHART_TEXT_PX)
            trace.colorbar.title.font = dict(size=CHART_TEXT_PX)
    for frame in fig.frames or ():
        for trace in frame.data:
            if trace.type == "scatter":
                trace.line = dict(width=None)          # frames keep the figure's own (now thicker) lines


def _two_line_titles(fig: go.Figure) -> bool:
    """Long titles (the figure's and its frames') broken in two lines, with room above the plot; True if any was."""
    lay = fig.layout
    titles = [lay.title] + [frame.layout.title for frame in fig.frames or () if frame.layout is not None]
    broken = False
    for title in titles:
        if title is not None and title.text and (text := two_lines(title.text)) != title.text:
            title.text, broken = text, True
    if broken:                                  # room for the second line above the plot
        fig.update_layout(margin=dict(t=max(lay.margin.t or 50, 64) + TITLE_LINE_PX),
                          height=(lay.height or 400) + TITLE_LINE_PX)
    return broken


def _projector_sliders(fig: go.Figure) -> None:
    """A slider's text at the projector's size, under the (taller) axis title."""
    lay = fig.layout
    for slider in lay.sliders or ():
        slider.font = dict(size=CHART_TEXT_PX)
        slider.currentvalue.font = dict(size=CHART_TEXT_PX)
        slider.pad.t = (slider.pad.t or 0) + 40
    if lay.sliders:
        fig.update_layout(height=(lay.height or 400) + 40, margin=dict(b=(lay.margin.b or 55) + 40))


def _projector_room(fig: go.Figure, broken: bool) -> None:
    """The legend under the plot gets more rows at the bigger font, each row taller; the plot keeps 220 px and the
    chart fits MAX_CHART_PX."""
    lay = fig.layout
    if legend_rows(fig) and lay.legend.orientation == "h":
        # the rows layout() made room for, against the rows the 20 px legend needs (the same estimate, narrower rows)
        extra = legend_rows(fig, LEGEND_CHARS_PER_ROW) * LEGEND_ROW_PX - legend_rows(fig) * chart_style.LEGEND_ROW_PX
        margin_t = max(lay.margin.t or 50, 64 + (TITLE_LINE_PX if broken else 0))
        fig.update_layout(height=(lay.height or 400) + max(0, extra) + (margin_t - (lay.margin.t or 50)),
                          margin=dict(b=(lay.margin.b or 55) + max(0, extra) + 10, t=margin_t))
    room = (fig.layout.margin.t or 50) + (fig.layout.margin.b or 55) + 220      # the plot itself keeps 220 px
    fig.update_layout(height=min(fig.layout.height or 400, max(MAX_CHART_PX, room)))
