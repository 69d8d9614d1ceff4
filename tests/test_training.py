"""Training lab engine: tasks, clipping invariants, divergence, the loop against a plain loop."""
import contextlib
import json
import threading
from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import run_cli

from core.config import ConfigError
from core.tasks import (
    COPY_LENGTH,
    COPY_SYMBOLS,
    ORDER_END,
    ORDER_START,
    ORDER_X,
    ORDER_Y,
    TASKS,
    adding_batch,
    copy_batch,
    order_batch,
    order_positions,
)
from core.training import Batches, Model, Race, TrainConfig, Trainer, probe_distances, train

TINY = dict(seq_len=20, hidden=8, batch=16, probe_every=5)


def test_adding_batches_mark_one_number_in_each_half_and_sum_them():
    x, y = adding_batch(50, 256, torch.Generator().manual_seed(0))
    assert x.shape == (50, 256, 2) and y.shape == (256, 1)
    markers = x[..., 1]
    assert torch.all(markers.sum(0) == 2)
    assert torch.all(markers[:25].sum(0) == 1) and torch.all(markers[25:].sum(0) == 1)
    torch.testing.assert_close((x[..., 0] * markers).sum(0, keepdim=True).T, y)


def test_adding_baseline_is_the_mse_of_always_answering_one():
    _, y = adding_batch(100, 200_000, torch.Generator().manual_seed(1))
    assert float(((y - 1) ** 2).mean()) == pytest.approx(1 / 6, rel=0.01)
    assert TASKS["adding"].baseline == pytest.approx(1 / 6)


def test_copy_batches_and_their_baseline():
    x, y = copy_batch(30, 64, torch.Generator().manual_seed(2))
    assert x.shape == (30, 64, COPY_SYMBOLS + 2) and y.shape == (COPY_LENGTH, 64)
    codes = x.argmax(-1)
    assert torch.equal(codes[:COPY_LENGTH], y)
    assert torch.all(codes[30 - COPY_LENGTH - 1] == COPY_SYMBOLS + 1)      # the go marker
    uniform = torch.zeros(COPY_LENGTH, 64, COPY_SYMBOLS)                     # equal logits = a uniform guess
    assert float(TASKS["copy"].loss(uniform, y)) == pytest.approx(TASKS["copy"].baseline)


@pytest.mark.parametrize("seq_len", [10, 11, 37, 100, 1000])
def test_temporal_order_batches_hide_two_symbols_in_the_second_and_sixth_tenth(seq_len):
    x, y = order_batch(seq_len, 512, torch.Generator().manual_seed(3))
    assert x.shape == (seq_len, 512, ORDER_END + 1) and y.shape == (512,)
    codes = x.argmax(-1)
    assert torch.all(codes[0] == ORDER_START) and torch.all(codes[-1] == ORDER_END)
    relevant = (codes == ORDER_X) | (codes == ORDER_Y)
    assert torch.all(relevant.sum(0) == 2)
    first, second = order_positions(seq_len)
    where = relevant.nonzero()                                   # (time, sequence), sorted by time
    for col in range(512):
        t1, t2 = sorted(where[where[:, 1] == col, 0].tolist())
        assert t1 in first and t2 in second and 0 < t1 < t2 < seq_len - 1
        assert int(y[col]) == 2 * int(codes[t1, col] == ORDER_Y) + int(codes[t2, col] == ORDER_Y)
    counts = torch.bincount(y, minlength=4).float() / 512
    assert torch.all((counts > 0.18) & (counts < 0.32))          # four equally likely classes


def test_temporal_order_baseline_is_a_uniform_guess():
    _, y = order_batch(50, 64, torch.Generator().manual_seed(4))
    assert float(TASKS["order"].loss(torch.zeros(1, 64, 4), y)) == pytest.approx(TASKS["order"].baseline)
    with pytest.raises(ConfigError, match="seq_len must be at least 10 for the order task"):
        TrainConfig(task="order", seq_len=9)


