"""Training-loop overhead and the teachers' preset, measured in one run.

Run: .venv/bin/python benchmarks/bench_training.py [--steps N] [--preset] [--live]
1. Trainer.step (its per-step metrics and the ∂L/∂h probe every 20 steps) against a plain PyTorch loop of the
   same model, optimiser, clipping and batches, interleaved step by step, the order alternating. Target <= 1.2.
2. --preset: "Why gating matters" (GATING_RACE) without a browser, one torch thread: wall time until the LSTM's
   loss (mean of its last 20 steps) is under 0.01 (target 60 s), and the RNN's loss by then.
3. --live: the same preset in Chromium after Start: that time, and how often the page updated (>= 2/s).
"""
import argparse
import re
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from core.training import Batches, Model, TrainConfig, Trainer
from harness.browser import launch_chromium, wait_for_app_idle
from harness.server import streamlit_server
from harness.timing import interleaved


def plain_step_fn(cfg):
    """A plain PyTorch training step of the engine's model: Adam, MSE on the last step, clipping (the baseline)."""
    model = Model(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)

    def step(x, y):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x)[-1], y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        opt.step()
        return loss.item()
    return step


def loop_ratio(cell: str, steps: int):
    cfg = TrainConfig(cell=cell)
    engine, plain = Trainer(cfg), plain_step_fn(cfg)
    batches = [Batches(cfg.task, cfg.seq_len, cfg.batch, cfg.seed).next() for _ in range(20)]
    engine_times, plain_times = interleaved([engine.step, plain], steps, warmup=3, alternate=True,
                                            inputs=lambda i: batches[i % len(batches)])
    e, p = sum(engine_times) / steps, sum(plain_times) / steps
    median = statistics.median(engine_times) / statistics.median(plain_times)
    print(f"train step {cell:4s} (H 64, batch 64, T 100, {steps} steps): engine {e * 1e3:6.2f} ms, "
          f"plain {p * 1e3:6.2f} ms, ratio {e / p:.2f} (medians: {median:.2f}; target <= 1.2)", flush=True)


def preset_headless(limit_steps: int = 4000):
    from core.training import GATING_RACE, Race
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                     # as the page trains
    race = Race(list(GATING_RACE))
    start = time.perf_counter()
    reached = None
    while race.steps < limit_steps and race.live:
        race.advance(max_steps=10)
        if race.histories[0].column("loss")[-20:].mean() < 0.01:
            reached = time.perf_counter() - start
            break
    rnn = race.histories[1].column("loss")[-100:].mean()
    took = time.perf_counter() - start
    if reached:
        print(f"preset without a browser: LSTM mean loss of the last 20 steps < 0.01 after {reached:.1f} s "
              f"(step {race.steps}, {took / race.steps * 1e3:.1f} ms per race step); RNN's mean loss of the last "
              f"100 steps {rnn:.3f} (chance 1/6 = 0.167)", flush=True)
    else:
        print(f"preset without a browser: LSTM not under 0.01 within {race.steps} steps ({took:.0f} s)", flush=True)
    torch.set_num_threads(threads)


def live_preset(limit_s: float = 180):
    from playwright.sync_api import sync_playwright
    with streamlit_server() as base, sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(base + "/training?preset=gating")
        wait_for_app_idle(page)
        page.get_by_role("button", name="Start").click()
        start = time.perf_counter()
        seen, updates, reached = None, [], None
        while time.perf_counter() - start < limit_s:
            text = page.locator('[data-testid="stMarkdown"]').filter(has_text="steps/s").first.inner_text()
            if text != seen:
                seen = text
                updates.append(time.perf_counter() - start)
            m = re.search(r"A: LSTM loss ([0-9.e+-]+)", text)
            steps = re.search(r"step (\d+)", text)
            if m and float(m.group(1)) < 0.01:
                recent = page.evaluate("""() => { const d = document.querySelectorAll('.js-plotly-plot')[0]._fullData[0].y;
                    const ys = Array.from(d).slice(-20).filter(Number.isFinite); return ys.reduce((a, b) => a + b, 0) / ys.length; }""")
                if recent < 0.01:
                    reached = (time.perf_counter() - start, int(steps.group(1)))
                    break
            page.wait_for_timeout(100)
        page.get_by_role("button", name="Pause").click()
        browser.close()
    gaps = [b - a for a, b in zip(updates, updates[1:])]
    rate = 1 / statistics.median(gaps) if gaps else 0
    if reached:
        print(f"live preset: LSTM mean loss of the last 20 steps < 0.01 after {reached[0]:.1f} s wall time "
              f"(step {reached[1]}; target 60 s); page updated {rate:.1f} times/s (median; target >= 2)")
    else:
        print(f"live preset: LSTM not under 0.01 within {limit_s:.0f} s; page updated {rate:.1f} times/s")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=150, help="interleaved steps per cell")
    parser.add_argument("--preset", action="store_true", help="also time the preset without a browser")
    parser.add_argument("--live", action="store_true", help="also time the preset in a real browser")
    args = parser.parse_args()
    for cell in ("lstm", "rnn", "gru"):
        loop_ratio(cell, args.steps)
    if args.preset:
        preset_headless()
    if args.live:
        live_preset()


if __name__ == "__main__":
    main()
