"""Each setting is declared once: the sidebars' widgets take their label, range and help from the declaration, and
a cell's own settings are declared only in its module."""
import ast

import pytest
from conftest import ROOT, open_page

from core.cells import CELLS, lru
from core.cliff import CLIFF_FIELDS, LEARNING_RATES
from core.config import UNROLL_FIELDS, WEIGHT_SCALES, UnrollConfig
from core.phase import PHASE_FIELDS, Y_AXES, Y_LIMITS, Y_SETTINGS, PhaseConfig
from core.training import TRAIN_FIELDS, TrainConfig
from ui import cliff_controls, flow_controls, phase_controls, training_controls

KINDS = ("slider", "select_slider", "number_input", "selectbox", "radio", "toggle")


def sidebar_widgets(at, prefix: str) -> dict:
    """The sidebar's setting widgets by key, without the page's prefix."""
    found = {}
    for kind in KINDS:
        for w in getattr(at.sidebar, kind):
            if w.key and w.key.startswith(prefix):
                found[w.key[len(prefix):]] = (kind, w)
    return found


def assert_drawn_from(spec, kind: str, widget, options=None) -> None:
    """`options`: the values a control offers where they are computed at run time (its declaration has none)."""
    assert kind == spec.widget
    assert widget.label == spec.label
    assert widget.help == (spec.ui_help or spec.help)
    if kind in ("slider", "number_input"):
        assert (widget.min, widget.max) == spec.ui_range()
        if spec.step is not None:
            assert widget.step == spec.step
        if spec.fmt is not None:
            assert widget.proto.format == spec.fmt
    elif kind == "select_slider":
        assert list(widget.options) == [spec.show(o) for o in (spec.ui_options if options is None else options)]
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


@pytest.mark.parametrize("task, cell", [("xor", "lru"), ("digits", "lru"), ("adding", "lstm")])
def test_every_training_lab_widget_is_drawn_from_its_declaration(task, cell):
    at = open_page("app_pages/training.py", race="true", a_cell=cell, b_cell="mingru", task=task)
    widgets = sidebar_widgets(at, "training__")
    drawn = {name.removeprefix("a_").removeprefix("b_") for name in widgets}
    only_lstm, only_lru = {"forget_bias"}, set(CELLS["lru"].settings)     # drawn for those cells' runs only
    assert (only_lstm <= drawn) == (cell == "lstm") and (only_lru <= drawn) == (cell == "lru")
    assert set(training_controls.RUN_FIELDS) - only_lstm - only_lru <= drawn
    assert set(training_controls.SHARED) - {"delay", "pixel_order", "perm_seed"} <= drawn
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


def phase_spec(name: str, y_axis: str):
    """A Phase diagram setting's declaration: the y range and rows have one per y axis."""
    return Y_SETTINGS[y_axis][name].spec if name in phase_controls.Y_NAMES else PHASE_FIELDS[name]


@pytest.mark.parametrize("y_axis", Y_AXES)
def test_every_phase_diagram_widget_is_drawn_from_its_declaration(y_axis):
    y_range = {"input_scale": {"y_min": "0.5", "y_max": "2", "y_count": "4"},
               "seq_len": {"y_min": "10", "y_max": "60", "y_count": "4"}}.get(y_axis, {})
    at = open_page("app_pages/phase.py", y_axis=y_axis, s_min="0.5", s_max="2", s_count="9", seq_len="30",
                   **y_range)
    widgets = sidebar_widgets(at, "phase__")
    shown = {f.name for f in phase_controls.FIELDS} - {y_axis} - (set() if y_axis in Y_SETTINGS else
                                                                  set(phase_controls.Y_NAMES))
    assert set(widgets) == shown                           # every setting but the one on the y axis
    # the grid sizes that keep every cell on the Gradient flow page's slider values are computed from the ranges
    s_min, s_max = (at.select_slider(key=f"phase__{n}").value for n in ("s_min", "s_max"))
    span = WEIGHT_SCALES.index(s_max) - WEIGHT_SCALES.index(s_min)
    assert span == 24                                      # 0.501 to 2 (0.5 is snapped onto the slider's 0.501)
    computed = {"s_count": phase_controls.aligned_counts(span, PHASE_FIELDS["s_count"].hi)}
    if y_axis == "input_scale":
        step = Y_SETTINGS[y_axis]["y_min"].spec.step
        computed["y_count"] = phase_controls.aligned_counts(round(1.5 / step), PHASE_FIELDS["y_count"].hi)
    for name, (kind, widget) in widgets.items():
        assert_drawn_from(phase_spec(name, y_axis), kind, widget, computed.get(name))
    for field in phase_controls.FIELDS:                    # the URL accepts exactly the widget's range
        spec = PHASE_FIELDS[field.name]
        if field.spec.kind in ("int", "float") and (spec.ui_options or spec.ui_hi is not None):
            assert (field.spec.lo, field.spec.hi) == spec.ui_range()


