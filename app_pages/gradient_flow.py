"""Gradient flow: ‖∂L/∂h_{T−k}‖ against distance k, beside the theory that predicts it."""
import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd
import streamlit as st

import core
from ui import flow_figs
from ui.flow_controls import (
    FIXED_Y_DECADES,
    MAX_PINS,
    PIN_PARAM,
    PINS_KEY,
    RESULTS,
    STATE,
    TAB_LABELS,
    WEIGHT_SCALES,
    config_values,
    flow_controls,
    pin_code,
    pin_config,
    reset_page,
)
from ui.heavy import computed
from ui.live_chart import chart
from ui.phone import flow_row
from ui.present import fit_height, presenting
from ui.text import clipping_sentence, headline, overflow_explanation, sci, short_label, theory_sentences
from ui.url import share_bar, show_warnings


def measure(cfg: core.UnrollConfig) -> core.UnrollResult:
    cost = core.budget.unroll_cost(cfg.cell, cfg.seq_len, cfg.batch, cfg.hidden, cfg.dtype, cfg.layers).seconds
    return computed("unroll", cfg, lambda: core.unroll(cfg), seconds=cost)


def sweep(cfg: core.UnrollConfig) -> core.SweepResult:
    """Every weight scale of the slider; the same data whatever the slider says (only the start frame moves)."""
    base = replace(cfg, weight_scale=1.0)
    return computed("sweep", base, lambda: core.sweep.weight_scale_sweep(base, WEIGHT_SCALES))


def draw_metrics(cols, res: core.UnrollResult) -> None:
    """The five numbers under the chart: in an expander, or in a row in presentation mode (the headline says the
    regime)."""
    bound = res.spectrum.lambda1 * res.gamma if res.gamma is not None and res.config.loss_on == "last" else None
    lyapunov_max = float(res.lyapunov[0]) if res.lyapunov.size and np.isfinite(res.lyapunov[0]) else None
    cols[0].metric("Regime", res.regime, help=res.regime_rule)
    cols[1].metric("Per-step factor (fitted)", sci(res.rate, 3),
                   help="exp of the slope of a least-squares line through log‖∂L/∂h‖ against distance.")
    cols[2].metric("Mean-field √χ" if res.mean_field_rate is not None else "Theory factor",
                   sci(res.theory_rate, 3) if res.theory_rate is not None else "n/a",
                   help=res.theory_note or "No theory line for this cell.")
    cols[3].metric("Lyapunov e^λmax", sci(math.exp(lyapunov_max), 3) if lyapunov_max is not None else "n/a",
                   help="e to the largest Lyapunov exponent of the forward dynamics: how much a small perturbation of "
                        "the state grows per step along this trajectory. The gradient crosses the same Jacobians "
                        "transposed, so for a random network it matches the per-step factor.")
    cols[4].metric("Pascanu bound λ1·γ", sci(bound, 3) if bound is not None else "n/a",
                   help="Largest singular value of W times sup|f'|: the per-step factor can never exceed it (Pascanu, "
                        "Mikolov & Bengio 2013). Sufficient for vanishing when below 1, but loose.")


def current() -> tuple[core.UnrollConfig | None, core.UnrollResult | None]:
    """This run's settings and their result (a shared result: every part of the page asks, one computes)."""
    try:
        cfg = core.UnrollConfig(**config_values())
    except core.ConfigError:
        return None, None
    return cfg, measure(cfg)


# Everything that depends on the settings is drawn by one fragment, called at several places of the page with the
# part it draws there (they rerun together). Moving a slider that changes nothing else in the sidebar reruns only
# these parts (ui/flow_controls: on_change → st.rerun(RESULTS)); the title, the explanations and the tabs stay as
# they are.
@st.fragment(key=RESULTS)
def results(part: Callable[[], None]) -> None:
    part()


def head_part() -> None:
    """Across the page: computes (once, shared), the numbers and the headline; or why the settings cannot run."""
    try:
        cfg = core.UnrollConfig(**config_values())
    except core.ConfigError as err:
        st.error(f"Cannot run this configuration: {err}.", icon=":material/block:")
        return
    if core.budget.unroll_cost(cfg.cell, cfg.seq_len, cfg.batch, cfg.hidden, cfg.dtype, cfg.layers).seconds < 0.2:
        res = measure(cfg)          # milliseconds: a spinner would only add flicker
    else:
        with st.spinner(f"Unrolling {cfg.seq_len} steps of the {core.cells.CELLS[cfg.cell].label}…"):
            res = measure(cfg)
    head(res)


def chart_part() -> None:
    cfg, res = current()
    if res is not None:                 # (otherwise the head part said why)
        curve_chart(cfg, res)


def theory_part() -> None:
    cfg, res = current()
    if res is not None:
        st.markdown(theory_sentences(res))


def tabs_part() -> None:
    cfg, res = current()
    if res is not None:
        tab_views(cfg, res)


def bottom_part() -> None:
    bottom(current()[1])


