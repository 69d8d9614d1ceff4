"""Loss cliff: Pascanu's one-unit network, its loss surface, and one gradient step too many."""
import streamlit as st

from core.cliff import CLIFF_FIELDS, CliffConfig, cliff
from ui import theory_figs
from ui.text import sci
from ui.url import UrlField, build_or_stop, seed_from_url, show_warnings, sync_to_url

DEFAULTS = CliffConfig()
FIELDS = [UrlField(name, getattr(DEFAULTS, name), spec) for name, spec in CLIFF_FIELDS.items()]
RESOLUTIONS = [50, 100, 150, 200, 300, 400]
LEARNING_RATES = [0.001, 0.003, 0.01, 0.03, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0]


@st.cache_data(max_entries=32, show_spinner=False)
def compute(cfg: CliffConfig):
    return cliff(cfg)


def pick_start():
    """A click on the surface moves the start point there."""
    points = st.session_state["cliff_surface"].selection.get("points", [])
    if points:
        st.session_state["w0"] = round(float(points[0]["x"]), 3)
        st.session_state["b0"] = round(float(points[0]["y"]), 3)


warnings = seed_from_url("cliff", FIELDS)
for f in FIELDS:
    st.session_state.setdefault(f.name, f.default)
if st.session_state["resolution"] not in RESOLUTIONS:
    st.session_state["resolution"] = min(RESOLUTIONS, key=lambda r: abs(r - st.session_state["resolution"]))
if st.session_state["lr"] not in LEARNING_RATES:
    LEARNING_RATES = sorted(LEARNING_RATES + [st.session_state["lr"]])

sb = st.sidebar
sb.header("Start and step")
c1, c2 = sb.columns(2)
c1.number_input("start w", -20.0, 20.0, step=0.1, key="w0", help=CLIFF_FIELDS["w0"].help + " Or click the surface.")
c2.number_input("start b", -20.0, 20.0, step=0.1, key="b0", help=CLIFF_FIELDS["b0"].help + " Or click the surface.")
sb.select_slider("Learning rate", LEARNING_RATES, key="lr", help=CLIFF_FIELDS["lr"].help)
sb.slider("Steps", 1, 200, key="steps", help=CLIFF_FIELDS["steps"].help)
sb.slider("Clipping threshold", 0.05, 10.0, step=0.05, key="clip",
          help="The clipped run rescales the gradient whenever ‖∇E‖ passes this threshold, so no step is "
               "longer than learning rate × threshold.")
sb.header("Surface")
c1, c2 = sb.columns(2)
c1.number_input("w from", -20.0, 20.0, step=0.5, key="w_min")
c2.number_input("w to", -20.0, 20.0, step=0.5, key="w_max")
c1.number_input("b from", -20.0, 20.0, step=0.5, key="b_min")
c2.number_input("b to", -20.0, 20.0, step=0.5, key="b_max")
sb.select_slider("Grid resolution", RESOLUTIONS, key="resolution", help=CLIFF_FIELDS["resolution"].help)
sb.slider("Unrolled steps T", 1, 200, key="seq_len", help=CLIFF_FIELDS["seq_len"].help)
with sb.expander("Network"):
    st.number_input("x_0", -5.0, 5.0, step=0.1, key="x0", help=CLIFF_FIELDS["x0"].help)
    st.number_input("target σ(x_T)", 0.01, 1.0, step=0.05, key="target", help=CLIFF_FIELDS["target"].help)
show = sb.radio("Colour the surface by", ["gradient norm", "loss"], horizontal=True, key="cliff_show")
sync_to_url(FIELDS)

st.title("Loss cliff")
st.caption("Pascanu, Mikolov & Bengio (2013): a single recurrent unit x_t = w·σ(x_{t−1}) + b, unrolled T steps "
           "from x_0, with error E = (σ(x_T) − target)². Where the map x ↦ w·σ(x) + b changes its number of "
           "fixed points, E jumps: the surface has a wall. Click anywhere on it to start gradient descent there.")
show_warnings(warnings)
cfg = build_or_stop(lambda: CliffConfig(**{f.name: st.session_state[f.name] for f in FIELDS}), "draw this surface")

res = compute(cfg)
plain, clipped = res.plain, res.clipped
cols = st.columns(4)
cols[0].metric("Steepest wall ‖∇E‖", sci(float(res.grid.grad_norm.max()), 3))
cols[1].metric("Longest plain step", sci(float(plain.step_length.max()), 3),
               help="Distance in (w, b) covered by the largest single update without clipping.")
cols[2].metric("Longest clipped step", sci(float(clipped.step_length.max()), 3),
               help=f"Never more than learning rate × threshold = {cfg.lr * cfg.clip:.3g}.")
cols[3].metric("Final E: plain / clipped", f"{plain.loss[-1]:.3g} / {clipped.loss[-1]:.3g}")

st.plotly_chart(theory_figs.cliff_surface_figure(res, "grad" if show == "gradient norm" else "loss"),
                key="cliff_surface", on_select=pick_start, selection_mode="points", width="stretch")
left, right = st.columns(2)
left.plotly_chart(theory_figs.trajectory_norms_figure(res), key="cliff_norms", width="stretch")
right.plotly_chart(theory_figs.trajectory_loss_figure(res), key="cliff_loss", width="stretch")

jump = int(plain.step_length.argmax())
st.markdown(
    f"**What happened.** Without clipping, step {jump} met ‖∇E‖ = {sci(float(plain.grad_norm[jump]), 3)} on the wall "
    f"and moved the parameters by {sci(float(plain.step_length[jump]), 3)} in one update. With clipping at "
    f"{cfg.clip:g}, the same gradient only sets the direction: {int(clipped.clipped.sum())} of {len(clipped.clipped)} "
    f"steps were rescaled, none longer than {cfg.lr * cfg.clip:.3g}. The wall is where exploding gradients live: "
    "rare, huge, and harmless once their length is capped.")
st.latex(r"x_t = w\,\sigma(x_{t-1}) + b,\quad E = \big(\sigma(x_T) - 0.7\big)^2,\quad "
         r"g \leftarrow \frac{\tau}{\|g\|}\,g \ \text{ if } \|g\| > \tau")
