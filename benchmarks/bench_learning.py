"""Learning that matters: sequential digits per cell, gradient flossing on delayed XOR, and what flossing costs.

Run: .venv/bin/python benchmarks/bench_learning.py [--digits] [--xor] [--cost] [options]   (all three by default)
1. --digits: every cell on the digits task at T = 64, 256 and 1000 (the image, then a blank delay), trained for a
   fixed wall time each (--budget-s, default 6 s, one torch thread), held-out accuracy on the 360 held-out images
   afterwards: median and range over 5 seeds (--seeds).
2. --xor: delayed XOR at --delay with a tanh RNN, --xor-seeds seeds (default 10), the same number of steps with and
   without flossing (--floss-k exponents, --floss-before steps of flossing alone, then every --floss-every steps):
   success = accuracy >= 0.9 on 2,000 fresh sequences after training; the top exponents before and after.
3. --cost: one training step with flossing (K = 16) against one without, H 64, T 100, batch 64, interleaved step by
   step, medians; and a plain PyTorch loop of the same model as the baseline in the same run.
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

# Runs train without probes (probe_every 10,000): the page's budget for its probe steps does not apply to them.
os.environ.setdefault("GFL_BUDGET_SCALE", "4")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.bench_training import plain_step_fn  # noqa: E402
from core import floss  # noqa: E402
from core.tasks import TASKS  # noqa: E402
from core.training import Batches, TrainConfig, Trainer  # noqa: E402
from harness.timing import interleaved  # noqa: E402

CELLS = ("rnn", "lstm", "gru", "lru", "mingru")
SUCCESS = 0.9


def digits_run(cell: str, seq_len: int, seed: int, budget_s: float) -> tuple[float, int]:
    """(held-out accuracy, steps) after budget_s seconds of training."""
    cfg = TrainConfig(task="digits", cell=cell, seq_len=seq_len, hidden=64, batch=32, lr=3e-3, clip=1.0, seed=seed,
                      probe_every=10_000)
    trainer = Trainer(cfg)
    batches = Batches(cfg.task, seq_len, cfg.batch, seed, cfg.task_options)
    began, steps = time.perf_counter(), 0
    while time.perf_counter() - began < budget_s:
        trainer.step(*batches.next())
        steps += 1
    return trainer.evaluate()[1], steps


def bench_digits(seeds: int, budget_s: float, lengths: tuple) -> None:
    print(f"digits (row order), H 64, batch 32, Adam 3e-3, clip 1, {budget_s:g} s of training per run, "
          f"held-out accuracy on 360 images, {seeds} seeds")
    print("| cell | " + " | ".join(f"T = {t}" for t in lengths) + " |")
    print("| --- | " + " | ".join("---" for _ in lengths) + " |")
    for cell in CELLS:
        cells = []
        for seq_len in lengths:
            runs = [digits_run(cell, seq_len, seed, budget_s) for seed in range(seeds)]
            acc = [a for a, _ in runs]
            cells.append(f"{statistics.median(acc):.0%} ({min(acc):.0%}–{max(acc):.0%}), "
                         f"{statistics.median([s for _, s in runs]):.0f} steps")
        print(f"| {cell} | " + " | ".join(cells) + " |", flush=True)


def xor_accuracy(trainer: Trainer, cfg: TrainConfig) -> float:
    x, target = TASKS["xor"].batch(cfg.seq_len, 2000, torch.Generator().manual_seed(99), delay=cfg.delay)
    with torch.no_grad():
        return TASKS["xor"].accuracy(trainer.model(x), target)


def xor_run(cfg: TrainConfig) -> tuple[float, list, list, float]:
    """(accuracy after training, top exponents before, after, seconds)."""
    trainer = Trainer(cfg)
    batches = Batches(cfg.task, cfg.seq_len, cfg.batch, cfg.seed, cfg.task_options)
    probe_x = batches.next()[0]
    with torch.no_grad():
        before = trainer.exponents(probe_x).mean(0).tolist()
    began = time.perf_counter()
    for _ in range(cfg.steps):
        if not trainer.step(*batches.next()).finite:
            break
    seconds = time.perf_counter() - began
    with torch.no_grad():
        after = trainer.exponents(probe_x).mean(0).tolist()
    return xor_accuracy(trainer, cfg), before, after, seconds


def bench_xor(args) -> None:
    base = dict(task="xor", cell="rnn", seq_len=args.delay + 1, delay=args.delay, hidden=args.hidden, batch=32,
                lr=args.lr, clip=1.0, steps=args.xor_steps, probe_every=10_000)
    variants = {"plain": {}, "flossing": dict(floss_k=args.floss_k, floss_before=args.floss_before,
                                              floss_every=args.floss_every)}
    print(f"delayed XOR, delay {args.delay}, tanh RNN H {args.hidden}, batch 32, Adam {args.lr:g}, clip 1, "
          f"{args.xor_steps} steps; flossing: K {args.floss_k}, {args.floss_before} steps alone first, then every "
          f"{args.floss_every}; success = accuracy >= {SUCCESS:.0%} on 2,000 fresh sequences")
    for name, extra in variants.items():
        results = [xor_run(TrainConfig(**base, **extra, seed=seed)) for seed in range(args.xor_seeds)]
        acc = [r[0] for r in results]
        wins = sum(a >= SUCCESS for a in acc)
        lam_before = statistics.median(r[1][0] for r in results)
        lam_after = statistics.median(r[2][0] for r in results)
        print(f"  {name:8s}: success {wins}/{len(acc)} ({wins / len(acc):.0%}); "
              f"accuracy median {statistics.median(acc):.0%}"
              f" (range {min(acc):.0%}–{max(acc):.0%}); λ1 median {lam_before:+.3f} before -> {lam_after:+.3f} after; "
              f"{statistics.median(r[3] for r in results):.1f} s per run", flush=True)
        print("            accuracies: " + " ".join(f"{a:.2f}" for a in acc))


def bench_cost(steps: int) -> None:
    print(f"flossing step (K 16) / plain step, H 64, T 100, batch 64, adding task, {steps} interleaved steps, medians")
    for cell in ("rnn", "lstm", "gru", "lru", "mingru"):
        cfg = TrainConfig(cell=cell, seq_len=100, hidden=64, batch=64, probe_every=10_000)
        runs = {"plain": Trainer(cfg).step, "floss": Trainer(TrainConfig(**{**cfg.to_dict(), "floss_k": 16})).step,
                "torch": plain_step_fn(cfg)}
        batches = [Batches(cfg.task, cfg.seq_len, cfg.batch, cfg.seed).next() for _ in range(10)]
        times = interleaved(list(runs.values()), steps, warmup=3, alternate=True,
                            inputs=lambda i: batches[i % len(batches)])
        med = {name: statistics.median(t) for name, t in zip(runs, times)}
        estimate = floss.cost(cell, 100, 64, 16, floss.FLOSS_SEQUENCES).seconds
        print(f"  {cell:6s}: plain {med['plain'] * 1e3:6.1f} ms, flossing {med['floss'] * 1e3:6.1f} ms, ratio "
              f"{med['floss'] / med['plain']:.2f} (target <= 2); plain PyTorch loop {med['torch'] * 1e3:6.1f} ms "
              f"(flossing / it {med['floss'] / med['torch']:.2f}); budget's estimate of the flossing term "
              f"{estimate * 1e3:.0f} ms against {(med['floss'] - med['plain']) * 1e3:.0f} ms measured", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--digits", action="store_true")
    p.add_argument("--xor", action="store_true")
    p.add_argument("--cost", action="store_true")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--budget-s", type=float, default=6.0)
    p.add_argument("--lengths", default="64,256,1000")
    p.add_argument("--delay", type=int, default=40)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--xor-steps", type=int, default=1500)
    p.add_argument("--xor-seeds", type=int, default=10)
    p.add_argument("--floss-k", type=int, default=16)
    p.add_argument("--floss-before", type=int, default=200)
    p.add_argument("--floss-every", type=int, default=0)
    p.add_argument("--cost-steps", type=int, default=30)
    args = p.parse_args()
    torch.set_num_threads(1)
    everything = not (args.digits or args.xor or args.cost)
    if args.cost or everything:
        bench_cost(args.cost_steps)
    if args.xor or everything:
        bench_xor(args)
    if args.digits or everything:
        bench_digits(args.seeds, args.budget_s, tuple(int(t) for t in args.lengths.split(",")))


if __name__ == "__main__":
    main()
