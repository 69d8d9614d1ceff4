"""Accessibility on every page (WCAG 2.1 AA, checked by axe-core in tests/test_browser_a11y.py): captions in a
grey with 4.5:1 contrast, a keyboard focus ring unlike the current page's highlight, and every chart named and
described for a screen reader, with its data as a table one click away.

Plotly's SVG has no name of its own. A small script gives each chart's main SVG role="img" and an aria-label:
the chart's title and the description written under it (the first paragraph of its "Data" expander, which the
page draws from the figure's own numbers, `describe`)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

CAPTION_GREY = "#5E5D5C"       # 6.5:1 on white, 6.1:1 on the sidebar's #F8F8F7 (Streamlit's own grey: 3.9:1)
FOCUS_BLUE = "#0B57D0"         # the focus ring: not the grey fill that marks the current page in the menu
# In Streamlit's dark theme (the system's preference; .streamlit/config.toml sets no base):
DARK_CAPTION_GREY = "#B2B3B8"  # 8.6:1 on the dark page (#171614), 7.1:1 on its widgets' #262730
DARK_FOCUS_BLUE = "#8AB4F8"    # 8.6:1 on the dark page
MAX_TABLE_ROWS = 2000
RUN_STATE_KEY = "run_state"     # the Training lab's live region: the run's state, announced when it changes
# Where the focus goes when the control that had it is disabled (by widget key): to the control that now does its
# job (the Training lab's Start, Pause, Step, Fast-forward and Reset buttons).
FOCUS_NEXT = {"btn_start": ["btn_pause"], "btn_pause": ["btn_start", "btn_step"], "btn_step": ["btn_start"],
              "btn_ff": ["btn_pause", "btn_start"], "btn_reset": ["btn_start"]}

CSS = """
<style>
[data-testid="stCaptionContainer"] {{ opacity: 1 !important; }}
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p {{ color: {grey} !important; }}
a:focus-visible, button:focus-visible, summary:focus-visible, [role="tab"]:focus-visible,
[data-testid="stSidebarNavLink"]:focus-visible {{
  outline: 3px solid {focus} !important; outline-offset: 2px !important; box-shadow: none !important; }}
.st-key-{run_state} {{ position: absolute !important; width: 1px !important; height: 1px !important;
  overflow: hidden !important; clip-path: inset(50%); white-space: nowrap; }}
