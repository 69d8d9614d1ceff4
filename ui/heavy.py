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


def computed(name: str, cfg: Any, compute: Callable[[], Any]) -> Any:
    """compute() for this (name, cfg), shared with every session (each config is computed once and never twice
    at once); while it waits for a worker the page says so."""
    status = st.empty()

    def on_wait(ahead: int, running: int) -> None:
        status.info(wait_message(ahead, running), icon=":material/hourglass_top:")
    try:
        return SHARED.get((name, repr(cfg)), compute, on_wait)
    finally:
        status.empty()
