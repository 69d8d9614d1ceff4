"""The digits and delayed-XOR tasks, accuracy in the records, and gradient flossing (core/floss.py): its exponents
against core's own QR method and its gradient against finite differences, in float64."""
import json
import math

import numpy as np
import pytest
import torch
from conftest import run_cli

from core import digits, floss
from core.budget import BudgetError
from core.cells import CELLS
from core.cells.base import Network, Trace
from core.errors import ConfigError
from core.tasks import TASKS
from core.training import Batches, Model, Race, TrainConfig, Trainer, train

# -- data ---------------------------------------------------------------------------------------------------------

def test_digits_data_is_the_uci_set():
    pixels, labels = digits.load()
    assert pixels.shape == (1797, 64) and labels.shape == (1797,)
    assert pixels.min() == 0 and pixels.max() == 1           # 0..16 scaled by 1/16
    assert np.allclose(pixels * 16, np.round(pixels * 16))
    assert np.bincount(labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_split_is_fixed_disjoint_and_balanced():
    train_idx, held = digits.split()
    assert len(np.intersect1d(train_idx, held)) == 0
    assert len(train_idx) + len(held) == 1797 and len(np.union1d(train_idx, held)) == 1797
    assert np.bincount(digits.load()[1][held]).tolist() == [36] * 10
    assert np.bincount(digits.load()[1][held[:digits.HELDOUT_PROBE]]).tolist() == [10] * 10   # what probe steps read
    # training batches only ever show training images: every batch row matches a training image exactly
    x, y = digits.digits_batch(64, 200, torch.Generator().manual_seed(0))
    shown = x[:, :, 0].T.numpy()
    pixels = digits.load()[0]
    train_rows = {tuple(row) for row in pixels[train_idx]}
    held_only = {tuple(row) for row in pixels[held]} - train_rows
    assert all(tuple(row) in train_rows for row in shown) and not any(tuple(row) in held_only for row in shown)


@pytest.mark.parametrize("seq_len", [64, 100])
def test_digits_batch_shapes_order_and_delay(seq_len):
    gen = lambda: torch.Generator().manual_seed(3)          # noqa: E731
    x, y = TASKS["digits"].batch(seq_len, 8, gen(), pixel_order="row", perm_seed=0)
    assert x.shape == (seq_len, 8, 1) and y.shape == (8,) and y.dtype == torch.long
    assert (x[64:] == 0).all()                               # the blank delay
    xp, yp = TASKS["digits"].batch(seq_len, 8, gen(), pixel_order="permuted", perm_seed=5)
    order = digits.pixel_order("permuted", 5)
    assert sorted(order.tolist()) == list(range(64)) and (order != np.arange(64)).any()
    assert torch.equal(yp, y) and torch.equal(xp[:64], x[:64][torch.from_numpy(order)])
    assert (digits.pixel_order("permuted", 5) == order).all()
    assert (digits.pixel_order("permuted", 6) != order).any()


def test_xor_batch_places_the_bits_delay_apart():
    x, y = TASKS["xor"].batch(30, 64, torch.Generator().manual_seed(0), delay=12)
    assert x.shape == (30, 64, 2)
    marked = x[:, :, 1].nonzero()[:, 0].unique().tolist()
    assert marked == [30 - 1 - 12, 29]
    bits = (x[[17, 29], :, 0] > 0).long()
    assert torch.equal(y, bits[0] ^ bits[1])
    assert set(x[:, :, 0].unique().tolist()) == {-1.0, 0.0, 1.0}


@pytest.mark.parametrize("name", list(TASKS))
def test_baseline_is_the_constant_predictors_loss(name):
    """The best answer that ignores the input (the targets' mean, or the log class frequencies), measured on many
    sequences, scores the task's baseline; for digits on the held-out split, where it is also 10 % accurate."""
    task = TASKS[name]
    seq_len = max(task.min_seq_len, 20)
    options = TrainConfig(task=name, seq_len=seq_len, delay=5).task_options
    if task.heldout is not None:
        _, target = task.heldout(seq_len, **options)
    else:
        _, target = task.batch(seq_len, 20_000, torch.Generator().manual_seed(1), **options)
    steps = task.answer_steps
    if task.output_size == 1:
        outputs = torch.ones(steps, *target.shape)                 # predict 1, the mean of u1 + u2
    else:
        freq = torch.bincount(target.reshape(-1), minlength=task.output_size).float() / target.numel()
        outputs = torch.log(freq).expand(steps, target.shape[-1] if target.dim() == 1 else target.shape[1],
                                         task.output_size).contiguous()
    loss = float(task.loss(outputs, target))
    assert loss == pytest.approx(task.baseline, abs=0.01)
    if name == "digits":
        assert loss == pytest.approx(math.log(10), abs=1e-6)
        assert task.accuracy(torch.zeros(1, len(target), 10), target) == pytest.approx(0.1)


# -- configuration ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("values, field", [
    (dict(task="xor", seq_len=20, delay=20), "delay"),
    (dict(task="digits", seq_len=64, perm_seed=-1), "perm_seed"),
    (dict(task="digits", seq_len=64, perm_seed=2**31), "perm_seed"),
    (dict(task="digits", seq_len=63), "seq_len"),
    (dict(task="digits", seq_len=64, pixel_order="spiral"), "pixel_order"),
    (dict(cell="rnn", hidden=8, floss_k=9), "floss_k"),
    (dict(cell="lstm", hidden=8, floss_k=17), "floss_k"),
])
def test_bad_settings_name_the_field_and_range(values, field):
    with pytest.raises(ConfigError) as err:
        TrainConfig(**values)
    assert err.value.field == field
    assert str(err.value).startswith(field) and ("from" in str(err.value) or "one of" in str(err.value)
                                                 or "at least" in str(err.value))