</style>
"""
# Dark theme: a slider's value is written in the theme's red, 4.1:1 on the dark sidebar; the red must stay dark
# enough for the white text of primary buttons (5:1), so the value alone is written lighter.
DARK_CSS = """
<style>
[data-testid="stSliderThumbValue"], [data-testid="stSliderThumbValue"] p { color: #FF8F8F !important; }
</style>
"""

# Lesson (app_pages/lesson.py): a presenter's clicker sends PageDown / PageUp (some → / ←, or Space); they press
# Next / Previous, unless the focus is in a widget that reads those keys itself (a slider, a select box, a text
# field, the tabs), or Space would press the button or link that has the focus. (One script for the app: a page
# with two scripts of st.html ran neither in Streamlit 1.67.)
NAMES_JS = """
<script>
if (!window.__gflLessonKeys) {
  window.__gflLessonKeys = true;
  document.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey || event.defaultPrevented) return;
    const forward = ["PageDown", "ArrowRight", " "].includes(event.key);
    const back = ["PageUp", "ArrowLeft"].includes(event.key);
    if (!forward && !back) return;
    const nav = document.querySelector(".st-key-lesson_nav");
    if (!nav) return;                                   // not on the lesson page
    const focus = document.activeElement;
    const own = "input, textarea, select, [contenteditable=''], [contenteditable='true'], [role='slider'], "
              + "[role='listbox'], [role='combobox'], [role='tab'], [role='menu'], [role='dialog'] *";
    if (focus && focus !== document.body && focus.matches(own)) return;
    if (event.key === " " && focus && focus.matches("button, a, summary")) return;
    const button = nav.querySelector(forward ? ".st-key-next button" : ".st-key-prev button");
    if (!button) return;
    event.preventDefault();
    if (!button.disabled) button.click();
  });
}
// A button disabled while it has the focus (Start while a run trains, Pause when it stops) or drawn anew by a rerun
// drops the focus to the page's body: a keyboard user would start again from the top. The focus goes back to the
// same control, or to the one that now does what it did (FOCUS_NEXT: Start -> Pause, Pause -> Start...).
if (!window.__gflKeepFocus) {
  window.__gflKeepFocus = true;
  const NEXT = FOCUS_NEXT;
  const keyOf = (el) => {
    const holder = el && el.closest && el.closest('[class*="st-key-"]');
    return holder && [...holder.classList].find(c => c.startsWith("st-key-")).slice(7);
  };
  let last = null;
  document.addEventListener("focusin", (event) => {
    const key = keyOf(event.target);
    last = key ? {key, element: event.target} : null;
  });
  const usable = (key) => {
    const holder = document.querySelector(".st-key-" + CSS.escape(key));
    const all = holder ? [...holder.querySelectorAll("button, input, [tabindex='0']")] : [];
    return all.find(el => !el.disabled && el.getClientRects().length && el.getBoundingClientRect().width > 1) || null;
  };
  setInterval(() => {
    if (!last || (document.activeElement && document.activeElement !== document.body)) return;
    if (last.element.isConnected && !last.element.disabled) return;      // the user moved the focus away
    for (const key of [last.key, ...(NEXT[last.key] || [])]) {
      const el = usable(key);
      if (el) { el.focus({preventScroll: true}); return; }
    }
  }, 200);
}
if (!window.__gflChartNames) {
  window.__gflChartNames = true;
  const name = (plot) => {
    const svg = plot.querySelector("svg.main-svg");
    if (!svg) return;
    const title = (plot.querySelector(".gtitle") || {}).textContent || plot.getAttribute("data-figure-title") || "Chart";
    let description = "";
    const holder = plot.closest('[data-testid="stElementContainer"], .stElementContainer');
    const next = holder && holder.nextElementSibling;
    const text = next && next.querySelector('[data-testid="stExpander"] [data-testid="stMarkdown"]');
    if (text) description = " " + text.textContent.trim();
    const label = (title.trim() + "." + description).slice(0, 600);
    if (svg.getAttribute("aria-label") !== label) {
      svg.setAttribute("role", "img");
      svg.setAttribute("aria-label", label);
    }
  };
  const live = () => document.querySelectorAll(".st-key-RUN_STATE").forEach(region => {
    if (region.getAttribute("role") !== "status") {
      region.setAttribute("role", "status");
      region.setAttribute("aria-live", "polite");
    }
  });
  // Plotly's own slider (the Sweep view, lesson step 5) takes no keyboard focus: its rail becomes a slider that
  // ←/→ (↓/↑, Home, End) move, showing the frames Plotly already has (no server round trip).
  const keyboardSlider = (plot) => {
    const layout = plot.layout || {};
    const slider = (layout.sliders || [])[0];
    const rail = plot.querySelector(".slider-container");
    if (!slider || !rail || !window.Plotly) return;
    const steps = slider.steps || [];
    const active = Number.isInteger(plot.__gflActive) ? plot.__gflActive : (slider.active || 0);
    const set = (i) => {
      rail.setAttribute("aria-valuenow", String(i));
      rail.setAttribute("aria-valuetext", "s = " + ((steps[i] || {}).label || i));
    };
    if (rail.getAttribute("role") !== "slider") {
      rail.setAttribute("role", "slider");
      rail.setAttribute("tabindex", "0");
      rail.setAttribute("aria-label", "Weight scale s of the frame shown");
      rail.setAttribute("aria-valuemin", "0");
      rail.setAttribute("aria-valuemax", String(steps.length - 1));
      rail.addEventListener("keydown", (event) => {
        const now = Number.isInteger(plot.__gflActive) ? plot.__gflActive : (plot.layout.sliders[0].active || 0);
        const next = {ArrowRight: now + 1, ArrowUp: now + 1, ArrowLeft: now - 1, ArrowDown: now - 1,
                      Home: 0, End: steps.length - 1}[event.key];
        if (next === undefined) return;
        event.preventDefault();
        const i = Math.max(0, Math.min(steps.length - 1, next));
        plot.__gflActive = i;
        set(i);
        const frame = String(steps[i].args[0][0]);
        window.Plotly.animate(plot, [frame],
                              {mode: "immediate", frame: {duration: 0, redraw: false}, transition: {duration: 0}})
          .then(() => {                    // the frame's title too (an animation without redraw keeps the old one)
            const known = ((plot._transitionData || {})._frameHash || {})[frame];
            const text = known && known.layout && known.layout.title && known.layout.title.text;
            const title = plot.querySelector(".gtitle");
            if (text && title) title.textContent = text.split("\\x3cbr\\x3e").join(" ");   // a line break tag
          });
      });
    }
    if (!rail.hasAttribute("aria-valuenow")) set(active);
  };
  // On a phone a chart is ~350 px wide: a legend entry or an x-axis title longer than that would be cut at the
  // right edge (Plotly never wraps them). There they are broken into lines at spaces; a wider chart keeps its text.
  const LINE_PX = 19, TITLE_LINE_PX = 21;       // one more line of 14 px legend text, of a 16 px title
  const BR = "\\x3cbr\\x3e";                  // a line break tag (not written as one in a script)
  const wrapText = (text, chars) => text.split(BR).map(line => {
    const out = [];
    let rest = line;
    while (rest.length > chars) {
      let cut = rest.lastIndexOf(" ", chars);
      if (cut < chars / 3) cut = rest.indexOf(" ", chars);
      if (cut < 0) break;
      out.push(rest.slice(0, cut).trimEnd());
      rest = rest.slice(cut + 1).trimStart();
    }
    out.push(rest);
    return out.join(BR);
  }).join(BR);
  const lines = (text) => typeof text === "string" ? text.split(BR).length : 0;
  // The figure's texts for a chart this wide, changed in place; returns the lines added (the figure grows by them).
  window.__gflNarrow = (data, layout, width) => {
    if (!width || width > 560) return 0;
    let added = 0;
    const legendChars = Math.max(20, Math.floor((width - 60) / 7.4));      // 14 px text: ~7.4 px a character
    for (const trace of data) {
      if (typeof trace.name === "string" && trace.showlegend !== false) {
        const wrapped = wrapText(trace.name, legendChars);
        added += lines(wrapped) - lines(trace.name);
        trace.name = wrapped;
      }
    }
    const xaxis = layout.xaxis || {};
    const title = xaxis.title && (typeof xaxis.title === "string" ? xaxis.title : xaxis.title.text);
    if (typeof title === "string") {
      const wrapped = wrapText(title, Math.max(20, Math.floor((width - 40) / 7)));
      if (wrapped !== title) {
        layout.xaxis = {...xaxis, title: {...(typeof xaxis.title === "object" ? xaxis.title : {}), text: wrapped}};
        added += lines(wrapped) - lines(title);
      }
    }
    const margin = {...(layout.margin || {})};
    const heading = layout.title && (typeof layout.title === "string" ? layout.title : layout.title.text);
    let above = 0;
    if (typeof heading === "string") {                // 16 px bold: ~8.6 px a character
      // the toolbar stands upright at the right edge (a row of it would cover the title's lower lines)
      const wrapped = wrapText(heading, Math.max(16, Math.floor((width - 60) / 8.6)));
      if (wrapped !== heading) {
        layout.title = {...(typeof layout.title === "object" ? layout.title : {}), text: wrapped};
        layout.modebar = {...(layout.modebar || {}), orientation: "v"};
        above = lines(wrapped) - lines(heading);
        margin.t = (margin.t || 50) + TITLE_LINE_PX * above;
      }
    }
    if ((added || above) && layout.height) {
      layout.height += LINE_PX * added + TITLE_LINE_PX * above;
      margin.b = (margin.b || 80) + LINE_PX * added;
    }
    layout.margin = margin;
    return added + above;
  };
  const narrow = (plot) => {
    if (!window.Plotly || !plot.data || !plot.layout || plot.classList.contains("gfl-live-plot")) return;
    const data = plot.data.map(t => ({name: t.name, showlegend: t.showlegend}));
    const layout = {xaxis: plot.layout.xaxis ? {title: plot.layout.xaxis.title} : undefined,
                    title: plot.layout.title, height: plot.layout.height, margin: {...plot.layout.margin}};
    if (!window.__gflNarrow(data, layout, plot.getBoundingClientRect().width)) return;
    const names = data.map(t => t.name);
    const indices = names.map((_, i) => i).filter(i => names[i] !== plot.data[i].name);
    if (indices.length) window.Plotly.restyle(plot, {name: indices.map(i => names[i])}, indices);
    const update = {height: layout.height, "margin.b": layout.margin.b, "margin.t": layout.margin.t};
    if (layout.title && layout.title.text !== (plot.layout.title || {}).text) update["title.text"] = layout.title.text;
    if (layout.modebar) update["modebar.orientation"] = layout.modebar.orientation;
    if (layout.xaxis && layout.xaxis.title) update["xaxis.title.text"] = layout.xaxis.title.text;
    window.Plotly.relayout(plot, update);
  };
  const all = () => {
    document.querySelectorAll(".js-plotly-plot").forEach(plot => { name(plot); keyboardSlider(plot); narrow(plot); });
    live();
  };
  new MutationObserver(() => { clearTimeout(window.__gflNameTimer); window.__gflNameTimer = setTimeout(all, 150); })
    .observe(document.body, {childList: true, subtree: true, characterData: true});
  all();
}
</script>
""".replace("RUN_STATE", RUN_STATE_KEY).replace("FOCUS_NEXT", json.dumps(FOCUS_NEXT))


def dark() -> bool:
    """Is the page drawn in Streamlit's dark theme (the system's preference, or the user's choice in the app's
    menu)? Read when the page runs: a change of the system's setting shows at the page's next run."""
    return st.context.theme.type == "dark"


def styles() -> None:
    """Every page, first: the styles, in the greys of the page's theme."""
    grey, focus = (DARK_CAPTION_GREY, DARK_FOCUS_BLUE) if dark() else (CAPTION_GREY, FOCUS_BLUE)
    st.html(CSS.format(grey=grey, focus=focus, run_state=RUN_STATE_KEY) + (DARK_CSS if dark() else ""))


