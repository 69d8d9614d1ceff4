"""Putting Plotly figures on the page: `chart` (st.plotly_chart with the app's own template and camera button)
and `live_plotly_chart`, a chart that updates in place, for charts redrawn several times a second (the
Training lab).

st.plotly_chart derives its element's identity from the figure, so every new figure mounts a new chart:
the old one disappears and the new one is drawn a frame or more later. Redrawn 2-3 times a second, that
is a visible flicker (about a third of the painted frames showed an undrawn chart in Chromium). This
component keeps one Plotly graph per key and hands each new figure to Plotly.react, which redraws that
same graph. It uses the Plotly bundle Streamlit itself ships (loaded on demand, exactly as st.plotly_chart
loads it), so the page still fetches nothing from any other host.
"""
from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

from ui import a11y
from ui.a11y import dark
from ui.chart_style import PLOTLY_CONFIG, for_dark
from ui.present import for_projector, presenting

# Streamlit's own code-split Plotly bundle (the file behind st.plotly_chart); importing it defines
# window.Plotly. Its name carries a content hash, so it is looked up in the installed package.
PLOTLY_CHUNK = next((Path(st.__file__).parent / "static" / "static" / "js").glob("PlotlyChart.*.js")).name

JS = """
export default async function (component) {
  const { data, parentElement } = component;
  // Figures already sent, by chart key: a redraw with nothing new sends only the figure's version.
  const sent = (window.__gflLiveFigures = window.__gflLiveFigures || {});
  let figure;
  if (data.figure) {
    figure = JSON.parse(data.figure);
    sent[data.key] = { version: data.version, figure };
  } else if (sent[data.key] && sent[data.key].version === data.version) {
    figure = sent[data.key].figure;
  } else {
    return;                    // not here (cannot happen in order; the next full figure draws it)
  }
  if (!window.Plotly) {
    await import(new URL("static/js/" + data.chunk, document.baseURI).href);
  }
  let graph = parentElement.querySelector("div.gfl-live-plot");
  if (!graph) {
    graph = document.createElement("div");
    graph.className = "gfl-live-plot";
    graph.style.width = "100%";
    parentElement.appendChild(graph);
  }
  if (!data.figure && graph.getAttribute("data-version") === String(data.version)) {
    return;                    // this graph already shows it
  }
  graph.setAttribute("data-version", String(data.version));
  graph.style.height = figure.layout.height + "px";
  graph.setAttribute("data-figure-title", (figure.layout.title && figure.layout.title.text) || "");
  if (window.__gflNarrow) {             // a phone: long legend entries and axis titles in lines (ui/a11y.py)
    figure = {...figure, data: figure.data.map(t => ({...t})), layout: {...figure.layout}};
    figure.layout.margin = {...(figure.layout.margin || {})};
    window.__gflNarrow(figure.data, figure.layout, parentElement.getBoundingClientRect().width);
    graph.style.height = figure.layout.height + "px";
  }
  await window.Plotly.react(graph, figure.data, figure.layout,
                            {...data.config, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"]});
}
"""

_mount = st.components.v2.component("gfl_live_plotly", js=JS, isolate_styles=False)


def live_figure(fig: go.Figure) -> tuple[str, int]:
    """What live_plotly_chart sends: the figure's JSON (projector-sized in presentation mode) and its height.
    Building and serialising a figure costs tens of milliseconds: a page that redraws several times a second
    keeps this and sends it again while nothing changed."""
    if presenting():
        fig = for_projector(fig)
    if dark():
        fig = for_dark(fig)
    return fig.to_json(), int(fig.layout.height or 400)


def live_plotly_chart(fig: go.Figure | tuple[str, int], key: str, version: str | None = None,
                      resend: bool = True) -> None:
    """Draw `fig` (a figure, or what live_figure made of one) under `key`; the next call with the same key
    redraws the same chart in place. With a `version` (anything that changes whenever the figure does) and
    resend=False, a figure this browser already has is not sent again: only its version is (a few bytes instead
    of tens of kilobytes, for a page that redraws several times a second while nothing changes)."""
    figure, height = live_figure(fig) if isinstance(fig, go.Figure) else fig
    sent = st.session_state.setdefault("_live_versions", {})
    if version is not None and not resend and sent.get(key) == version:
        figure = None
    sent[key] = version
    _mount(key=key, data={"figure": figure, "version": version, "key": key, "chunk": PLOTLY_CHUNK,
                          "config": PLOTLY_CONFIG}, height=height)


def chart(fig: go.Figure, key: str | None = None, container=None, **kwargs):
    """st.plotly_chart (in `container`, default the page) drawn exactly as the figure says: the app's template,
    not Streamlit's theme, so static and live charts look alike; the camera button saves 1920×1080 PNGs.
    In presentation mode, the projector's sizes (ui/present.py)."""
    if presenting():
        fig = for_projector(fig)
    if dark():
        fig = for_dark(fig)
    drawn = (container or st).plotly_chart(fig, key=key, theme=None, width="stretch", config=PLOTLY_CONFIG,
                                           **kwargs)
    a11y.data_expander(fig, container)          # its description and its data, one click away
    return drawn


def live_data(fig: go.Figure, description: str, key: str) -> None:
    """Under a live chart: its description from its current numbers, sent with every redraw (the chart's
    accessible name reads it too, ui/a11y.py), and its data as a table, one click away. The table is built only
    while its expander is open: a page that redraws several times a second does not pay for it otherwise."""
    box = st.expander("Chart data as a table", icon=":material/table:", key=f"{key}_data", on_change="rerun")
    with box:
        st.markdown(description)
        if box.open:
            st.dataframe(a11y.table(fig), height=240)


# WCAG 2.2.2 (pause, stop, hide): live charts that move for more than five seconds can be stopped without stopping
# what they show. "Freeze charts" keeps each chart as it is while training goes on (the status line and its live
# region keep counting the steps); switched off, the charts catch up with the run at once. Pause stops the training.
FREEZE_KEY = "freeze_charts"


def freeze_toggle() -> None:
    st.toggle("Freeze charts", key=FREEZE_KEY,
              help="Hold the charts still while training goes on (the status line keeps counting the steps); "
                   "switch off to see the run as it is now. Pause stops the training itself.")


def frozen() -> bool:
    return bool(st.session_state.get(FREEZE_KEY))
