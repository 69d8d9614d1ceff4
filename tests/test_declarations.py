"""Each setting is declared once: the sidebars' widgets take their label, range and help from the declaration, and
a cell's own settings are declared only in its module."""
import ast

import pytest
from conftest import ROOT, open_page

from core.cells import CELLS, lru
from core.config import UNROLL_FIELDS, UnrollConfig
from core.training import TRAIN_FIELDS, TrainConfig
from ui import flow_controls, training_controls

KINDS = ("slider", "select_slider", "number_input", "selectbox", "radio", "toggle")


def sidebar_widgets(at, prefix: str) -> dict:
    """The sidebar's setting widgets by key, without the page's prefix."""
    found = {}
    for kind in KINDS:
        for w in getattr(at.sidebar, kind):
            if w.key and w.key.startswith(prefix):
                found[w.key[len(prefix):]] = (kind, w)
    return found


def assert_drawn_from(spec, kind: str, widget) -> None:
    assert kind == spec.widget
    assert widget.label == spec.label
    assert widget.help == (spec.ui_help or spec.help)
    if kind in ("slider", "number_input"):
        assert (widget.min, widget.max) == spec.ui_range()
        if spec.step is not None:
            assert widget.step == spec.step
    elif kind == "select_slider":
        assert list(widget.options) == [spec.show(o) for o in spec.ui_options]
    elif kind in ("selectbox", "radio"):
        assert list(widget.options) == [spec.show(o) for o in spec.choices]


def test_every_gradient_flow_widget_is_drawn_from_its_declaration():
    at = open_page("app_pages/gradient_flow.py", cell="lru")
    widgets = sidebar_widgets(at, "flow__")
    page_specs = {f.name: f.spec for f in flow_controls.PAGE_FIELDS}
    assert set(UNROLL_FIELDS) <= set(widgets)              # every network setting has its widget (the LRU's too)
    for name, (kind, widget) in widgets.items():
        assert_drawn_from(UNROLL_FIELDS.get(name) or page_specs[name], kind, widget)
    for field in flow_controls.FIELDS:                     # and the URL accepts exactly the widget's range
        if field.spec.kind in ("int", "float"):
            assert (field.spec.lo, field.spec.hi) == UNROLL_FIELDS[field.name].ui_range()


@pytest.mark.parametrize("task", ["xor", "digits"])
def test_every_training_lab_widget_is_drawn_from_its_declaration(task):
    at = open_page("app_pages/training.py", race="true", a_cell="lru", b_cell="mingru", task=task)
    widgets = sidebar_widgets(at, "training__")
    drawn = {name.removeprefix("a_").removeprefix("b_") for name in widgets}
    assert set(training_controls.RUN_FIELDS) <= drawn and set(training_controls.SHARED) - {"delay", "pixel_order",
                                                                                             "perm_seed"} <= drawn
    for name, (kind, widget) in widgets.items():
        run_setting = name[:2] in ("a_", "b_")
        spec = training_controls.RACE if name == "race" else TRAIN_FIELDS[name[2:] if run_setting else name]
        assert_drawn_from(spec, kind, widget)


def test_the_lru_settings_are_declared_only_in_its_module():
    names = set(lru.SETTINGS)
    assert names == set(CELLS["lru"].settings) == {"r_min", "r_max", "max_phase", "lru_norm"}
    for name, setting in lru.SETTINGS.items():           # the configs, the CLI and the pages carry these objects
        assert UNROLL_FIELDS[name] is setting.spec and TRAIN_FIELDS[name] is setting.spec
        assert getattr(UnrollConfig(), name) == getattr(TrainConfig(), name) == setting.default
    assert UnrollConfig(cell="lru", r_min=0.5).r_min == 0.5
    sources = [p for d in ("core", "ui", "app_pages") for p in (ROOT / d).rglob("*.py")] + [ROOT / "app.py"]
    for path in sources:
        if path == ROOT / "core" / "cells" / "lru.py":
            continue
        strings = {node.value for node in ast.walk(ast.parse(path.read_text()))
                   if isinstance(node, ast.Constant) and isinstance(node.value, str)}
        assert not names & strings, f"{path.relative_to(ROOT)} names an LRU setting"
