"""Batched phase diagram against calling the single-configuration unroll once per cell, and the
vectorised cliff grid.

Run: .venv/bin/python benchmarks/bench_phase.py
Targets (issue #4): a 40 × 40 grid at T = 100, H = 64 in <= 2 s and >= 20x faster than one
core.unroll per cell; a 200 × 200 cliff grid in <= 1 s.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import core  # noqa: E402
from core.cliff import CliffConfig, cliff_grid  # noqa: E402
from core.phase import PhaseConfig, phase_diagram  # noqa: E402
from harness.timing import median_time  # noqa: E402


def main():
    for batch in (4, 8):
        cfg = PhaseConfig(s_count=40, y_count=40, seq_len=100, hidden=64, batch=batch)
        batched = median_time(lambda: phase_diagram(cfg), 3)
        cells = [(s, y) for y in cfg.y_values for s in cfg.weight_scales]
        sample = cells[:: len(cells) // 80]                     # 80 cells, spread over the grid
        per_cell = median_time(lambda: [core.unroll(cfg.cell_config(s, y)) for s, y in sample], 1) / len(sample)
        loop = per_cell * len(cells)
        print(f"phase 40x40, T 100, H 64, batch {batch}: batched {batched:.2f} s (target <= 2 s); one unroll per "
              f"cell {per_cell * 1e3:.1f} ms x 1600 = {loop:.1f} s; speed-up {loop / batched:.0f}x (target >= 20x)",
              flush=True)
    grid = median_time(lambda: cliff_grid(CliffConfig(resolution=200)), 3)
    print(f"cliff 200x200 grid, T 50: {grid * 1e3:.0f} ms (target <= 1 s)")


if __name__ == "__main__":
    main()
