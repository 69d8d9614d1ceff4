"""Every job has a memory and time budget checked up front (core/budget.py): oversized jobs are refused with a
message naming what to lower, the estimates depend on sizes only, and every slider's maximum fits."""
import pytest
from conftest import open_page, run_cli

import core
from core.cliff import CliffConfig
from core.phase import PhaseConfig
from core.training import Race, TrainConfig
from ui import cliff_controls, flow_controls, phase_controls, training_controls

CELLS = list(core.cells.CELLS)


def at_maximum(field):
    """A field's largest value on its page's widget (snapped as the widget would)."""
    value = field.spec.hi
    return field.snap(value) if field.snap is not None else (int(value) if field.spec.kind == "int" else value)


def numeric(fields):
    """The sizes and scales (not the seed, nor r_min, whose maximum needs r_max raised with it)."""
    return [f for f in fields if f.spec.kind in ("int", "float") and not f.name.endswith(("seed", "r_min"))]


@pytest.mark.parametrize("cell", CELLS)
def test_every_gradient_flow_slider_maximum_fits_the_unroll_budget(cell):
    for field in numeric(flow_controls.FIELDS):
        if field.name == "layers" and not core.cells.CELLS[cell].stacks:    # the slider is disabled for this cell
            continue
        core.UnrollConfig(cell=cell, **{field.name: at_maximum(field)})


def test_every_training_slider_maximum_fits_the_step_budget_even_racing():
    for field in numeric(training_controls.FIELDS):
        name = field.name
        for cell in CELLS:
            if name.startswith(("a_", "b_")):
                if name[2:] == "layers" and not core.cells.CELLS[cell].stacks:  # the slider is disabled here
                    continue
                a = TrainConfig(cell=cell, **{name[2:]: at_maximum(field)})
                Race([a, TrainConfig(cell="lstm", seq_len=a.seq_len)])
            else:                                    # shared by both runs
                value = at_maximum(field)
                Race([TrainConfig(cell=cell, **{name: value}), TrainConfig(cell="lstm", **{name: value})])


def test_every_loss_cliff_and_phase_slider_maximum_fits():
    for field in numeric(cliff_controls.FIELDS):
        if not field.name.endswith(("_min", "_max")):     # the plotted ranges are checked for order, not size
            CliffConfig(**{field.name: at_maximum(field)})
    PhaseConfig(s_count=phase_controls.MAX_CELLS_PER_AXIS)
    for axis in ("input_scale", "seq_len", "activation"):
        lo, hi, rows = phase_controls.Y_DEFAULTS[axis]
        top, most = {"input_scale": (phase_controls.UI_MAX_INPUT_SCALE, phase_controls.MAX_CELLS_PER_AXIS),
                     "seq_len": (phase_controls.UI_MAX_SEQ_LEN, phase_controls.UI_MAX_SEQ_LEN_ROWS),
                     "activation": (hi, rows)}[axis]
        PhaseConfig(y_axis=axis, y_min=lo, y_max=top, y_count=rows)
        PhaseConfig(y_axis=axis, y_min=lo, y_max=hi, y_count=most)
    # the network's sliders at their maxima on the default view (on the sequence-length axis, whose every row
    # runs to the longest T, a larger network may be refused with the budget's message)
    for field in numeric(phase_controls.FIELDS):
        if field.name not in ("y_min", "y_max", "y_count", "s_min", "s_max", "s_count"):
            PhaseConfig(**{field.name: at_maximum(field)})


def test_the_reported_oversized_jobs_are_refused_from_the_command_line():
    out = run_cli("train", "--cell", "lstm", "--seq-len", "1000", "--hidden", "512", "--batch", "512")
    assert out.returncode == 2 and out.stderr.startswith("error: this training step is too big")
    assert "lower the sequence length T, the batch or the hidden size" in out.stderr
    out = run_cli("unroll", "--cell", "lstm", "--seq-len", "10000", "--hidden", "1024", "--batch", "2")
    assert out.returncode == 2 and "(the budget is 30 s)" in out.stderr and "Traceback" not in out.stderr
    out = run_cli("cliff", "--resolution", "400", "--seq-len", "200")
    assert out.returncode == 2 and out.stderr.startswith("error: this loss cliff is too big")