def test_an_lstm_learns_temporal_order_at_short_range_on_most_seeds():
    """A claim about learning, so it is made over seeds and with a wide margin: one seed's trajectory
    depends on the CPU's floating-point kernels (seed 0 at T = 20 ended at 0.74 on one machine, 0.12 on
    another). At T = 12 every one of seeds 0-7 reached ~0.001 on two machines; the test asks for the
    median of five seeds to be under a quarter of the chance level ln 4."""
    finals = []
    for seed in range(5):
        cfg = TrainConfig(task="order", seq_len=12, hidden=32, cell="lstm", lr=1e-2, seed=seed)
        losses = [r.loss for r in train(cfg, steps=300)]
        finals.append(float(np.mean(losses[-20:])))
    assert np.median(finals) < TASKS["order"].baseline / 4, finals


@pytest.mark.parametrize("cell", ["mingru", "lru"])
def test_the_modern_cells_learn_the_adding_problem_on_most_seeds(cell):
    """minGRU and the LRU were built to keep the gradient alive: at T = 30 both learn the adding problem in
    300 steps (median of five seeds under a quarter of the always-answer-one baseline; here minGRU's seeds
    end at 0.02-0.03, the LRU's at 0.001-0.009 but one seed of five stuck at 0.26)."""
    finals = []
    for seed in range(5):
        cfg = TrainConfig(task="adding", seq_len=30, hidden=32, batch=64, cell=cell, lr=1e-2, seed=seed)
        finals.append(float(np.mean([r.loss for r in train(cfg, steps=300)][-20:])))
    assert np.median(finals) < TASKS["adding"].baseline / 4, finals


@pytest.mark.parametrize("cell", ["mingru", "lru"])
def test_a_modern_cell_races_an_lstm_on_the_same_batches(cell):
    race = Race([TrainConfig(cell=cell, **TINY), TrainConfig(cell="lstm", **TINY)])
    race.advance(max_steps=4)
    alone = [r.loss for r in train(TrainConfig(cell=cell, **TINY), steps=4)]
    np.testing.assert_allclose(race.histories[0].column("loss"), alone, rtol=1e-6)
    assert race.histories[0].probes()[1].shape[0] == TINY["seq_len"]


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_engine_loop_matches_a_plain_pytorch_loop(cell):
    cfg = TrainConfig(cell=cell, clip=0.5, **TINY)
    engine = [r.loss for r in train(cfg, steps=8)]
    model = Model(cfg)                                  # same seed: same initial weights
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    batches = Batches(cfg.task, cfg.seq_len, cfg.batch, cfg.seed)
    plain = []
    for _ in range(8):
        x, y = batches.next()
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x)[-1], y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        opt.step()
        plain.append(loss.item())
    np.testing.assert_allclose(engine, plain, rtol=1e-6)


@pytest.mark.parametrize("threshold", [0.05, 0.5, 5.0])
def test_clipping_by_norm_never_exceeds_the_threshold_and_flags_exactly(threshold):
    cfg = TrainConfig(cell="rnn", init="gaussian", weight_scale=1.5, clip=threshold, **TINY)
    records = list(train(cfg, steps=30))
    for r in records:
        assert r.grad_norm_clipped <= threshold * (1 + 1e-6)
        assert r.clipped == (r.grad_norm > threshold)
        if not r.clipped:
            assert r.grad_norm_clipped == pytest.approx(r.grad_norm)


def test_clipping_by_value_bounds_every_entry():
    cfg = TrainConfig(cell="gru", clip=0.01, clip_mode="value", **TINY)
    trainer = Trainer(cfg)
    x, y = Batches(cfg.task, cfg.seq_len, cfg.batch, cfg.seed).next()
    record = trainer.step(x, y)
    assert record.clipped
    assert all(float(p.grad.abs().max()) <= 0.01 + 1e-9 for p in trainer.params)
    assert record.grad_norm_clipped < record.grad_norm


def test_no_clipping_reports_the_same_norm_before_and_after():
    records = list(train(TrainConfig(clip=None, **TINY), steps=3))
    assert all(not r.clipped and r.grad_norm == r.grad_norm_clipped for r in records)


