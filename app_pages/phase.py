"""Phase diagram: where the vanilla RNN's gradient vanishes or explodes, measured and predicted."""
import streamlit as st

from core.phase import PHASE_FIELDS, PhaseConfig, measured_edge, phase_diagram
from ui import theory_figs
from ui.url import UrlField, build_or_stop, seed_from_url, show_warnings, sync_to_url

DEFAULTS = PhaseConfig()
SHOWN = ["y_axis", "s_min", "s_max", "s_count", "y_min", "y_max", "y_count", "activation", "init",
         "input_scale", "seq_len", "hidden", "batch", "seed"]
FIELDS = [UrlField(name, getattr(DEFAULTS, name), PHASE_FIELDS[name]) for name in SHOWN]
Y_LABELS = {"input_scale": "input scale", "seq_len": "sequence length", "activation": "activation"}
Y_DEFAULT_RANGE = {"input_scale": (0.0, 3.0), "seq_len": (10.0, 1000.0)}


@st.cache_data(max_entries=16, show_spinner=False)
def compute(cfg: PhaseConfig):
    return phase_diagram(cfg)


def reset_y_range():
    lo, hi = Y_DEFAULT_RANGE.get(st.session_state["y_axis"], (0.0, 3.0))
    st.session_state["y_min"], st.session_state["y_max"] = lo, hi


def pick_cell():
    points = st.session_state["phase_chart"].selection.get("points", [])
    st.session_state["phase_pick"] = points[0] if points else None


warnings = seed_from_url("phase", FIELDS)
for f in FIELDS:
    st.session_state.setdefault(f.name, f.default)

sb = st.sidebar
sb.header("Axes")
sb.radio("Second control (y axis)", list(Y_LABELS), key="y_axis", format_func=Y_LABELS.get,
         on_change=reset_y_range, help=PHASE_FIELDS["y_axis"].help)
c1, c2 = sb.columns(2)
c1.number_input("s from", 0.01, 100.0, key="s_min", format="%.3g", help=PHASE_FIELDS["s_min"].help)
c2.number_input("s to", 0.01, 100.0, key="s_max", format="%.3g", help=PHASE_FIELDS["s_max"].help)
sb.slider("Weight scales", 2, 60, key="s_count", help=PHASE_FIELDS["s_count"].help)
y_axis = st.session_state["y_axis"]
if y_axis != "activation":
    hi = 5.0 if y_axis == "input_scale" else 2000.0
    c1, c2 = sb.columns(2)
    c1.number_input(f"{Y_LABELS[y_axis]} from", 0.0, hi, key="y_min")
    c2.number_input(f"{Y_LABELS[y_axis]} to", 0.0, hi, key="y_max")
    sb.slider("Rows", 2, 60, key="y_count", help=PHASE_FIELDS["y_count"].help)
sb.header("Network (vanilla RNN)")
if y_axis != "activation":
    sb.selectbox("Activation", list(PHASE_FIELDS["activation"].choices), key="activation")
sb.selectbox("Initialisation", list(PHASE_FIELDS["init"].choices), key="init", help=PHASE_FIELDS["init"].help)
if y_axis != "input_scale":
    sb.slider("Input scale", 0.0, 5.0, step=0.05, key="input_scale")
if y_axis != "seq_len":
    sb.slider("Sequence length T", 2, 2000, key="seq_len")
sb.select_slider("Hidden size H", [8, 16, 32, 64, 128, 256], key="hidden")
sb.slider("Batch", 1, 64, key="batch", help=PHASE_FIELDS["batch"].help)
sb.number_input("Seed", 0, 2**31 - 1, key="seed")
sync_to_url(FIELDS)

st.title("Phase diagram")
st.caption("Each cell is a full unroll of a vanilla RNN (all cells computed together as one tensor computation); "
           "its colour is the measured per-step factor of the gradient norm. Blue cells vanish, red cells "
           "explode; the black line is where the factor is exactly 1. Click a cell to open it on the Gradient "
           "flow page.")
show_warnings(warnings)
cfg = build_or_stop(lambda: PhaseConfig(**{f.name: st.session_state[f.name] for f in FIELDS}), "compute this grid")

with st.spinner(f"Unrolling {cfg.s_count * len(cfg.y_values)} networks at once…"):
    res = compute(cfg)

pick = st.session_state.get("phase_pick")
if pick is not None and "point_index" in pick:
    j = pick["point_index"] % len(res.weight_scale)
    i = pick["point_index"] // len(res.weight_scale)
    if i < len(res.y):
        cell = cfg.cell_config(res.weight_scale[j], res.y[i])
        params = {"weight_scale": f"{cell.weight_scale:.3g}", "input_scale": f"{cell.input_scale:g}",
                  "seq_len": str(cell.seq_len), "activation": cell.activation, "init": cell.init,
                  "hidden": str(cell.hidden), "batch": str(cell.batch), "seed": str(cell.seed)}
        rate = res.rate[i, j]
        with st.container(border=True, horizontal=True, vertical_alignment="center"):
            factor = f"{rate:.3g}" if rate == rate else "n/a (overflow)"
            st.markdown(f"**Picked:** s = {cell.weight_scale:.3g}, {Y_LABELS[cfg.y_axis]} = {res.y[i]}, "
                        f"per-step factor {factor}")
            st.page_link("app_pages/gradient_flow.py", label="Open on the Gradient flow page",
                         icon=":material/open_in_new:", query_params=params)

st.plotly_chart(theory_figs.phase_figure(res), key="phase_chart", on_select=pick_cell, selection_mode="points",
                width="stretch")
edges = measured_edge(res)
rows = [f"| {y:g} | {'none in range' if e != e else f'{e:.3g}'} | {t:.3g} |" if not isinstance(y, str) else
        f"| {y} | {'none in range' if e != e else f'{e:.3g}'} | {t:.3g} |" for y, e, t in
        zip(res.y, edges, res.theory_edge)][:: max(1, len(res.y) // 8)]
left, right = st.columns([1.2, 1])
left.markdown(
    "**Reading it.** The bound of Pascanu et al. says the gradient must vanish when λ1·γ < 1 (left of the "
    f"dashed line, s < {res.theory_edge[0]:.3g} here: λ1 of the matrix at s = 1 is {res.lambda1_at_1:.3g}). "
    "It is a sufficient condition, not a sharp one: the measured edge lies to its right, near where the "
    f"spectral radius reaches 1 (dotted, s = {res.radius_edge:.3g}) for a linear network, and further right "
    "when inputs push tanh units into saturation.")
right.markdown("| " + Y_LABELS[cfg.y_axis] + " | measured edge s | theory edge s |\n|---|---|---|\n" + "\n".join(rows))
