"""Torch's thread policy, measured: the app's jobs with 1 and with 2 intra-op threads (core/runtime.py decides 1).

Run: .venv/bin/python benchmarks/bench_threads.py [--repeats 5]
Each job in a fresh process per setting (GFL_TORCH_THREADS=1 or 2), alone, then two at once (two users on 2 cores).
Prints the median seconds per job and 2 threads / 1 thread (above 1: the extra thread costs time).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import core
from harness.timing import timed
core.configure_threads()
from core.phase import PhaseConfig, phase_diagram
from core.training import GATING_RACE, Race
job, repeats = sys.argv[2], int(sys.argv[3])
if job.startswith("unroll"):
    cell, seq_len = job.split(":")[1:]
    cfg = core.UnrollConfig(cell=cell, seq_len=int(seq_len))
    run = lambda: core.unroll(cfg)
elif job == "train":
    race = Race(list(GATING_RACE))
    run = lambda: race.advance(max_steps=10)
else:
    cfg = PhaseConfig()
    run = lambda: phase_diagram(cfg)
print(json.dumps(timed(run, repeats)))
"""

JOBS = {
    "unroll:lstm:1000": "LSTM unroll, T 1000, H 64, batch 8",
    "unroll:gru:1000": "GRU unroll, T 1000, H 64, batch 8",
    "unroll:rnn:100": "RNN unroll, default view (T 100)",
    "unroll:rnn:2000": "RNN unroll, T 2000",
    "train": "gating preset, 10 race steps",
    "phase": "phase diagram, default 41 x 31 grid",
}


def run(job: str, threads: int, repeats: int) -> list[float]:
    env = {**os.environ, "GFL_TORCH_THREADS": str(threads)}
    out = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), job, str(repeats)], env=env, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"{'job':40s} {'alone: 1 thread':>16s} {'2 threads':>10s} {'ratio':>6s}   "
          f"{'two at once: 1':>15s} {'2 threads':>10s} {'ratio':>6s}")
    for job, label in JOBS.items():
        row = []
        for concurrent in (1, 2):
            medians = {}
            for threads in (1, 2):
                with ThreadPoolExecutor(concurrent) as pool:
                    results = list(pool.map(lambda _: run(job, threads, args.repeats), range(concurrent)))
                medians[threads] = statistics.median(t for r in results for t in r)
            row += [medians[1], medians[2], medians[2] / medians[1]]
        print(f"{label:40s} {row[0]:14.3f} s {row[1]:8.3f} s {row[2]:6.2f}   {row[3]:13.3f} s {row[4]:8.3f} s "
              f"{row[5]:6.2f}", flush=True)


if __name__ == "__main__":
    main()
