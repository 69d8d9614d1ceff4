"""Phase diagram: where the vanilla RNN's gradient vanishes or explodes, measured and predicted."""
import numpy as np
import streamlit as st

from core.phase import PHASE_FIELDS, PhaseConfig, PhaseResult, measured_edge, phase_diagram
from ui import phase_state, theory_figs
from ui.heavy import computed
from ui.links import page_link
from ui.live_chart import chart
from ui.nav import GRADIENT_FLOW
from ui.phase_controls import NETWORK, STATE, Y_LABELS, nearest_cell, phase_link_params, y_controls
from ui.url import build_or_stop, show_warnings
from ui.widgets import control, controls

key = STATE.key
PICK = "phase_pick"                  # the clicked cell, (x, y), for the grid it was made on
PICKED_FOR = "_phase_picked_for"


def compute(cfg: PhaseConfig):
    return computed("phase", cfg, lambda: phase_diagram(cfg))


def pick_cell():
    points = st.session_state["phase_chart"].selection.get("points", [])
    st.session_state[PICK] = (points[0]["x"], points[0]["y"]) if points else None


def axes_controls(sb, y_axis: str) -> None:
    """The grid: the y axis, the weight scales and the chosen axis's range and rows (their counts computed so that
    every cell lands on the Gradient flow page's slider values, ui/phase_state.py)."""
    sb.header("Axes")
    control(sb, PHASE_FIELDS["y_axis"], key("y_axis"), on_change=phase_state.switch_y_axis, horizontal=False)
    for column, name in zip(sb.columns(2), ("s_min", "s_max")):
        control(column, PHASE_FIELDS[name], key(name))
    control(sb, PHASE_FIELDS["s_count"], key("s_count"), options=phase_state.s_count_options())
    if own := y_controls(y_axis):             # the activation axis has no range or rows
        controls(sb, {name: own[name] for name in ("y_min", "y_max")}, key)
        computed = {"options": phase_state.y_count_options()} if y_axis == "input_scale" else {}
        control(sb, own["y_count"], key("y_count"), **computed)


def network_controls(sb, y_axis: str) -> None:
    """The network of every cell, but for the setting on the y axis."""
    sb.header("Network (vanilla RNN)")
    for name in NETWORK:
        if name != y_axis:
            control(sb, PHASE_FIELDS[name], key(name))


def picked_cell(cfg: PhaseConfig, res: PhaseResult) -> None:
    """The clicked cell's numbers and the link that opens it on the Gradient flow page."""
    state = st.session_state
    if state.get(PICKED_FOR) != cfg:          # a pick belongs to the grid it was made on
        state[PICK] = None
        state[PICKED_FOR] = cfg
    if (pick := state.get(PICK)) is None:
        return
    i, j = nearest_cell(res, *pick)
    rate = res.rate[i, j]
    with st.container(border=True, horizontal=True, vertical_alignment="center"):
        factor = "n/a (overflow)" if res.overflow[i, j] else (f"{rate:.3g}" if np.isfinite(rate) else "n/a")
        st.markdown(f"**Picked:** s = {res.weight_scale[j]:.3g}, {Y_LABELS[cfg.y_axis]} = {res.y[i]}, "
                    f"per-step factor {factor}")
        page_link(st, GRADIENT_FLOW, phase_link_params(cfg, res.weight_scale[j], res.y[i]),
                  label="Open on the Gradient flow page", icon=":material/open_in_new:")


def reading(cfg: PhaseConfig, res: PhaseResult) -> None:
    """What the chart says, and the edges row by row."""
    edges = measured_edge(res)
    shown = lambda v: "none in range" if not np.isfinite(v) else f"{v:.3g}"     # noqa: E731
    rows = [f"| {y if isinstance(y, str) else f'{y:g}'} | {shown(e)} | {shown(m)} | {t:.3g} |"
            for y, e, m, t in zip(res.y, edges, res.mean_field_edge, res.theory_edge)][:: max(1, len(res.y) // 8)]
    left, right = st.columns([1.2, 1])
    left.markdown(
        "**Reading it.** Mean-field theory predicts the edge itself (the orange dotted "
        f"{'diamonds' if cfg.y_axis == 'activation' else 'line'}): for a random W the gradient norm changes by "
        "√χ = √(s²·E[f′(a)²]) per step, at the variance the pre-activations settle to, and χ = 1 is the edge of "
        "chaos. Inputs widen the pre-activations and push tanh units into saturation, so the edge moves right as the "
        "input scale grows; the prediction follows it. The bound of Pascanu et al. (black dashed) says only that the "
        f"gradient must vanish when λ1·γ < 1, i.e. s < {1 / res.lambda1_at_1:.3g} for tanh, ReLU and linear "
        f"(s < {4 / res.lambda1_at_1:.3g} for the sigmoid), whatever the inputs: true, but far from the edge. For a "
        f"linear network the edge is where the spectral radius reaches 1 (grey dotted, s = {res.radius_edge:.3g}).")
    right.markdown("| " + Y_LABELS[cfg.y_axis] + " | measured edge s | mean-field edge s | Pascanu bound s |\n"
                   "|---|---|---|---|\n" + "\n".join(rows))


def phase_page() -> None:
    warnings = phase_state.begin()            # the URL's values, repaired to fit the y axis (ui/phase_state.py)
    y_axis = STATE["y_axis"]
    axes_controls(st.sidebar, y_axis)
    network_controls(st.sidebar, y_axis)
    values = STATE.end()

    st.title("Phase diagram")
    st.caption("Each cell is a full unroll of a vanilla RNN (all cells computed together as one tensor "
               "computation); its colour is the measured per-step factor of the gradient norm. Blue cells vanish, "
               "red cells explode; the black line is where the factor is exactly 1. Click a cell to open it on the "
               "Gradient flow page.")
    show_warnings(warnings)
    cfg = build_or_stop(lambda: PhaseConfig(**values), "compute this grid")
    with st.spinner(f"Unrolling {cfg.s_count * len(cfg.y_values)} networks at once…"):
        res = compute(cfg)
    picked_cell(cfg, res)
    chart(theory_figs.phase_figure(res), key="phase_chart", on_select=pick_cell, selection_mode="points")
    reading(cfg, res)


if __name__ == "__main__":             # run by Streamlit as the page (ui/nav.py)
    phase_page()
