"""Every control of every page explains itself: a help tooltip on each widget (AppTest)."""
import pytest
from conftest import open_page

WIDGETS = ["button", "checkbox", "date_input", "download_button", "multiselect", "number_input", "radio",
           "select_slider", "selectbox", "slider", "text_area", "text_input", "toggle"]
VIEWS = [
    ("app_pages/gradient_flow.py", {}),
    ("app_pages/gradient_flow.py", {"cell": "lstm", "clip": "1"}),
    ("app_pages/training.py", {"race": "true"}),
    ("app_pages/training.py", {"seq_len": "20", "a_hidden": "8", "batch": "8"}),
    ("app_pages/cliff.py", {"resolution": "50"}),
    ("app_pages/phase.py", {"s_count": "9", "y_count": "5", "seq_len": "30"}),
    ("app_pages/phase.py", {"s_count": "9", "y_axis": "seq_len", "y_min": "10", "y_max": "100", "y_count": "4"}),
    ("app_pages/phase.py", {"s_count": "9", "y_axis": "activation", "seq_len": "30"}),
    ("app_pages/your_network.py", {"seq_len": "30"}),
    ("app_pages/your_network.py", {"view": "replay"}),
]


@pytest.mark.parametrize("page,params", VIEWS)
def test_every_control_has_a_tooltip(page, params):
    at = open_page(page, **params)
    if page.endswith("training.py") and "seq_len" in params:
        at.button(key="btn_step").click().run()              # the download buttons appear after a step
    missing = []
    for kind in WIDGETS:
        for widget in at.get(kind):
            label = getattr(widget, "label", None) or getattr(widget.proto, "label", "?")
            if not (getattr(widget, "help", None) or getattr(widget.proto, "help", "")):
                missing.append(f"{kind} {label!r}")
    assert not missing, missing
