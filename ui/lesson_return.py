"""The way back to the lesson: a lab link of a lesson step carries `lesson=<step>`; the page it opens shows
"Back to the lesson, step n" at the top until the lesson is open again (kept in the session, because each
page writes its own settings into its URL and drops what it does not read)."""
from __future__ import annotations

import streamlit as st

from ui import present
from ui.links import page_link
from ui.nav import LESSON

PARAM = "lesson"
KEY = "_lesson_return"


def link_params(step: int) -> dict[str, str]:
    """What a lesson step adds to its lab link."""
    return {PARAM: str(step)}


def begin(on_lesson: bool, steps: int) -> None:
    """Before the page: remember the step a link came from (and take it out of the URL); on another page, the
    link back to it. On the lesson itself the way back is no longer needed."""
    raw = st.query_params.get(PARAM)
    if raw is not None:
        del st.query_params[PARAM]
        if raw.isdigit() and 1 <= int(raw) <= steps:
            st.session_state[KEY] = int(raw)
    if on_lesson:
        st.session_state.pop(KEY, None)
        return
    step = st.session_state.get(KEY)
    if step is not None:
        page_link(st, LESSON, {"step": step, **present.url_params()}, label=f"Back to the lesson, step {step}",
                  icon=":material/arrow_back:")