def name_charts() -> None:
    """Every page, last: the script that names the charts (at the very end of the page, where its room is not
    missed; a collapsed sidebar runs no script)."""
    st.html(NAMES_JS, unsafe_allow_javascript=True)


def _array(values) -> np.ndarray:
    """Plotly data as an object array: lists, tuples, NumPy arrays, or typed arrays ({"dtype", "bdata"})."""
    if isinstance(values, dict) and "bdata" in values:
        import base64
        flat = np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
        shape = values.get("shape")
        if isinstance(shape, str):
            shape = tuple(int(v) for v in shape.split(","))
        return flat.reshape(shape) if shape else flat
    return np.atleast_1d(np.asarray(values if values is not None else [], dtype=object))


def _floats(values) -> np.ndarray:
    """Plotly data (lists with None, numbers, nested rows) as a float array, None as NaN; text as NaN."""
    a = _array(values)
    if a.dtype != object:
        return a.astype(float)
    out = np.full(a.shape, np.nan)
    for i, v in np.ndenumerate(a):
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            pass
    return out


def _short(v: float) -> str:
    return f"{v:.3g}"


def _step(x) -> str:
    """An x value as written: 340, not 340.0."""
    try:
        return str(int(x)) if float(x) == int(x) else _short(float(x))
    except (TypeError, ValueError, OverflowError):
        return str(x)


