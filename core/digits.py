"""The 8×8 handwritten digits (Alpaydin & Kaynak 1998; core/data/README.md) as a sequence task: the 64 pixels one
per step, row by row or in a fixed random order ("permuted", which removes locality, as in Le, Jaitly & Hinton
2015's permuted MNIST), then a blank delay up to T steps; the digit is read at the last step.

The 1,797 images are split once, by a fixed seed and per class, into 1,437 training images and 360 held-out ones
(36 of each digit, so a constant answer scores exactly 10 % there and its best cross-entropy is exactly ln 10).
Training batches are drawn from the training images only; the held-out split is what the lab reports as accuracy
on unseen digits. Its images are ordered round by round (one of each digit per round), so its first 10·n images
hold n of each digit: the lab measures the first HELDOUT_PROBE of them while it trains (a forward pass over all 360
at T = 1000 takes about a second), the benchmarks all 360.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

DATA = Path(__file__).with_name("data") / "digits.npz"
PIXELS = 64
CLASSES = 10
HELDOUT_PER_CLASS = 36          # 360 held-out images, 1,437 for training
HELDOUT_PROBE = 100             # measured on probe steps: 10 of each digit
SPLIT_SEED = 20_260_301         # fixed: the split never changes between runs, machines or versions
PERM_SEED_MAX = 2**31 - 1
Batch = tuple[torch.Tensor, torch.Tensor]       # (inputs (T, B, D), targets): what every task's batch maker returns


@lru_cache(maxsize=1)
def load() -> tuple[np.ndarray, np.ndarray]:
    """(pixels (1797, 64) float32 in [0, 1], labels (1797,) int64), row-major pixel order."""
    with np.load(DATA) as data:
        return (data["pixels"].astype(np.float32) / 16.0), data["labels"].astype(np.int64)


@lru_cache(maxsize=1)
def split() -> tuple[np.ndarray, np.ndarray]:
    """(training indices, held-out indices), disjoint, fixed: HELDOUT_PER_CLASS of each digit are held out, in
    rounds of one image per digit."""
    _, labels = load()
    rng = np.random.default_rng(SPLIT_SEED)
    by_class = np.stack([rng.permutation(np.flatnonzero(labels == c))[:HELDOUT_PER_CLASS] for c in range(CLASSES)])
    heldout = by_class.T.reshape(-1)                      # round r: the r-th held-out image of every digit
    return np.setdiff1d(np.arange(len(labels)), heldout), heldout


@lru_cache(maxsize=64)
def pixel_order(order: str, perm_seed: int) -> np.ndarray:
    """The order in which the 64 pixels are shown: row by row, or a fixed permutation drawn from perm_seed."""
    if order == "row":
        return np.arange(PIXELS)
    return np.random.default_rng(perm_seed).permutation(PIXELS)


def sequences(indices: np.ndarray, seq_len: int, order: str, perm_seed: int) -> torch.Tensor:
    """Inputs (T, B, 1): the pixels of the given images in the chosen order, then T − 64 blank (zero) steps."""
    pixels, _ = load()
    shown = pixels[indices][:, pixel_order(order, perm_seed)]             # (B, 64)
    x = torch.zeros(seq_len, len(indices), 1)
    x[:PIXELS, :, 0] = torch.from_numpy(np.ascontiguousarray(shown.T))
    return x


def digits_batch(seq_len: int, batch: int, generator: torch.Generator, pixel_order: str = "row",
                 perm_seed: int = 0) -> Batch:
    """A training batch: `batch` training images drawn with replacement; inputs (T, B, 1), labels (B,)."""
    train, _ = split()
    pick = train[torch.randint(0, len(train), (batch,), generator=generator).numpy()]
    return sequences(pick, seq_len, pixel_order, perm_seed), torch.from_numpy(load()[1][pick])


def heldout_set(seq_len: int, pixel_order: str = "row", perm_seed: int = 0) -> Batch:
    """Every held-out image once: inputs (T, 360, 1), labels (360,)."""
    _, heldout = split()
    return sequences(heldout, seq_len, pixel_order, perm_seed), torch.from_numpy(load()[1][heldout])
