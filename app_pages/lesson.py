"""Lesson: the argument in numbered steps for a class (ui/lesson_steps.py), one talking point, one question and
one live chart at presentation size each, what was measured, a link into the lab; Previous / Next, and the keys
a presenter's clicker sends (the step is in the URL: /lesson?step=3)."""
import streamlit as st

import core
from ui import lesson_return
from ui.lesson_steps import STATE, STEPS, Step
from ui.links import page_link
from ui.live_chart import chart
from ui.present import fit_height, presenting
from ui.url import copy_link_popover, show_warnings

CHART_PX = 480
PRESENT_CHART_PX = 500         # inside 1024×768 and 1280×720 under the step's title

# The keys a presenter's clicker sends (PageDown / PageUp, → / ←, Space) press Next / Previous: ui/a11y.py.


def go_to(step: int) -> None:
    STATE["step"] = min(max(step, 1), len(STEPS))


def step_navigation(n: int) -> None:
    """Previous / Next, the step slider and the step's own link."""
    nav = st.container(horizontal=True, vertical_alignment="center", key="lesson_nav")
    nav.button("Previous", icon=":material/arrow_back:", on_click=go_to, args=(n - 1,), disabled=n == 1,
               key="prev", help="The step before (PageUp or ←).")
    nav.button("Next", icon=":material/arrow_forward:", on_click=go_to, args=(n + 1,), disabled=n == len(STEPS),
               type="primary", key="next", help="The next step (PageDown, → or Space).")
    nav.select_slider("Step", list(range(1, len(STEPS) + 1)), key=STATE.key("step"), label_visibility="collapsed",
                      format_func=lambda i: f"{i}", help="Jump to a step of the lesson.", width=220)
    nav.markdown(f"**Step {n} of {len(STEPS)}**")
    STATE.end()
    with nav:
        copy_link_popover({"step": str(n)} if n != 1 else {})


def step_text(n: int, step: Step) -> None:
    """The talking point, what was measured, the question, and the link into the lab."""
    st.markdown(step.point)
    st.markdown(f"*{step.measured()}*")
    st.info(f"**Ask the class:** {step.question}", icon=":material/forum:")
    page, label, values = step.link
    page_link(st, page, {**values, **lesson_return.link_params(n)}, label=label, icon=":material/open_in_new:")


def step_chart(container, n: int, step: Step) -> None:
    try:
        fig = step.figure()
    except core.ConfigError as err:            # a budget refused it (GFL_BUDGET_SCALE set low by an operator)
        container.error(f"Cannot draw this step's chart: {err}.", icon=":material/block:")
    else:
        chart(fit_height(fig, PRESENT_CHART_PX if presenting() else CHART_PX), key=f"lesson_{n}",
              container=container)


def lesson_page() -> None:
    warnings = STATE.begin()
    if not presenting():               # on a projector the step's own title is the heading
        st.title("Lesson: why recurrent networks forget")
    show_warnings(warnings)
    n = STATE["step"]
    step_navigation(n)
    step = STEPS[n - 1]
    st.header(f"{n}. {step.title}", anchor=False)
    chart_col, text_col = st.columns([1.45, 1], gap="medium")
    with text_col:
        step_text(n, step)
    step_chart(chart_col, n, step)


if __name__ == "__main__":             # run by Streamlit as the page (ui/nav.py)
    lesson_page()