def _trace_summary(trace) -> str | None:
    if trace.type == "heatmap" or trace.type == "contour":
        z = _floats(trace.z)
        if z.ndim != 2:
            return None
        finite = z[np.isfinite(z)]
        if not finite.size:
            return None
        return f"{trace.name or 'colour'}: {z.shape[0]} × {z.shape[1]} cells from {_short(finite.min())} to {_short(finite.max())}"
    if trace.y is None or trace.x is None:
        return None
    x = _array(trace.x)
    y = _floats(trace.y)
    n = min(len(x), len(y))                 # a trace may carry fewer x than y (Plotly ignores the rest)
    x, y = x[:n], y[:n]
    ok = np.isfinite(y)
    if not ok.any():
        return f"{trace.name}: no finite values"
    first, last = np.flatnonzero(ok)[[0, -1]]
    name = trace.name or "values"
    if trace.type == "bar":
        return f"{name}: " + ", ".join(f"{xi} {_short(yi)}" for xi, yi in zip(x, y))
    return f"{name}: {_short(y[first])} at {x[first]} to {_short(y[last])} at {x[last]}"


def describe(fig: go.Figure) -> str:
    """A short text description of a figure from its own numbers: each named series' first and last values."""
    parts = [s for t in fig.data if t.showlegend is not False or len(fig.data) == 1
             for s in [_trace_summary(t)] if s]
    xtitle = fig.layout.xaxis.title.text if fig.layout.xaxis.title else None
    head = f"Against {xtitle}. " if xtitle else ""
    return (head + "; ".join(parts[:6]) + ".").replace("<br>", " ").replace("<sub>", "").replace("</sub>", "")


