"""Loss cliff: Pascanu's one-unit network, its loss surface, and one gradient step too many."""
import streamlit as st

from core.cliff import CliffConfig, cliff
from ui import theory_figs
from ui.cliff_controls import STATE, cliff_controls
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
    cliff_controls(st.sidebar)
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
