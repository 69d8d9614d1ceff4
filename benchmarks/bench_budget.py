"""The budgets' cost models against measurements: estimated and measured time and peak memory of a spread
of jobs, each run in a fresh process on one torch thread (as the app and the CLI run them).

Run: .venv/bin/python benchmarks/bench_budget.py [--quick | --grid] [--cell CELL]
One row per job: estimate / measured time (the job's CPU time, what the running deadline counts; and its wall time)
and memory (peak resident-set growth). The estimates should err high: a ratio below 1 on a big job means the model
should be raised (core/budget.py). `--grid`: every cell at the corners where a cost model goes wrong (batch 1,
large H, float64), unrolls and training steps, with the smallest and largest ratio (target 0.5-2x everywhere).
`--light`: the Gradient flow unrolls that skip the queue (under ui/heavy.py LIGHT_SECONDS), the worst measured.
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[3])
import core
core.configure_threads(1)
core.budget.scale = lambda: 1e6          # measure, do not refuse
from core.cliff import CliffConfig, cliff
from core.phase import PhaseConfig, phase_diagram
from core.training import Batches, TrainConfig, Trainer
kind, kw = sys.argv[1], json.loads(sys.argv[2])
def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
if kind == "unroll":
    cfg = core.UnrollConfig(**kw)
    core.unroll(core.UnrollConfig(**{**kw, "seq_len": 2, "batch": 1}))
    job = lambda: core.unroll(cfg)  # noqa: E731
    cost = core.budget.unroll_cost(cfg.cell, cfg.seq_len, cfg.batch, cfg.hidden, cfg.dtype, cfg.layers)
elif kind == "train":                     # the first step: it runs the probe too
    cfg = TrainConfig(**kw)
    trainer, batch = Trainer(cfg), Batches(cfg.task, cfg.seq_len, cfg.batch, cfg.seed).next()
    job, cost = (lambda: trainer.step(*batch)), cfg.step_cost()
elif kind == "phase":
    cfg = PhaseConfig(**kw)
    job, cost = (lambda: phase_diagram(cfg)), cfg.cost()
else:
    cfg = CliffConfig(**kw)
    job, cost = (lambda: cliff(cfg)), core.budget.cliff_cost(cfg.resolution, cfg.seq_len, cfg.steps)
base = peak()
start, cpu = time.perf_counter(), time.process_time()
job()
print(json.dumps({"seconds": time.process_time() - cpu, "wall": time.perf_counter() - start, "bytes": peak() - base,
                  "est_seconds": cost.seconds, "est_bytes": cost.memory_bytes}))
"""

# (kind, cell, T, H, batch, other settings); then the Phase diagram's and the Loss cliff's jobs
JOBS = [(kind, dict(cell=cell, seq_len=t, hidden=h, batch=b, **more)) for kind, cell, t, h, b, more in [
    ("unroll", "rnn", 1000, 64, 8, {}), ("unroll", "rnn", 10000, 256, 8, {}),
    ("unroll", "rnn", 2000, 256, 64, {'activation': 'sigmoid'}), ("unroll", "lstm", 1000, 64, 8, {}),
    ("unroll", "lstm", 10000, 256, 8, {}), ("unroll", "gru", 10000, 256, 8, {}),
    ("unroll", "lstm", 300, 512, 32, {}), ("unroll", "gru", 2000, 256, 8, {}), ("unroll", "gru", 500, 512, 32, {}),
    ("train", "lstm", 100, 64, 64, {}), ("train", "lstm", 1000, 64, 64, {}), ("train", "lstm", 300, 128, 128, {}),
    ("train", "rnn", 1000, 128, 128, {}), ("train", "gru", 500, 128, 64, {'task': 'copy'}),
    ("unroll", "lru", 10000, 256, 8, {}), ("unroll", "mingru", 10000, 256, 8, {}),
    ("train", "lru", 500, 128, 64, {}), ("train", "mingru", 500, 128, 64, {}), ("train", "lru", 100, 64, 64, {}),
    ("train", "mingru", 100, 64, 64, {})]] + [
    ("phase", {}), ("phase", {'y_axis': 'activation', 's_count': 41, 'seq_len': 500, 'hidden': 64, 'batch': 8}),
    ("phase", {'y_axis': 'seq_len', 'y_min': 10, 'y_max': 2000, 's_count': 41, 'y_count': 21}), ("cliff", {}),
    ("cliff", {'resolution': 400, 'seq_len': 100, 'steps': 200})]