def test_each_phase_y_axis_declares_its_range_rows_and_defaults_once():
    assert phase_controls.Y_DEFAULTS["input_scale"] == tuple(getattr(PhaseConfig(), n) for n in phase_controls.Y_NAMES)
    for y_axis, own in Y_SETTINGS.items():
        assert set(own) == set(phase_controls.Y_NAMES)
        assert phase_controls.Y_DEFAULTS[y_axis] == tuple(own[n].default for n in phase_controls.Y_NAMES)
        assert phase_controls.UI_Y_LIMITS[y_axis] == own["y_min"].spec.ui_range() == own["y_max"].spec.ui_range()
        assert Y_LIMITS[y_axis] == (own["y_min"].spec.lo, own["y_min"].spec.hi)
        PhaseConfig(y_axis=y_axis, **{n: s.default for n, s in own.items()})      # the defaults make a grid


def test_every_loss_cliff_widget_is_drawn_from_its_declaration():
    at = open_page("app_pages/cliff.py", resolution="50", lr="0.25", w0="2.3456", b0="-1.2345")
    widgets = sidebar_widgets(at, "cliff__")
    assert set(widgets) == set(CLIFF_FIELDS) | {"show"}
    for name, (kind, widget) in widgets.items():
        spec = cliff_controls.SHOW_SPEC if name == "show" else CLIFF_FIELDS[name]
        # a link's learning rate joins the slider's rates as it is
        options = sorted({*LEARNING_RATES, 0.25}) if name == "lr" else None
        assert_drawn_from(spec, kind, widget, options)
    assert at.select_slider(key="cliff__lr").value == 0.25
    # the start point is kept as the link (or a click on the surface) gives it, not moved onto the inputs' step
    assert (at.number_input(key="cliff__w0").value, at.number_input(key="cliff__b0").value) == (2.3456, -1.2345)
    for field in cliff_controls.FIELDS:
        spec = CLIFF_FIELDS.get(field.name)
        if spec is not None and spec.kind in ("int", "float") and not spec.ui_open and (
                spec.ui_options or spec.ui_lo is not None or spec.ui_hi is not None):
            assert (field.spec.lo, field.spec.hi) == spec.ui_range()
    lr = next(f for f in cliff_controls.FIELDS if f.name == "lr")
    assert lr.spec is CLIFF_FIELDS["lr"] and lr.snap is None   # any valid rate, as it is


@pytest.mark.parametrize("path", ["app_pages/gradient_flow.py", "app_pages/training.py", "app_pages/cliff.py",
                                  "app_pages/phase.py", "ui/flow_controls.py", "ui/training_controls.py",
                                  "ui/cliff_controls.py", "ui/phase_controls.py", "ui/phase_state.py"])
def test_the_pages_settings_are_drawn_only_from_their_declarations(path):
    """No setting's widget is written out by hand (label, range, help) on these pages: control() draws them."""
    tree = ast.parse((ROOT / path).read_text())
    calls = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Attribute) and node.func.attr in KINDS
             and any(k.arg == "key" and isinstance(k.value, ast.Call) for k in node.keywords)]
    assert not calls, f"{path} draws a setting's widget itself on lines {calls}"
