"""Heavy work from a page: through the process's one admission point and its shared results
(core/admission.py), with a visible status while a job waits."""
from __future__ import annotations

from typing import Any, Callable

import streamlit as st

from core.admission import ADMISSION, SHARED


def wait_message(ahead: int, running: int) -> str:
    if ahead < 0:
        return "Another visitor is computing exactly this view: sharing their result…"
    return (f"Waiting for a free worker: {ahead} ahead of you in the queue ({running} of {ADMISSION.slots} "
            "workers busy). The page fills in as soon as it is your turn.")


LIGHT_SECONDS = 0.1          # estimated cost under which a job skips the queue (it would wait longer than it runs)


def computed(name: str, cfg: Any, compute: Callable[[], Any], seconds: float | None = None) -> Any:
    """compute() for this (name, cfg), shared with every session (each config is computed once and never twice
    at once); while it waits for a worker the page says so. `seconds`: the job's estimated cost (core/budget.py);
    below LIGHT_SECONDS it runs at once."""
    status = st.empty()

    def on_wait(ahead: int, running: int) -> None:
        status.info(wait_message(ahead, running), icon=":material/hourglass_top:")
    try:
        return SHARED.get((name, repr(cfg)), compute, on_wait,
                          light=seconds is not None and seconds < LIGHT_SECONDS)
    finally:
        status.empty()