def test_a_race_counts_both_runs():
    one = TrainConfig(cell="lstm", seq_len=600, hidden=256, batch=32)
    assert one.step_cost().seconds < core.BUDGETS["training step"].seconds < 2 * one.step_cost().seconds
    Race([one])
    with pytest.raises(core.BudgetError, match="a race trains both runs in every step"):
        Race([one, one])


def test_the_phase_diagram_counts_every_activation_pass():
    """The activation axis runs four batched grids one after another: four times the work of one, the memory
    of one (the old estimate counted the memory and missed the time)."""
    one = PhaseConfig(y_axis="input_scale", y_min=0, y_max=1, y_count=2, s_count=40, seq_len=200)
    four = PhaseConfig(y_axis="activation", s_count=40, seq_len=200)
    assert four.cost().seconds > 1.9 * one.cost().seconds
    assert four.cost().memory_bytes < one.cost().memory_bytes


def test_a_training_link_past_the_budget_is_refused_on_the_page_and_the_page_keeps_working():
    at = open_page("app_pages/training.py", a_cell="lstm", a_hidden="256", batch="256", seq_len="500")
    message = next(e.value for e in at.error if "Cannot train" in e.value)
    assert "too big" in message and "lower the sequence length T, the batch or the hidden size" in message
    at.select_slider(key="training__batch").set_value(8).run()
    assert not at.exception and not at.error
    at.button(key="btn_step").click().run()
    assert "step **1**" in next(m.value for m in at.markdown if " · step **" in m.value)


# ---- the time budget holds while a job runs (core/deadline.py) ----
from core import budget  # noqa: E402
from core.deadline import DeadlineExceeded, within_deadline  # noqa: E402

LONG_UNROLL = core.UnrollConfig(cell="lstm", seq_len=3000, hidden=128, batch=8, dtype="float64")   # ~1 s of CPU


@pytest.mark.parametrize("job, run", [
    ("unroll", lambda: core.unroll(LONG_UNROLL)),
    ("unroll", lambda: core.unroll(core.UnrollConfig(cell="gru", seq_len=3000, hidden=128, batch=8))),
    ("unroll", lambda: core.unroll(core.UnrollConfig(cell="rnn", activation="sigmoid", seq_len=5000, hidden=256,
                                                     batch=16))),
    ("weight-scale sweep", lambda: core.weight_scale_sweep(core.UnrollConfig(seq_len=2000, hidden=128), [1.0] * 40)),
    ("phase diagram", lambda: core.phase_diagram(PhaseConfig(y_axis="activation", s_count=41, seq_len=500))),
    ("loss cliff", lambda: core.cliff(CliffConfig(resolution=300, seq_len=100, steps=200))),
])
def test_a_running_job_stops_at_its_deadline_with_the_budgets_message(job, run):
    with pytest.raises(DeadlineExceeded) as err, budget.deadline(job, seconds=0.02):
        run()
    message = str(err.value)
    assert message.startswith(f"this {job} ran past its time budget of 0.02 s and was stopped; lower ")
    assert message.endswith(budget.LOWER[job])
    assert isinstance(err.value, core.ConfigError)           # the app and the CLI show it as one line


def test_the_deadline_belongs_to_the_thread_that_set_it_and_nothing_is_checked_without_one():
    import threading
    steps = range(10)
    assert within_deadline(steps) is steps                   # no deadline: the loop is the plain range
    outcome = {}
    with budget.deadline("unroll", seconds=0.0):             # passed at once, in this thread only …
        t = threading.Thread(target=lambda: outcome.setdefault("other", core.unroll(core.UnrollConfig())))
        t.start()
        t.join(60)
        with pytest.raises(DeadlineExceeded):
            core.unroll(core.UnrollConfig())
    assert outcome["other"].grad_norm.shape == (100,)        # … another thread's job ran to its end
    assert core.unroll(core.UnrollConfig()).grad_norm.shape == (100,)


def test_a_training_step_past_its_budget_pauses_the_run_with_the_budgets_message(monkeypatch):
    from serve.admission import Admission
    from serve.runner import Runner
    runner = Runner(Race([TrainConfig(seq_len=200, hidden=64, batch=32)]), Admission(slots=1))
    monkeypatch.setattr("serve.runner.scale", lambda: 1e-6)   # the step's budget: microseconds
    runner.step()
    assert runner.over_budget.startswith("this training step ran past its time budget of ")
    assert runner.over_budget.endswith("lower the sequence length T, the batch or the hidden size")
    assert runner.status == "paused" and runner.error is None
