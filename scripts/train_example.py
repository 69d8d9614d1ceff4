"""Train the shipped example of the "Your network" page: a 2-layer LSTM on the adding problem.

    .venv/bin/python scripts/train_example.py          # writes examples/adding_lstm.safetensors and adding_inputs.npy

A whole model's state dict, as a practitioner would save it: `lstm.*` (torch.nn.LSTM(2, 24, num_layers=2)) and
`head.*` (the linear readout of the last step), with the task, the sequence length and the final test MSE in the
file's metadata. Adam 1e-2, batch 64, T = 50, gradient norm clipped at 1, until the MSE of a fixed test batch is
under 0.01 (always answering 1 scores 1/6) or 3000 steps. The inputs file is one adding batch (T 100, batch 8) in
the module's layout (T, B, 2), for the page's optional input upload. The run is watched (core.watch, every 50 steps)
into adding_run.gfl, the page's replay example.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import core  # noqa: E402
from core.tasks import adding_batch  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "examples"
SEQ_LEN, HIDDEN, LAYERS, BATCH, MAX_STEPS, TARGET = 50, 24, 2, 64, 3000, 0.01


class AddingModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(2, HIDDEN, LAYERS)
        self.head = torch.nn.Linear(HIDDEN, 1)

    def forward(self, x):
        return self.head(self.lstm(x)[0][-1])


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = AddingModel()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    test_x, test_y = adding_batch(SEQ_LEN, 512, torch.Generator().manual_seed(12345))
    mse = float("nan")
    OUT.mkdir(parents=True, exist_ok=True)
    with core.watch(model.lstm, every=50, path=OUT / "adding_run.gfl") as watch:
        for step in range(1, MAX_STEPS + 1):
            x, y = adding_batch(SEQ_LEN, BATCH, gen)
            loss = torch.nn.functional.mse_loss(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            watch.record_loss(loss)
            if step % 100 == 0:
                with torch.no_grad():
                    mse = float(torch.nn.functional.mse_loss(model(test_x), test_y))
                print(f"step {step}: test MSE {mse:.4f}", flush=True)
                if mse < TARGET:
                    break
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, OUT / "adding_lstm.safetensors",
              metadata={"task": "adding", "seq_len": str(SEQ_LEN), "steps": str(step), "test_mse": f"{mse:.5f}",
                        "made_by": "scripts/train_example.py"})
    inputs, _ = adding_batch(100, 8, torch.Generator().manual_seed(7))
    np.save(OUT / "adding_inputs.npy", inputs.numpy())
    print(f"wrote {OUT / 'adding_lstm.safetensors'} after {step} steps, test MSE {mse:.4f}")


if __name__ == "__main__":
    main()