def pins() -> list[str]:
    """The pinned curves' codes (ui/flow_controls.py), kept in the session."""
    return st.session_state.setdefault(PINS_KEY, [])


def head(res: core.UnrollResult) -> None:
    st.markdown(headline(res))            # the chart comes next; the theory's numbers are under it
    if (text := overflow_explanation(res)) is not None:
        st.error(text, icon=":material/error:")


def curve_chart(cfg: core.UnrollConfig, res: core.UnrollResult) -> None:
    prefix = None
    if res.overflow is not None and res.overflow["where"] == "forward" and res.overflow["forward_step"] >= 2:
        prefix = measure(replace(cfg, seq_len=res.overflow["forward_step"]))   # same weights and inputs
    pinned = []
    for code in pins():                      # each pin is recomputed from its settings (a shared result)
        pin_cfg = pin_config(code)
        pin_res = measure(pin_cfg)
        pinned.append((short_label(pin_cfg), pin_res.distance, pin_res.grad_norm))
    fixed = STATE["y_axis"] == "fixed"
    curve_fig = flow_figs.gradient_curve_figure(res, prefix, pinned, FIXED_Y_DECADES if fixed else None)
    if presenting():        # title, plot, axes and legend in what a 1280×720 projector leaves under the headline
        curve_fig = fit_height(curve_fig, 540)
    chart(curve_fig, key="curve")
    if cfg.layers > 1:
        chart(flow_figs.layer_heatmap_figure(res), key="layers_heatmap")
        st.caption("One row per layer of the stack, bottom first; the top row is the measured curve above. A lower "
                   "layer's state reaches the loss through its own recurrence and through the layers above it.")
    pin_buttons(cfg)
    if prefix is not None:
        st.caption(f"Dotted, beyond the overflow line: the same network and inputs run for only "
                   f"{prefix.config.seq_len} steps (the longest run whose states stay finite), drawn at the distances "
                   "those steps have in this run. It is a shorter run's gradient, not this one's: it shows the "
                   "growth that ended in the overflow.")
    if presenting():
        draw_metrics(st.columns(5), res)
    else:                                  # one click away: a beginner sees the chart and the headline first
        with st.expander("The numbers: regime, fitted factor, mean-field √χ, Lyapunov, Pascanu bound",
                         icon=":material/functions:"):
            draw_metrics(st.columns(5), res)


def pin_buttons(cfg: core.UnrollConfig) -> None:
    pinned = pins()
    with st.container(horizontal=True):
        if st.button("Pin this curve", icon=":material/push_pin:", disabled=pin_code(cfg) in pinned,
                     help="Keep this curve on the chart to compare it with the next settings you try. Pins are "
                          "named by their settings and kept in the link (at most five)."):
            pinned.append(pin_code(cfg))
            del pinned[:-MAX_PINS]                  # the five most recent
            st.rerun()
        if st.button("Clear pinned", icon=":material/clear_all:", disabled=not pinned,
                     help="Remove every pinned curve from the chart."):
            pinned.clear()
            st.rerun()


def tab_views(cfg: core.UnrollConfig, res: core.UnrollResult) -> None:
    """The open tab's charts (only the open tab is computed and drawn)."""
    view = STATE["view"]
    if view == "Clipping":
        left, right = st.columns([1.3, 1])
        chart(flow_figs.clipping_figure(res), key="clipping", container=left)
        right.markdown(clipping_sentence(res))
        right.caption("Clipping cures exploding gradients (Pascanu et al. 2013): when the norm passes the threshold "
                      "the update is rescaled. It cannot bring back a gradient that has vanished.")
    elif view == "Spectrum":
        left, right = st.columns(2)
        chart(flow_figs.spectrum_figure(res), key="spectrum", container=left)
        chart(flow_figs.singular_values_figure(res), key="singular", container=right)
    elif view == "Saturation":
        chart(flow_figs.saturation_figure(res), key="saturation")
        st.caption("Each column is a time step of the first sequence. A unit whose derivative is near 0 passes "
                   "almost none of the gradient through that step, whatever W is.")
    elif not core.sweep.sweepable(cfg.cell):
        st.info(f"The {core.cells.CELLS[cfg.cell].label} has no weight scale to sweep: its recurrence is set by "
                "its own parameters. Pick the Vanilla RNN, the LSTM or the GRU.", icon=":material/info:")
    else:
        try:
            with st.spinner(f"Unrolling the {core.cells.CELLS[cfg.cell].label} at all {len(WEIGHT_SCALES)} "
                            "weight scales…"):
                swept = replace(sweep(cfg), config=cfg)
        except core.ConfigError as err:
            st.error(f"Cannot sweep the weight scale: {err}.", icon=":material/block:")
        else:
            chart(flow_figs.sweep_figure(swept), key="sweep")
            st.caption("Drag the slider under the chart: every weight scale of the sidebar's slider is already "
                       "computed, so the curve turns in your browser without asking the server. It starts at "
                       "the sidebar's s; the y axis stays put, so you see the slope change from vanishing to "
                       "exploding. Everything else is the sidebar's settings.")