def test_divergence_stops_training_and_keeps_the_weights_finite():
    cfg = TrainConfig(cell="rnn", activation="relu", init="identity", weight_scale=3.0, optimizer="sgd", lr=1.0,
                      clip=None, seq_len=60, hidden=8, batch=8)
    records = list(train(cfg, steps=50))
    assert not records[-1].finite and all(r.finite for r in records[:-1])
    race = Race([cfg])
    race.advance(max_steps=50)
    assert race.diverged == [records[-1].step]
    assert race.steps == len(records)
    assert all(torch.isfinite(p).all() for p in race.trainers[0].params)   # the bad update was not applied


def test_in_a_race_the_healthy_run_can_go_on_after_the_other_diverges():
    exploding = TrainConfig(cell="rnn", activation="relu", init="identity", weight_scale=3.0, optimizer="sgd",
                            lr=1.0, clip=None, seq_len=60, hidden=8, batch=8)
    lstm = replace(exploding, cell="lstm", init="pytorch", optimizer="adam", lr=1e-3, clip=1.0)
    race = Race([lstm, exploding])
    taken = race.advance(max_steps=50)
    stop = race.diverged[1]
    assert stop is not None and taken == stop and race.diverged[0] is None     # paused at the divergence
    assert race.live and race.steps == stop
    assert race.advance(max_steps=5) == 5
    assert len(race.histories[0].records) == stop + 5 and len(race.histories[1].records) == stop
    assert race.steps == stop + 5
    alone = [r.loss for r in train(lstm, steps=stop + 5)]                    # the same batches as alone
    np.testing.assert_allclose(race.histories[0].column("loss"), alone, rtol=1e-6)
    dead = Race([exploding])
    dead.advance(max_steps=50)
    assert not dead.live and dead.advance(max_steps=5) == 0


def test_probe_measures_the_total_derivative_at_every_distance():
    cfg = TrainConfig(cell="lstm", **TINY)
    model = Model(cfg)
    x, y = Batches(cfg.task, cfg.seq_len, cfg.batch, cfg.seed).next()
    profile = probe_distances(model, x, y)
    # reference: the fused layer run step by step on inputs that we perturb through a zero leaf
    bump = torch.zeros(cfg.seq_len, cfg.batch, cfg.hidden, requires_grad=True)
    h = torch.zeros(1, cfg.batch, cfg.hidden)
    c = torch.zeros(1, cfg.batch, cfg.hidden)
    states = []
    for t in range(cfg.seq_len):
        out, (h, c) = model.core.layer(x[t:t + 1], (h, c))
        h = h + bump[t]
        states.append(h[0])
    loss = torch.nn.functional.mse_loss(model.readout(states[-1]), y)
    (grad,) = torch.autograd.grad(loss, bump)
    reference = grad.norm(dim=-1).mean(dim=1).flip(0).numpy()
    np.testing.assert_allclose(profile, reference, rtol=1e-5)
    assert profile[0] > profile[-1] > 0


def test_race_trains_both_runs_on_the_same_batches():
    a, b = TrainConfig(cell="lstm", **TINY), TrainConfig(cell="rnn", **TINY)
    race = Race([a, b])
    race.advance(max_steps=6)
    assert race.steps == 6 and [len(h.records) for h in race.histories] == [6, 6]
    alone = [r.loss for r in train(b, steps=6)]
    np.testing.assert_allclose(race.histories[1].column("loss"), alone, rtol=1e-6)
    probes_at, grid = race.histories[0].probes()
    assert list(probes_at) == [1, 5] and grid.shape == (a.seq_len, 2)
    with pytest.raises(ConfigError, match="seq_len must be the same in both raced runs"):
        Race([a, TrainConfig(cell="rnn", **{**TINY, "seq_len": 30})])