def test_xor_delay_message_gives_the_range():
    with pytest.raises(ConfigError, match=r"from 1 to T − 1 = 19"):
        TrainConfig(task="xor", seq_len=20, delay=25)
    assert TrainConfig(cell="lstm", hidden=8, floss_k=16).floss_k == 16      # (h, c): 16 exponents


def test_flossing_a_cell_without_exponents_is_refused(monkeypatch):
    monkeypatch.delitem(floss.FLOSS, "mingru")
    with pytest.raises(ConfigError, match="floss_k must be 0 \\(off\\) for the mingru cell.*cannot be computed"):
        TrainConfig(cell="mingru", floss_k=2)
    assert TrainConfig(cell="mingru").floss_k == 0


def test_budget_counts_flossing():
    plain = TrainConfig(cell="lstm", seq_len=1000, hidden=128, batch=16)          # fits
    with pytest.raises(BudgetError, match="floss_k"):
        TrainConfig(cell="lstm", seq_len=1000, hidden=128, batch=16, floss_k=128)
    flossing = TrainConfig(cell="lstm", seq_len=500, hidden=64, batch=16, floss_k=32).step_cost().seconds
    without = TrainConfig(cell="lstm", seq_len=500, hidden=64, batch=16).step_cost().seconds
    n = floss.FLOSS_SEQUENCES                # flossing's term replaces the exponents a probe step records
    assert flossing - without == pytest.approx(floss.cost("lstm", 500, 64, 32, n).seconds
                                               - floss.cost("lstm", 500, 64, floss.REPORT_K, n, backward=False).seconds)
    assert flossing > 1.3 * without
    assert plain.step_cost().seconds < 1.5


@pytest.mark.parametrize("args, flag", [(["--task", "xor", "--seq-len", "10", "--delay", "10"], "--delay"),
                                        (["--task", "digits", "--perm-seed", "-3"], "--perm-seed"),
                                        (["--cell", "rnn", "--hidden", "4", "--floss-k", "5"], "--floss-k")])
def test_cli_bad_input_is_one_line(args, flag):
    proc = run_cli("train", *args, "--steps", "1")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {flag} ")