def describe_now(fig: go.Figure) -> str:
    """A live chart's description from its current numbers: each named series' latest value and the step it was
    measured at, a heatmap's latest column, and the labels of its reference lines ("A: LSTM (mean of 20 steps) at
    training step 340: 0.012. Lines: chance level (MSE 1/6 ≈ 0.167)")."""
    xtitle = (fig.layout.xaxis.title.text if fig.layout.xaxis.title else None) or "x"
    parts = []
    for t in fig.data:
        if t.type in ("heatmap", "contour"):
            z = _floats(t.z)
            if z.ndim != 2 or not z.size:
                continue
            column, rows = z[:, -1], _array(t.y) if t.y is not None else np.arange(z.shape[0])
            ok = np.flatnonzero(np.isfinite(column))
            if ok.size:
                label = (t.colorbar.title.text if t.colorbar and t.colorbar.title else None) or t.name or "value"
                parts.append(f"{label} at {xtitle} {_step(_array(t.x)[-1])}: {_short(column[ok[0]])} at distance "
                             f"{rows[ok[0]]} to {_short(column[ok[-1]])} at distance {rows[ok[-1]]}")
            continue
        if t.showlegend is False or t.x is None or t.y is None:
            continue
        x, y = _array(t.x), _floats(t.y)
        ok = np.flatnonzero(np.isfinite(y[:len(x)]))
        if ok.size:
            parts.append(f"{t.name} at {xtitle} {_step(x[ok[-1]])}: {_short(y[ok[-1]])}")
    log_y = fig.layout.yaxis.type == "log"
    lines = [f"{a.text} at {_short(10 ** a.y if log_y else a.y)}" if a.yref == "y" and a.y is not None else a.text
             for a in fig.layout.annotations or () if a.text]
    text = ("; ".join(parts[:6]) + ".") if parts else "Nothing measured yet."
    if lines:
        text += " Lines: " + "; ".join(lines[:4]) + "."
    return text.replace("<br>", " ").replace("<sub>", "").replace("</sub>", "")


def table(fig: go.Figure) -> pd.DataFrame:
    """The figure's data: one column per line series against its x; a heatmap as rows × columns."""
    heat = [t for t in fig.data if t.type in ("heatmap", "contour")]
    if heat:
        t = heat[0]
        z = _floats(t.z)
        if z.ndim == 2:
            rows = list(t.y) if t.y is not None and len(t.y) == z.shape[0] else None
            cols = [str(c) for c in t.x] if t.x is not None and len(t.x) == z.shape[1] else None
            return pd.DataFrame(z, index=rows, columns=cols)
    columns = {}
    for i, t in enumerate(fig.data):
        if t.x is None or t.y is None:
            continue
        name = (t.name or f"series {i + 1}").replace("<br>", " ")
        x, y = _array(t.x), _floats(t.y)
        if x.ndim != 1 or y.ndim != 1:
            continue
        n = min(len(x), len(y))
        series = pd.Series(y[:n], index=list(x[:n]), name=name)
        columns[name] = series[~series.index.duplicated()]
    frame = pd.DataFrame(columns)
    frame.index.name = (fig.layout.xaxis.title.text if fig.layout.xaxis.title else None) or "x"
    return frame.head(MAX_TABLE_ROWS)


def data_expander(fig: go.Figure, container=None) -> None:
    """Under a chart: its description and its data as a table, one click away."""
    with (container or st).expander("Chart data as a table", icon=":material/table:"):
        st.markdown(describe(fig))
        st.dataframe(table(fig), height=240)
