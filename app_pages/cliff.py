"""Loss cliff: Pascanu's one-unit network, its loss surface, and one gradient step too many."""
import streamlit as st

from core.cliff import CLIFF_FIELDS, CliffConfig, cliff
from ui import theory_figs
from ui.cliff_controls import CLIP_STEP, LEARNING_RATES, MAX_STEPS, RESOLUTIONS, SHOW, STATE
from ui.heavy import computed
from ui.live_chart import chart
from ui.text import cliff_story, sci
from ui.url import build_or_stop, show_warnings

key = STATE.key


def compute(cfg: CliffConfig):
    return computed("cliff", cfg, lambda: cliff(cfg))


def pick_start():
    """A click on the surface moves the start point there."""
    points = st.session_state["cliff_surface"].selection.get("points", [])
    if points:
        st.session_state[key("w0")] = round(float(points[0]["x"]), 3)
        st.session_state[key("b0")] = round(float(points[0]["y"]), 3)


def sidebar(learning_rates: list[float]) -> None:
    sb = st.sidebar
    sb.header("Start and step")
    c1, c2 = sb.columns(2)
    c1.number_input("start w", -20.0, 20.0, step=0.1, key=key("w0"),
                    help=CLIFF_FIELDS["w0"].help + " Or click the surface.")
    c2.number_input("start b", -20.0, 20.0, step=0.1, key=key("b0"),
                    help=CLIFF_FIELDS["b0"].help + " Or click the surface.")
    sb.select_slider("Learning rate", learning_rates, key=key("lr"), format_func=lambda v: f"{v:g}",
                     help=CLIFF_FIELDS["lr"].help)
    sb.slider("Steps", 1, MAX_STEPS, key=key("steps"), help=CLIFF_FIELDS["steps"].help)
    sb.slider("Clipping threshold", CLIP_STEP, 10.0, step=CLIP_STEP, key=key("clip"),
              help="The clipped run rescales the gradient whenever ‖∇E‖ passes this threshold, so no step is "
                   "longer than learning rate × threshold.")
    sb.header("Surface")
    c1, c2 = sb.columns(2)
    c1.number_input("w from", -20.0, 20.0, step=0.5, key=key("w_min"), help=CLIFF_FIELDS["w_min"].help)
    c2.number_input("w to", -20.0, 20.0, step=0.5, key=key("w_max"), help=CLIFF_FIELDS["w_max"].help)
    c1.number_input("b from", -20.0, 20.0, step=0.5, key=key("b_min"), help=CLIFF_FIELDS["b_min"].help)
    c2.number_input("b to", -20.0, 20.0, step=0.5, key=key("b_max"), help=CLIFF_FIELDS["b_max"].help)
    sb.select_slider("Grid resolution", RESOLUTIONS, key=key("resolution"), help=CLIFF_FIELDS["resolution"].help)
    sb.slider("Unrolled steps T", 1, 200, key=key("seq_len"), help=CLIFF_FIELDS["seq_len"].help)
    with sb.expander("Network"):
        st.number_input("x_0", -5.0, 5.0, step=0.1, key=key("x0"), help=CLIFF_FIELDS["x0"].help)
        st.number_input("target σ(x_T)", 0.01, 1.0, step=0.05, key=key("target"), help=CLIFF_FIELDS["target"].help)
    sb.radio("Colour the surface by", list(SHOW), format_func=SHOW.get, horizontal=True, key=key("show"),
             help="Gradient norm (log colour) shows the wall as a bright ridge; the loss shows the jump in E "
                  "across it.")


def metrics(cfg: CliffConfig, res) -> None:
    """The steepest wall, the longest steps with and without clipping, and where each descent ends."""
    plain, clipped = res.plain, res.clipped
    cols = st.columns(4)
    cols[0].metric("Steepest wall ‖∇E‖", sci(float(res.grid.grad_norm.max()), 3))
    cols[1].metric("Longest plain step", sci(float(plain.step_length.max(initial=0.0)), 3),
                   help="Distance in (w, b) covered by the largest single update without clipping.")
    cols[2].metric("Longest clipped step", sci(float(clipped.step_length.max(initial=0.0)), 3),
                   help=f"Never more than learning rate × threshold = {cfg.lr * cfg.clip:.3g}.")
    cols[3].metric("Final E: plain / clipped", f"{plain.loss[-1]:.3g} / {clipped.loss[-1]:.3g}")


def cliff_page() -> None:
    warnings = STATE.begin()
    # A learning rate from a link that is not on the slider joins its options rather than being changed.
    sidebar(sorted(set(LEARNING_RATES) | {st.session_state[key("lr")]}))
    values = STATE.end()
    show = values.pop("show")
    st.title("Loss cliff")
    st.caption("Pascanu, Mikolov & Bengio (2013): a single recurrent unit xₜ = w·σ(xₜ₋₁) + b, unrolled T steps "
               "from x_0, with error E = (σ(x_T) − target)². Where the map x ↦ w·σ(x) + b changes its number of "
               "fixed points, E jumps: the surface has a wall. Click anywhere on it to start gradient descent there.")
    show_warnings(warnings)
    cfg = build_or_stop(lambda: CliffConfig(**values), "draw this surface")
    res = compute(cfg)
    metrics(cfg, res)
    chart(theory_figs.cliff_surface_figure(res, show), key="cliff_surface", on_select=pick_start,
          selection_mode="points")
    left, right = st.columns(2)
    chart(theory_figs.trajectory_norms_figure(res), key="cliff_norms", container=left)
    chart(theory_figs.trajectory_loss_figure(res), key="cliff_loss", container=right)
    if len(res.plain.step_length):
        st.markdown(cliff_story(res))
    st.latex(r"x_t = w\,\sigma(x_{t-1}) + b,\quad E = \big(\sigma(x_T) - " + f"{cfg.target:g}" + r"\big)^2,\quad "
             r"g \leftarrow \frac{\tau}{\|g\|}\,g \ \text{ if } \|g\| > \tau")


if __name__ == "__main__":             # run by Streamlit as the page (ui/nav.py)
    cliff_page()