def test_forget_bias_sets_the_lstm_forget_gate_at_initialisation():
    """torch's gate order i, f, g, o: the f rows of bias_ih get the bias and those of bias_hh 0 (torch adds the two);
    every other number is PyTorch's own draw, and 0 (the default) changes nothing."""
    hid = 8
    plain = Model(TrainConfig(cell="lstm", hidden=hid)).core
    opened = Model(TrainConfig(cell="lstm", hidden=hid, forget_bias=2.0)).core
    rows = slice(hid, 2 * hid)
    assert torch.equal(opened.layer.bias_ih_l0[rows], torch.full((hid,), 2.0))
    assert torch.equal(opened.layer.bias_hh_l0[rows], torch.zeros(hid))
    for name in ("bias_ih_l0", "bias_hh_l0"):
        a, b = getattr(plain.layer, name), getattr(opened.layer, name)
        assert torch.equal(torch.cat([a[:hid], a[2 * hid:]]), torch.cat([b[:hid], b[2 * hid:]]))
    for name in ("weight_ih_l0", "weight_hh_l0"):
        assert torch.equal(getattr(plain.layer, name), getattr(opened.layer, name))
    assert opened.cell.bias_ih is opened.layer.bias_ih_l0              # the probe's cell shares them
    assert torch.equal(Model(TrainConfig(cell="lstm", hidden=hid, forget_bias=0.0)).core.layer.bias_hh_l0,
                       plain.layer.bias_hh_l0)
    assert torch.equal(Model(TrainConfig(cell="gru", hidden=hid, forget_bias=2.0)).core.layer.bias_ih_l0,
                       Model(TrainConfig(cell="gru", hidden=hid)).core.layer.bias_ih_l0)   # an LSTM setting only


