"""The command line as a user meets it: flags, strict JSON, exit codes, one-line errors."""
import json
import math
import signal
import subprocess
import sys

import pytest
from conftest import ROOT, run_cli


def test_unroll_json_has_the_contract_keys_and_is_strict():
    out = run_cli("unroll", "--seq-len", "30", "--hidden", "16", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    for key in ("distance", "grad_norm", "bound", "rate", "regime", "overflow", "config"):
        assert key in data
    assert data["distance"] == list(range(30)) and len(data["grad_norm"]) == 30
    assert data["grad_norm"][0] == pytest.approx(1.0)
    assert data["regime"] in ("vanishing", "stable", "exploding")
    assert data["config"]["seq_len"] == 30 and data["config"]["hidden"] == 16
    assert data["overflow"] is None


def test_every_flag_reaches_the_config():
    out = run_cli("unroll", "--cell", "gru", "--activation", "relu", "--init", "orthogonal", "--weight-scale", "0.7",
                  "--seq-len", "12", "--hidden", "8", "--batch", "2", "--input-scale", "0", "--seed", "4",
                  "--clip", "0.5", "--clip-mode", "value", "--dtype", "float64", "--loss-on", "all",
                  "--bias", "0.5", "--h0-scale", "0.2", "--r-min", "0.5", "--r-max", "0.8", "--max-phase", "1",
                  "--lru-norm", "off", "--layers", "2", "--json")
    assert out.returncode == 0, out.stderr
    cfg = json.loads(out.stdout)["config"]
    assert cfg == {"cell": "gru", "activation": "relu", "init": "orthogonal", "weight_scale": 0.7, "seq_len": 12,
                   "hidden": 8, "batch": 2, "input_scale": 0.0, "seed": 4, "clip": 0.5, "clip_mode": "value",
                   "dtype": "float64", "loss_on": "all", "bias": 0.5, "h0_scale": 0.2, "r_min": 0.5, "r_max": 0.8,
                   "max_phase": 1.0, "lru_norm": "off", "layers": 2}


@pytest.mark.parametrize("cell", ["lru", "mingru"])
def test_the_modern_cells_through_the_cli(cell):
    out = run_cli("unroll", "--cell", cell, "--seq-len", "50", "--json")
    data = json.loads(out.stdout)
    assert out.returncode == 0 and data["config"]["cell"] == cell and len(data["grad_norm"]) == 50
    assert data["mean_field_rate"] is None and data["theory"]["curve"] is not None
    assert data["lyapunov"] == sorted(data["lyapunov"], reverse=True) and len(data["lyapunov"]) == 5
    out = run_cli("unroll", "--cell", "lru", "--r-min", "0.9", "--r-max", "0.5")
    assert out.returncode == 2 and out.stderr.startswith("error: --r-max must be at least r_min (0.9)")


def test_closed_form_through_the_cli():
    out = run_cli("unroll", "--activation", "linear", "--init", "orthogonal", "--weight-scale", "0.5",
                  "--seq-len", "6", "--dtype", "float64", "--json")
    data = json.loads(out.stdout)
    assert data["grad_norm"] == pytest.approx([0.5 ** k for k in range(6)], rel=1e-12)
    assert data["rate"] == pytest.approx(0.5) and data["regime"] == "vanishing"


def test_overflow_is_reported_with_nulls_not_nan():
    out = run_cli("unroll", "--activation", "linear", "--init", "orthogonal", "--weight-scale", "3",
                  "--input-scale", "0", "--seq-len", "150", "--json")
    assert out.returncode == 0
    assert "NaN" not in out.stdout and "Infinity" not in out.stdout
    data = json.loads(out.stdout)
    assert data["overflow"]["where"] == "backward" and data["regime"] == "exploding"
    first_null = data["grad_norm"].index(None)
    assert first_null == data["overflow"]["distance"]
    assert all(isinstance(v, float) and math.isfinite(v) for v in data["grad_norm"][:first_null])


def test_human_readable_summary():
    out = run_cli("unroll", "--seq-len", "40")
    assert out.returncode == 0
    assert "regime:" in out.stdout and "after 39 steps back" in out.stdout


@pytest.mark.parametrize("args,fragment", [
    (["--weight-scale", "1000"], "error: --weight-scale must be a number from 0.01 to 100, got '1000'"),
    (["--seq-len", "abc"], "error: --seq-len must be an integer from 1 to 10000, got 'abc'"),
    (["--seq-len", "0"], "error: --seq-len must be an integer from 1 to 10000"),
    (["--cell", "transformer"], "error: --cell must be one of rnn, lstm, gru"),
    (["--clip", "-1"], "error: --clip must be a number greater than 0"),
    (["--dtype", "float16"], "error: --dtype must be one of float32, float64"),
    (["--seq-len", "10000", "--hidden", "1024", "--batch", "256"],
     "error: this unroll is too big: it would need about"),
    (["--no-such-flag"], "error: unrecognized arguments: --no-such-flag"),
])
def test_bad_input_exits_2_with_one_line(args, fragment):
    out = run_cli("unroll", *args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(fragment), out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""


def test_no_command_is_a_usage_error():
    out = run_cli()
    assert out.returncode == 2 and out.stderr.startswith("error: choose a command")


def test_help_lists_flags_with_ranges():
    out = run_cli("unroll", "--help")
    assert out.returncode == 0
    text = " ".join(out.stdout.split())
    assert "--weight-scale" in text and "from 0.01 to 100] (default: 1.0)" in text


def test_a_full_disk_ends_with_one_line_not_a_traceback():
    with open("/dev/full", "w") as full:
        out = subprocess.run([sys.executable, "-m", "core", "unroll", "--seq-len", "2000", "--json"], cwd=ROOT,
                             stdout=full, stderr=subprocess.PIPE, text=True, timeout=300)
    assert out.returncode == 1
    assert out.stderr.strip() == "error: cannot write the output: No space left on device", out.stderr


def test_train_shows_progress_at_once_and_ctrl_c_ends_quietly():
    """A long run prints its first step right away (not after steps // 20), and Ctrl-C stops it with one line."""
    proc = subprocess.Popen([sys.executable, "-m", "core", "train", "--steps", "100000", "--seq-len", "20",
                             "--hidden", "8", "--batch", "8"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        assert first.startswith("step      1  MSE"), first
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and err.strip() == "interrupted" and "Traceback" not in err


def test_train_help_says_what_each_task_scores():
    text = " ".join(run_cli("train", "--help").stdout.split())
    assert "copy:" in text and "cross-entropy over those 5 recall steps only" in text
    assert "T is the total length" in text and "order:" in text and "adding:" in text