QUICK = [0, 3, 6, 8, 13, 16]
UNROLL_CORNERS = [dict(hidden=64, batch=1, seq_len=2000), dict(hidden=256, batch=1, seq_len=2000),
                  dict(hidden=512, batch=1, seq_len=2000), dict(hidden=1024, batch=1, seq_len=500),
                  dict(hidden=512, batch=8, seq_len=1000, dtype="float64"), dict(hidden=128, batch=64, seq_len=1000),
                  dict(hidden=256, batch=32, seq_len=1000, dtype="float64"), dict(hidden=16, batch=1, seq_len=5000)]
TRAIN_CORNERS = [dict(hidden=512, batch=1, seq_len=1000), dict(hidden=256, batch=8, seq_len=1000),
                 dict(hidden=512, batch=64, seq_len=100), dict(hidden=16, batch=1, seq_len=1000)]
CELL_NAMES = ("rnn", "lstm", "gru", "lru", "mingru")
GRID = ([("unroll", {"cell": c, **kw}) for c in CELL_NAMES for kw in UNROLL_CORNERS]
        + [("train", {"cell": c, **kw}) for c in CELL_NAMES for kw in TRAIN_CORNERS])


def light_jobs(per_cell: int = 4) -> list:
    """The Gradient flow page's unrolls that skip the queue (estimate under ui/heavy.py LIGHT_SECONDS), the
    heaviest-looking of each cell: the largest estimates, the longest T and the largest H·T among them."""
    import itertools
    sys.path.insert(0, str(ROOT))
    from core.budget import unroll_cost
    from ui.heavy import LIGHT_SECONDS
    jobs = []
    for cell in CELL_NAMES:
        light = [(unroll_cost(cell, t, b, h, d).seconds, t, h, b, d) for t, h, b, d in itertools.product(
            (100, 250, 500, 1000, 1500, 2000), (8, 16, 32, 64, 128, 256, 512), (1, 2, 4, 8, 16, 32, 64),
            ("float32", "float64")) if unroll_cost(cell, t, b, h, d).seconds < LIGHT_SECONDS]
        picks = (sorted(light, reverse=True)[:per_cell] + sorted(light, key=lambda j: (j[1], j[0]))[-2:]
                 + sorted(light, key=lambda j: (j[1] * j[2] * j[3], j[0]))[-2:])
        for _, t, h, b, d in dict.fromkeys(picks):
            jobs.append(("unroll", {"cell": cell, "seq_len": t, "hidden": h, "batch": b, "dtype": d}))
    return jobs


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="six small jobs only")
    parser.add_argument("--grid", action="store_true", help="every cell at batch 1, large H and float64")
    parser.add_argument("--light", action="store_true", help="the unrolls that skip the queue, heaviest first")
    parser.add_argument("--cell", help="only the jobs of this cell")
    args = parser.parse_args()
    jobs = ([JOBS[i] for i in QUICK] if args.quick else GRID if args.grid else light_jobs() if args.light
            else JOBS)
    if args.cell:
        jobs = [(kind, kw) for kind, kw in jobs if kw.get("cell") == args.cell]
    print(f"{'job':8s} {'settings':62s} {'CPU time est/meas':>22s} {'wall':>7s} {'memory est/meas':>24s}")
    ratios, measured = [], []
    for kind, kw in jobs:
        out = subprocess.run([sys.executable, "-c", CHILD, kind, json.dumps(kw), str(ROOT)],
                             capture_output=True, text=True)
        settings = " ".join(f"{k}={v}" for k, v in kw.items()) or "defaults"
        if out.returncode:
            print(f"{kind:8s} {settings:62s} refused or failed: {out.stderr.strip().splitlines()[-1]}")
            continue
        r = json.loads(out.stdout)
        mem = max(r["bytes"], 1)
        ratio = r["est_seconds"] / max(r["seconds"], 1e-6)
        ratios.append((ratio, f"{kind} {settings}"))
        measured.append((r["seconds"], f"{kind} {settings}"))
        print(f"{kind:8s} {settings:62s} {r['est_seconds']:7.2f}/{r['seconds']:6.2f} s ({ratio:4.1f}x) "
              f"{r['wall']:6.2f}s"
              f" {r['est_bytes'] / 2**20:7.0f}/{mem / 2**20:5.0f} MB ({r['est_bytes'] / mem:4.1f}x)", flush=True)
    if ratios:
        lo, hi = min(ratios), max(ratios)
        print(f"time estimate / measured: from {lo[0]:.2f}x ({lo[1]}) to {hi[0]:.2f}x ({hi[1]})")
    if args.light and measured:
        worst = max(measured)
        print(f"worst measured CPU time of a job that skips the queue: {worst[0] * 1000:.0f} ms ({worst[1]})")


if __name__ == "__main__":
    main()
