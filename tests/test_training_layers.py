"""Stacked layers in the Training lab (TrainConfig.layers): the model, learning, the probe and the budget."""
import numpy as np
import pytest
import torch

from core.budget import BudgetError, train_step_cost
from core.errors import ConfigError
from core.tasks import TASKS
from core.training import Model, TrainConfig, train


def test_the_model_is_a_stack_of_torch_layers():
    model = Model(TrainConfig(cell="gru", layers=3, hidden=16, init="orthogonal", weight_scale=0.9))
    assert model.core.layer.num_layers == 3 and len(model.core.cells) == 3
    for k in range(3):         # every layer's recurrent blocks drawn by init × s, biases zero
        w = getattr(model.core.layer, f"weight_hh_l{k}").detach().double()
        block = w[:16]
        torch.testing.assert_close(block @ block.T, 0.81 * torch.eye(16, dtype=torch.float64), atol=1e-5, rtol=0)
        assert model.core.cells[k].weight_hh is getattr(model.core.layer, f"weight_hh_l{k}")


def test_one_layer_draws_the_same_model_as_before():
    a, b = Model(TrainConfig(cell="lstm", hidden=16)), Model(TrainConfig(cell="lstm", hidden=16, layers=1))
    for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert na == nb and torch.equal(pa, pb)
    assert [n for n, _ in a.named_parameters()] == ["core.layer.weight_ih_l0", "core.layer.weight_hh_l0",
                                                    "core.layer.bias_ih_l0", "core.layer.bias_hh_l0",
                                                    "readout.weight", "readout.bias"]


def test_probe_steps_agree_with_the_fused_stack():
    model = Model(TrainConfig(cell="lstm", layers=2, hidden=12))
    x = torch.randn(15, 3, TASKS["adding"].input_size)
    states, outputs = model.core.probe_steps(x)
    torch.testing.assert_close(outputs, model.core(x), atol=1e-5, rtol=1e-5)
    assert len(states) == 15 and states[-1].requires_grad


def test_a_two_layer_lstm_learns_the_adding_problem_at_short_range():
    """Over three seeds, short runs at T = 20: the mean loss of the last 20 of 400 steps is a tenth of the first 20's
    and under a quarter of the always-answer-one baseline (seeds 0-2 ended at 0.001-0.005), and the ∂L/∂h heatmap
    (the top layer's) is measured."""
    for seed in range(3):
        cfg = TrainConfig(task="adding", seq_len=20, hidden=32, batch=64, cell="lstm", layers=2, lr=1e-2, seed=seed,
                          probe_every=50)
        records = list(train(cfg, steps=400))
        losses = [r.loss for r in records]
        first, last = float(np.mean(losses[:20])), float(np.mean(losses[-20:]))
        assert last < first / 10 and last < TASKS["adding"].baseline / 4, (seed, first, last)
        probes = [r.probe for r in records if r.probe is not None]
        assert probes and all(p.shape == (20,) and np.all(np.isfinite(p)) for p in probes)


def test_the_budget_counts_the_layers():
    one = train_step_cost("lstm", 300, 128, 128, 2, 8)
    four = train_step_cost("lstm", 300, 128, 128, 2, 8, layers=4)
    assert four.seconds > 3.5 * one.seconds and four.memory_bytes > 3.5 * one.memory_bytes
    cfg = dict(task="adding", seq_len=300, hidden=128, batch=128, cell="lstm", steps=10)
    TrainConfig(**cfg)                                  # fits at one layer
    with pytest.raises(BudgetError) as err:
        TrainConfig(**cfg, layers=4)
    assert str(err.value).startswith("this training step is too big: it would need about")


def test_cells_without_a_stack_and_flossing_refuse_layers():
    with pytest.raises(ConfigError, match=r"^layers must be 1 for the lru cell \(stacked layers: rnn, lstm, gru\)"):
        TrainConfig(cell="lru", layers=2)
    with pytest.raises(ConfigError, match=r"^floss_k must be 0 \(off\) with stacked layers"):
        TrainConfig(cell="rnn", layers=2, floss_k=2)
    with pytest.raises(ConfigError, match=r"^layers must be an integer from 1 to 4"):
        TrainConfig(layers=5)


def test_cli_train_layers():
    import json
    import subprocess
    import sys
    from pathlib import Path
    out = subprocess.run([sys.executable, "-m", "core", "train", "--cell", "gru", "--layers", "2", "--seq-len", "20",
                          "--hidden", "8", "--batch", "4", "--steps", "3", "--json"], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1], timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["config"]["layers"] == 2