def test_concurrent_users_do_not_share_models():
    cfg = TrainConfig(cell="gru", **TINY)
    expected = [r.loss for r in train(cfg, steps=10)]
    results = {}

    def user(i):
        race = Race([cfg])
        race.advance(max_steps=10)
        results[i] = list(race.histories[0].column("loss"))

    threads = [threading.Thread(target=user, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for losses in results.values():
        np.testing.assert_allclose(losses, expected, rtol=1e-5)


def test_bad_training_config_names_the_field():
    with pytest.raises(ConfigError, match="seq_len must be at least 11 for the copy task"):
        TrainConfig(task="copy", seq_len=5)
    with pytest.raises(ConfigError, match="optimizer must be one of adam, sgd"):
        TrainConfig(optimizer="rmsprop")
    with pytest.raises(ConfigError, match="lr must be a number greater than 0"):
        TrainConfig(lr=0)


def test_train_cli_json():
    out = run_cli("train", "--steps", "6", "--seq-len", "20", "--hidden", "8", "--batch", "8", "--clip", "0.1",
                  "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["baseline"] == pytest.approx(1 / 6) and data["diverged"] is False
    assert len(data["records"]) == 6
    for r in data["records"]:
        assert {"step", "loss", "grad_norm", "grad_norm_clipped", "clipped"} <= set(r)
        assert r["grad_norm_clipped"] <= 0.1 * (1 + 1e-6)


def test_train_cli_trains_every_task():
    for task in ("copy", "order"):
        out = run_cli("train", "--task", task, "--steps", "3", "--seq-len", "12", "--hidden", "8", "--batch", "4",
                      "--json")
        assert out.returncode == 0, out.stderr
        data = json.loads(out.stdout)
        assert data["baseline"] == pytest.approx(TASKS[task].baseline) and len(data["records"]) == 3
        assert data["config"]["task"] == task and data["loss_name"] == "cross-entropy"


def test_train_cli_reports_divergence_as_strict_json():
    out = run_cli("train", "--cell", "rnn", "--activation", "relu", "--init", "identity", "--weight-scale", "3",
                  "--optimizer", "sgd", "--lr", "1", "--clip", "off", "--seq-len", "60", "--steps", "20", "--json")
    assert out.returncode == 0 and "NaN" not in out.stdout and "Infinity" not in out.stdout
    data = json.loads(out.stdout)
    assert data["diverged"] is True and data["records"][-1]["finite"] is False


@pytest.mark.parametrize("args,fragment", [
    (["--task", "parity"], "error: --task must be one of adding, copy, order"),
    (["--lr", "-1"], "error: --lr must be a number greater than 0"),
    (["--steps", "0"], "error: --steps must be an integer from 1 to 100000"),
    (["--clip-mode", "both"], "error: --clip-mode must be one of norm, value"),
])
def test_train_cli_bad_input(args, fragment):
    out = run_cli("train", *args)
    assert out.returncode == 2 and out.stderr.strip().startswith(fragment) and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_the_clipping_preset_explodes_without_clipping_and_survives_with_it(seed):
    """What the preset's text promises, on several seeds: B (no clipping) turns NaN within 60 steps, A (clipped
    at 1) is still training after 200."""
    from core.training import CLIPPING_RACE, Race
    race = Race([replace(cfg, seed=seed) for cfg in CLIPPING_RACE])
    while race.steps < 200:
        race.advance(max_steps=20)
    clipped, unclipped = race.histories
    assert unclipped.diverged_at is not None and unclipped.diverged_at <= 60
    assert clipped.diverged_at is None and np.isfinite(clipped.column("loss")).all()
    assert clipped.column("clipped")[:20].mean() > 0.5          # clipping is doing the work


# ---- Runner: the lab's background training thread ----------------------------------------------------------
SMALL = TrainConfig(task="adding", seq_len=20, batch=8, hidden=8, cell="rnn", seed=0)


def wait_until(condition, seconds: float = 30.0) -> None:
    import time
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert condition()


def test_a_runner_trains_in_its_thread_until_paused_and_pause_means_nothing_more():
    import time

    from serve.admission import Admission
    from serve.runner import Runner
    runner = Runner(Race([SMALL]), Admission(slots=1))
    runner.start()
    wait_until(lambda: runner.race.steps >= 5)
    runner.pause()
    wait_until(lambda: not runner.busy)
    steps = runner.race.steps
    runner.watch()                                    # watching a paused run does not start it
    time.sleep(0.3)
    assert runner.race.steps == steps and runner.status == "paused" and not runner.busy
    histories, status = runner.snapshot()
    snap_steps = status.step
    assert snap_steps == steps and [r.step for r in histories[0].records] == list(range(1, steps + 1))
    # the same batches as a plain run: the thread changes when steps happen, not what they compute
    plain = Race([SMALL])
    plain.advance(max_steps=steps)
    assert [r.loss for r in plain.histories[0].records] == [r.loss for r in histories[0].records]


def test_fast_forward_trains_exactly_n_steps_then_pauses():
    from serve.admission import Admission
    from serve.runner import Runner
    runner = Runner(Race([SMALL]), Admission(slots=1))
    runner.step()
    assert runner.status == "paused" and runner.race.steps == 1
    runner.start(steps=40)
    wait_until(lambda: runner.status != "running")
    wait_until(lambda: not runner.busy)
    assert runner.status == "paused" and runner.race.steps == 41 and runner.target is None


def test_a_run_that_goes_non_finite_stops_as_diverged():
    from serve.admission import Admission
    from serve.runner import Runner
    bad = replace(SMALL, activation="relu", init="identity", weight_scale=3.16, optimizer="sgd", lr=1.0,
                  seq_len=60)
    runner = Runner(Race([bad]), Admission(slots=1))
    runner.start()
    wait_until(lambda: runner.status != "running")
    assert runner.status == "diverged" and runner.race.diverged[0] is not None
    wait_until(lambda: not runner.busy)               # the run's thread winding down after its last step
    runner.start()                                    # nothing left to train: Start does nothing
    assert runner.status == "diverged" and not runner.busy


def test_runners_take_turns_on_the_servers_slots_and_an_unwatched_run_waits():
    import time

    from serve.admission import Admission
    from serve.runner import Runner
    admission = Admission(slots=1)
    runners = [Runner(Race([replace(SMALL, seed=s)]), admission, chunk_s=0.05) for s in range(3)]
    most = []
    for r in runners:
        r.start()
    began = time.monotonic()
    while time.monotonic() - began < 1.5:
        for r in runners:
            r.watch()
        most.append(admission.running)
        time.sleep(0.01)
    assert max(most) <= 1                             # one slot: never two runs training at once
    assert all(r.race.steps > 0 for r in runners)     # and every run had turns
    for r in runners:
        r.unwatched_s = 0.2                           # nobody looks any more (the page was closed)
    wait_until(lambda: not any(r.busy for r in runners))
    steps = [r.race.steps for r in runners]
    time.sleep(0.3)
    assert [r.race.steps for r in runners] == steps and all(r.status == "running" for r in runners)
    assert admission.waiting == 0 and admission.running == 0     # their places in line were given up
    runners[0].watch()                                # the page is back: that run goes on
    wait_until(lambda: runners[0].race.steps > steps[0])
    runners[0].pause()
    wait_until(lambda: not runners[0].busy)


def test_a_training_step_treats_subnormal_gradients_as_zero_and_changes_nothing_visible(monkeypatch):
    """An LSTM on a long sequence: the far steps' gradients are subnormal (the probe of the first step, which runs
    outside, still shows them), and the step treats them as zero (torch's kernels read them ~10x slower). Three
    steps with and without: the same losses, gradient norms and weights to float32 rounding, and the thread's
    flag back to normal afterwards."""
    from core import training
    cfg = TrainConfig(cell="lstm", seq_len=400, hidden=16, batch=8, probe_every=1000)
    x, y = Batches(cfg.task, cfg.seq_len, cfg.batch, cfg.seed).next()
    fast = Trainer(cfg)
    fast_records = [fast.step(x, y) for _ in range(3)]
    monkeypatch.setattr(training, "denormals_as_zero", contextlib.nullcontext)
    exact = Trainer(cfg)
    exact_records = [exact.step(x, y) for _ in range(3)]
    tiny = torch.finfo(torch.float32).tiny
    probe = fast_records[0].probe
    assert ((probe > 0) & (probe < tiny)).any()                        # subnormal far back: something to drop
    np.testing.assert_array_equal(fast_records[0].probe, exact_records[0].probe)
    for a, b in zip(fast_records, exact_records):
        assert a.loss == pytest.approx(b.loss, rel=1e-6) and a.grad_norm == pytest.approx(b.grad_norm, rel=1e-5)
    for p, q in zip(fast.params, exact.params):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-7)
    assert float(torch.tensor(tiny / 4) * 1.0) == tiny / 4