def test_cli_forget_bias_flag():
    proc = run_cli("train", "--cell", "lstm", "--hidden", "4", "--seq-len", "10", "--steps", "1", "--forget-bias",
                   "2", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["config"]["forget_bias"] == 2.0
    bad = run_cli("train", "--cell", "lstm", "--forget-bias", "11", "--steps", "1")
    assert bad.returncode == 2 and bad.stderr.strip().startswith("error: --forget-bias ")


# -- records ------------------------------------------------------------------------------------------------------

def test_cli_digits_records_carry_accuracy_heldout_and_exponents():
    proc = run_cli("train", "--task", "digits", "--seq-len", "70", "--cell", "gru", "--hidden", "8", "--batch", "8",
                   "--steps", "3", "--floss-k", "3", "--floss-every", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["baseline"] == pytest.approx(math.log(10))
    recs = out["records"]
    assert all(0 <= r["accuracy"] <= 1 for r in recs)
    assert [r["flossed"] for r in recs] == [True, False, True]
    assert [len(r["lyapunov"]) for r in recs if r["flossed"]] == [3, 3]
    for r in recs:
        if r["lyapunov"]:
            assert r["lyapunov"] == sorted(r["lyapunov"], reverse=True)
    assert recs[0]["heldout_accuracy"] is not None and recs[-1]["heldout_accuracy"] is not None
    assert recs[1]["heldout_accuracy"] is None


@pytest.mark.parametrize("name", ["xor", "copy", "order", "adding"])
def test_accuracy_in_every_classification_record(name):
    cfg = TrainConfig(task=name, seq_len=20, delay=5, cell="rnn", hidden=8, batch=16, steps=2)
    recs = [r.to_json_dict() for r in train(cfg)]
    if TASKS[name].output_size == 1:
        assert all(r["accuracy"] is None for r in recs)
    else:
        assert all(0 <= r["accuracy"] <= 1 for r in recs)


def test_accuracy_counts_right_answers():
    target = torch.tensor([0, 1, 1, 0])
    outputs = torch.tensor([[[2.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]])
    assert TASKS["xor"].accuracy(outputs, target) == 0.5
    copy_target = torch.zeros(5, 2, dtype=torch.long)
    copy_out = torch.zeros(5, 2, 8)
    copy_out[:, 0, 0] = 1.0            # the first sequence right at every recall step, the second wrong
    copy_out[:, 1, 3] = 1.0
    assert TASKS["copy"].accuracy(copy_out, copy_target) == 0.5


# -- flossing: exponents and gradient -----------------------------------------------------------------------------

def _double_layer(cell: str, hidden: int = 10, seed: int = 0):
    cfg = TrainConfig(task="adding", cell=cell, hidden=hidden, seq_len=40, batch=4, seed=seed)
    return Model(cfg).double().core, cfg


def _core_exponents(cell, layer, x, cfg):
    """core's own QR method (core/cells/<cell>.py `lyapunov`) on the same trajectory, sequence 0."""
    h0 = torch.zeros(1, cfg.hidden, dtype=torch.float64)
    with torch.no_grad():
        if cell in ("rnn", "lstm", "gru"):
            params = {k: getattr(layer.layer, k + "_l0") for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
            params["w_hh"] = params["weight_hh"]
            net, trace = Network(cell, cfg.activation, params, None), Trace(layer.layer(x)[0], None, None, None, [])
        elif cell == "mingru":
            net = Network(cell, "", {}, None)
            trace = Trace(None, None, None, 1 - torch.sigmoid(layer.gate(x))[:, 0], [])
        else:
            net, trace = Network(cell, "", {"nu_log": layer.nu_log, "theta_log": layer.theta_log}, None), None
        return CELLS[cell].lyapunov(net, trace, x, h0)


# the dense cells twice: every step's Jacobian formed at once with a hand-written backward pass (the lab's sizes),
# and their tangent maps applied step by step under autograd (past floss.DENSE_ELEMENTS)
VARIANTS = list(floss.FLOSS) + ["rnn/stepped", "lstm/stepped", "gru/stepped"]


def _variant(name: str, monkeypatch) -> str:
    cell, _, path = name.partition("/")
    if path == "stepped":
        monkeypatch.setattr(floss, "DENSE_ELEMENTS", 0)
    return cell


@pytest.mark.parametrize("variant", VARIANTS)
def test_flossing_exponents_agree_with_core_qr_method(variant, monkeypatch):
    """Same trajectory, float64: differentiable QRs every few steps against core's NumPy QR method (T = 40: a burn-in
    of 10 steps)."""
    cell = _variant(variant, monkeypatch)
    layer, cfg = _double_layer(cell)
    x = torch.randn(40, 3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    ours = floss.exponents(cell, layer, x, 5)
    assert ours.shape == (3, 5)
    np.testing.assert_allclose(ours[0].detach().numpy(), _core_exponents(cell, layer, x[:, :1], cfg),
                               atol=1e-6, rtol=0)
    assert (ours[:, :-1] >= ours[:, 1:]).all()


@pytest.mark.parametrize("variant", VARIANTS)
def test_flossing_gradient_matches_finite_differences(variant, monkeypatch):
    cell = _variant(variant, monkeypatch)
    layer, _ = _double_layer(cell, hidden=6, seed=2)
    x = torch.randn(30, 2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    params = [p for p in layer.parameters() if p.requires_grad]
    loss = floss.penalty(floss.exponents(cell, layer, x, 3))
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    gen = torch.Generator().manual_seed(7)
    directions = [torch.randn(p.shape, dtype=torch.float64, generator=gen) for p in params]
    analytic = sum(float((g * d).sum()) for g, d in zip(grads, directions) if g is not None)
    eps = 1e-6
    with torch.no_grad():
        def shifted(sign):
            for p, d in zip(params, directions):
                p.add_(sign * eps * d)
            value = float(floss.penalty(floss.exponents(cell, layer, x, 3)))
            for p, d in zip(params, directions):
                p.sub_(sign * eps * d)
            return value
        numeric = (shifted(1) - shifted(-1)) / (2 * eps)
    assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-9)
    assert abs(analytic) > 1e-6


def test_qr_every_few_steps_gives_the_exponents_of_a_qr_at_every_step(monkeypatch):
    """A contracting and saturating tanh RNN (float32, as trained): the exponents and their gradient with the QRs
    blocked as qr_exponents blocks them, against a QR at every step."""
    cfg = TrainConfig(task="adding", cell="rnn", hidden=32, seq_len=100, batch=2, seed=3, init="gaussian",
                      weight_scale=3.0)
    layer = Model(cfg).core
    x = Batches(cfg.task, cfg.seq_len, cfg.batch, cfg.seed).next()[0] * 4

    def run():
        lyap = floss.exponents("rnn", layer, x, 16)
        return lyap.detach(), torch.autograd.grad(floss.penalty(lyap), layer.layer.weight_hh_l0)[0]
    blocked, blocked_grad = run()
    monkeypatch.setattr(floss, "QR_EVERY", 1)
    every, every_grad = run()
    assert float(blocked[0, 0] - blocked[0, -1]) > 1.0            # the directions drift apart fast
    np.testing.assert_allclose(blocked.numpy(), every.numpy(), atol=1e-4, rtol=0)
    np.testing.assert_allclose(blocked_grad.numpy(), every_grad.numpy(), atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_the_flossing_term_on_the_forward_pass_states_has_the_same_gradient(cell):
    """A training step that also flosses passes its forward pass's states to the flossing term (one backward through
    the layer): the same gradient, in float64, as running the layer again for it."""
    cfg = TrainConfig(task="xor", cell=cell, hidden=8, seq_len=20, delay=15, batch=4, seed=0)
    model = Model(cfg).double()
    x, target = Batches(cfg.task, cfg.seq_len, cfg.batch, cfg.seed, cfg.task_options).next()
    x = x.double()
    task = TASKS["xor"]

    def grads(share: bool):
        states = model.core(x)
        lyap = floss.exponents(cell, model.core, x[:, :1], 4, states[:, :1] if share else None)
        loss = task.loss(model.readout(states[-1:]), target) + floss.penalty(lyap)
        return torch.autograd.grad(loss, list(model.parameters()))
    for a, b in zip(grads(True), grads(False)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_flossing_pulls_the_top_exponents_towards_zero(seed):
    """Flossing alone (floss_before) for 40 steps shrinks Σλᵢ² of a contracting tanh RNN severalfold."""
    cfg = TrainConfig(task="xor", cell="rnn", hidden=16, seq_len=40, delay=30, batch=8, lr=1e-2, seed=seed,
                      floss_k=4, floss_before=40, floss_every=0, probe_every=1000)
    trainer = Trainer(cfg)
    batches = Batches(cfg.task, cfg.seq_len, cfg.batch, cfg.seed, cfg.task_options)
    records = [trainer.step(*batches.next()) for _ in range(40)]
    first, last = (sum(v * v for v in r.lyapunov) for r in (records[0], records[-1]))
    assert all(r.flossed for r in records)
    assert last < 0.2 * first


def test_race_with_and_without_flossing_shares_batches():
    base = dict(task="xor", cell="rnn", hidden=8, seq_len=20, delay=15, batch=8, seed=0, probe_every=1000)
    race = Race([TrainConfig(**base), TrainConfig(**base, floss_k=4, floss_every=1)])
    race.advance(max_steps=3)
    plain, flossed = race.histories
    assert plain.records[0].loss == flossed.records[0].loss            # same weights, same first batch
    assert [r.flossed for r in flossed.records] == [True] * 3 and not any(r.flossed for r in plain.records)
    steps, lyap = flossed.exponents()
    assert steps.tolist() == [1, 2, 3] and lyap.shape == (3, 4)
    assert plain.exponents()[0].tolist() == [1]                        # the probe step records them too
    with pytest.raises(ConfigError, match="delay"):
        Race([TrainConfig(**base), TrainConfig(**{**base, "delay": 10})])
