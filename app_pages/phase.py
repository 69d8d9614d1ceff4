"""Phase diagram: where the vanilla RNN's gradient vanishes or explodes, measured and predicted."""
import numpy as np
import streamlit as st

from core.phase import PHASE_FIELDS, PhaseConfig, PhaseResult, measured_edge, phase_diagram
from ui import phase_state, theory_figs
from ui.flow_controls import UI_MAX_INPUT_SCALE, UI_MAX_SEED, WEIGHT_SCALES
from ui.heavy import computed
from ui.links import page_link
from ui.live_chart import chart
from ui.nav import GRADIENT_FLOW
from ui.phase_controls import (
    INPUT_STEP,
    PHASE_HIDDEN_SIZES,
    STATE,
    UI_MAX_BATCH,
    UI_MAX_SEQ_LEN,
    UI_MAX_SEQ_LEN_ROWS,
    Y_LABELS,
    nearest_cell,
    phase_link_params,
)
from ui.url import build_or_stop, show_warnings

key = STATE.key
PICK = "phase_pick"                  # the clicked cell, (x, y), for the grid it was made on
PICKED_FOR = "_phase_picked_for"


def compute(cfg: PhaseConfig):
    return computed("phase", cfg, lambda: phase_diagram(cfg))


def pick_cell():
    points = st.session_state["phase_chart"].selection.get("points", [])
    st.session_state[PICK] = (points[0]["x"], points[0]["y"]) if points else None


def axes_controls(sb, y_axis: str) -> None:
    sb.header("Axes")
    sb.radio("Second control (y axis)", list(Y_LABELS), key=key("y_axis"), format_func=Y_LABELS.get,
             on_change=phase_state.switch_y_axis, help=PHASE_FIELDS["y_axis"].help)
    c1, c2 = sb.columns(2)
    c1.select_slider("s from", WEIGHT_SCALES, key=key("s_min"), format_func=lambda v: f"{v:g}",
                     help=PHASE_FIELDS["s_min"].help)
    c2.select_slider("s to", WEIGHT_SCALES, key=key("s_max"), format_func=lambda v: f"{v:g}",
                     help=PHASE_FIELDS["s_max"].help)
    sb.select_slider("Weight scales (columns)", phase_state.s_count_options(), key=key("s_count"),
                     help="Number of log-spaced weight scales. Only counts that put every column on a value of the "
                          "Gradient flow page's weight-scale slider are offered.")
    if y_axis == "input_scale":
        c1, c2 = sb.columns(2)
        c1.number_input("input scale from", 0.0, UI_MAX_INPUT_SCALE, step=INPUT_STEP, key=key("y_min"),
                        help="Smallest input scale (bottom row).")
        c2.number_input("input scale to", 0.0, UI_MAX_INPUT_SCALE, step=INPUT_STEP, key=key("y_max"),
                        help="Largest input scale (top row).")
        sb.select_slider("Rows", phase_state.y_count_options(), key=key("y_count"),
                         help="Evenly spaced input scales; only counts that land on multiples of 0.05 are offered.")
    elif y_axis == "seq_len":
        c1, c2 = sb.columns(2)
        c1.number_input("T from", 2.0, float(UI_MAX_SEQ_LEN), step=10.0, format="%.0f", key=key("y_min"),
                        help="Shortest sequence length (bottom row).")
        c2.number_input("T to", 2.0, float(UI_MAX_SEQ_LEN), step=10.0, format="%.0f", key=key("y_max"),
                        help="Longest sequence length (top row).")
        sb.slider("Rows", 2, UI_MAX_SEQ_LEN_ROWS, key=key("y_count"),
                  help="Log-spaced sequence lengths (rounded to whole steps; duplicates merged).")


def network_controls(sb, y_axis: str) -> None:
    sb.header("Network (vanilla RNN)")
    if y_axis != "activation":
        sb.selectbox("Activation", list(PHASE_FIELDS["activation"].choices), key=key("activation"),
                     help=PHASE_FIELDS["activation"].help)
    sb.selectbox("Initialisation", list(PHASE_FIELDS["init"].choices), key=key("init"),
                 help=PHASE_FIELDS["init"].help)
    if y_axis != "input_scale":
        sb.slider("Input scale", 0.0, UI_MAX_INPUT_SCALE, step=INPUT_STEP, key=key("input_scale"),
                  help=PHASE_FIELDS["input_scale"].help)
    if y_axis != "seq_len":
        sb.slider("Sequence length T", 2, UI_MAX_SEQ_LEN, key=key("seq_len"), help=PHASE_FIELDS["seq_len"].help)
    sb.select_slider("Hidden size H", PHASE_HIDDEN_SIZES, key=key("hidden"), help=PHASE_FIELDS["hidden"].help)
    sb.slider("Batch", 1, UI_MAX_BATCH, key=key("batch"), help=PHASE_FIELDS["batch"].help)
    sb.number_input("Seed", 0, UI_MAX_SEED, key=key("seed"), help=PHASE_FIELDS["seed"].help)


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