def curve_csv(res: core.UnrollResult) -> str:
    curve = pd.DataFrame({"distance": res.distance, "grad_norm": res.grad_norm, "bound": res.bound})
    if res.cell_grad_norm is not None:
        curve["cell_grad_norm"] = res.cell_grad_norm
    if len(res.layer_grad_norm) > 1:               # a stack: every layer's curve, bottom first
        for layer, row in enumerate(res.layer_grad_norm, start=1):
            curve[f"layer_{layer}_grad_norm"] = row
    return curve.to_csv(index=False)


def bottom(res: core.UnrollResult | None) -> None:
    """The download, and the URL and the share bar (always: they hold the settings even when they are invalid)."""
    if res is not None:
        st.download_button("Download the curve (CSV)", lambda: curve_csv(res), file_name="gradient_flow.csv",
                           mime="text/csv", on_click="ignore", icon=":material/download:",
                           help="Distance, measured gradient norm and the Pascanu bound.")
    STATE.end({PIN_PARAM: pins()})
    share_bar(reset_whole_page)


def why_s1_vanishes() -> str:
    """Why the default view (tanh, s = 1) vanishes: mean-field's factor and edge for it, computed."""
    factor = core.meanfield.rate("tanh", 1.0, 1.0, 0.0)
    edge = float(core.meanfield.edge("tanh", 1.0, 0.0)[0])
    return ("**Why s = 1 still vanishes (tanh).** s = 1 makes the largest eigenvalues of W about 1 in size, but "
            "every step also multiplies by tanh′(a) = 1 − tanh²(a), which is below 1 wherever a ≠ 0; the inputs "
            f"keep the pre-activations a away from 0, so a step keeps only √χ = {factor:.2f} of the gradient on "
            f"average (mean-field, input scale 1). A step keeps all of it at the edge of chaos, s ≈ {edge:.2f} "
            "(the *Critical initialisation* button).")


def reset_whole_page() -> None:
    """Reset page (a button inside the results fragment): the sidebar's widgets change too, so the whole page
    reruns, not just the fragment."""
    reset_page()
    st.rerun()


def how_to_read() -> None:
    """Beside the chart: the product of Jacobians, the bound, and why the default view vanishes."""
    st.markdown("**How to read it.** Each point is the norm of $\\partial L/\\partial h_{T-k}$: how much of the "
                "error signal from the loss (at the last step) reaches the state $k$ steps back, through every "
                "path, averaged over the batch. Back-propagation multiplies one Jacobian per step:")
    st.latex(r"\frac{\partial h_T}{\partial h_t} = \prod_{s=t+1}^{T} \operatorname{diag}\big(f'(a_s)\big)\, W")
    st.markdown("so with $\\lambda_1$ the largest singular value of $W$ and $\\gamma = \\sup|f'|$ "
                "(1 for tanh, ReLU, linear; ¼ for the sigmoid):")
    st.latex(r"\Big\|\frac{\partial h_T}{\partial h_t}\Big\| \le (\lambda_1 \gamma)^{T-t}")
    st.markdown(why_s1_vanishes())
    st.markdown("$\\lambda_1 < 1/\\gamma$ is enough for the gradient to vanish; $\\lambda_1 > 1/\\gamma$ is needed "
                "for it to explode (Pascanu, Mikolov & Bengio 2013). Saturated units ($f' \\approx 0$) cut the "
                f"signal even when $W$ is large. *Regime rule:* {core.REGIME_RULE}.")


def gradient_flow_page() -> None:
    url_warnings = flow_controls()
    pins()                                 # the pinned curves, from a link or this session
    st.title("Gradient flow")
    if not presenting():                   # on a projector the chart comes first; the teacher says this
        st.caption("Back-propagation through time multiplies one Jacobian per step, so the error signal reaching "
                   "a step k steps back is a product of k matrices. Move the sliders (beside the chart, or above it "
                   "on a phone) and watch it shrink or grow geometrically with k.")
    show_warnings(url_warnings)
    results(head_part)
    flow_row()          # on a phone, the main controls over the chart (ui/phone.py; hidden on wider screens)
    if presenting():    # the chart across the page, at a height that leaves it whole on a 1280×720 projector
        chart_col, text_col = st.container(), st.expander("Theory and how to read the chart")
    else:
        chart_col, text_col = st.columns([2.3, 1], gap="medium")
    with chart_col:
        results(chart_part)
    with text_col:
        results(theory_part)
        how_to_read()
    # Only the open tab is computed and drawn (on_change="rerun"), so a slider move redraws two charts, not five.
    tabs = st.tabs(TAB_LABELS, key=STATE.key("view"), on_change="rerun")
    for tab in tabs:
        if tab.open:
            with tab:
                results(tabs_part)
    results(bottom_part)


if __name__ == "__main__":             # run by Streamlit as the page (ui/nav.py)
    gradient_flow_page()
