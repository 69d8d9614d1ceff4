"""Slider-to-chart latency of the Gradient flow page in headless Chromium, against a floor: the smallest Streamlit
app doing the same (benchmarks/floor_app.py: one select_slider, one 100-point Plotly line on a log axis).

Run: .venv/bin/python benchmarks/bench_latency.py [--steps 31] [--block 3] [--warmup 2] [--max-load 0.8]
Both servers on free ports, both pages in one browser; in interleaved rounds (`--block` presses each, the order
swapped every round) ArrowRight / ArrowLeft on the focused slider, timed until the chart's data changed. Prints
each side's median and p90, app / floor of the medians (target <= 1.3) and the median against 300 ms.
"""
import argparse
import math
import os
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from harness.browser import launch_chromium, wait_for_app_idle
from harness.server import loadavg, streamlit_server, wait_for_load
from harness.timing import percentile, summary

TARGET_RATIO = 1.3          # app median / floor median
TARGET_MS = 300             # issue #2: the app's median on its own
FLOOR_APP = ROOT / "benchmarks" / "floor_app.py"
CURVE = """() => { const el = document.querySelector('.js-plotly-plot');
    return el && el.data ? JSON.stringify(el.data.map(d => d.y)) : null; }"""
CHANGE_TIMEOUT_MS = 30_000


class Subject:
    """One app in one browser tab: its slider, and the latencies measured on it."""

    def __init__(self, name: str, browser, url: str, slider_label: str):
        self.name = name
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url, timeout=60_000)
        wait_for_app_idle(self.page)
        self.page.wait_for_selector(".js-plotly-plot", timeout=60_000)
        self.page.wait_for_function(f"() => ({CURVE})() !== null", timeout=60_000)
        self.slider = self.page.locator(f'input[type=range][aria-label="{slider_label}"]')
        self.slider.wait_for(state="attached", timeout=30_000)
        self.presses = 0
        self.times: list[float] = []

    def press(self, record: bool = True) -> float:
        """Move the slider one step (right, then back left, …); ms until the chart shows different data."""
        self.page.bring_to_front()
        before = self.page.evaluate(CURVE)
        self.slider.focus()
        key = "ArrowRight" if self.presses % 2 == 0 else "ArrowLeft"
        start = time.perf_counter()
        self.slider.press(key)
        try:
            self.page.wait_for_function(f"(b) => ({CURVE})() !== b", arg=before, polling=5,
                                        timeout=CHANGE_TIMEOUT_MS)
        except Exception as exc:
            raise RuntimeError(f"{self.name}: the chart did not change within {CHANGE_TIMEOUT_MS} ms "
                               f"after {key} (press {self.presses})") from exc
        elapsed = (time.perf_counter() - start) * 1000
        self.presses += 1
        if record:
            self.times.append(elapsed)
        wait_for_app_idle(self.page)
        return elapsed

    def close(self) -> None:
        self.context.close()


def measure(app_base: str, floor_base: str, steps: int, block: int, warmup: int) -> tuple[Subject, Subject]:
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            app = Subject("app", browser, app_base + "/gradient-flow", "Weight scale s")
            floor = Subject("floor", browser, floor_base + "/", "Floor scale")
            for _ in range(warmup):              # caches, Plotly's first draw, JIT: not recorded
                app.press(record=False)
                floor.press(record=False)
            for r in range(math.ceil(steps / block)):
                order = (app, floor) if r % 2 == 0 else (floor, app)
                for subject in order:
                    for _ in range(min(block, steps - len(subject.times))):
                        subject.press()
            for subject in (app, floor):
                if subject.errors:
                    raise RuntimeError(f"{subject.name}: page errors {subject.errors}")
            return app, floor
        finally:
            browser.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=31, help="recorded presses per app (default 31)")
    parser.add_argument("--block", type=int, default=3, help="presses per app per turn (default 3)")
    parser.add_argument("--warmup", type=int, default=2, help="unrecorded presses per app first (default 2)")
    parser.add_argument("--max-load", type=float, default=None,
                        help="first wait (up to --max-wait s) until the 1-minute load average is below this")
    parser.add_argument("--max-wait", type=float, default=600)
    args = parser.parse_args()
    if args.steps < 1 or args.block < 1 or args.warmup < 0:
        parser.error("--steps and --block must be >= 1, --warmup >= 0")
    if args.max_load is not None:
        wait_for_load(args.max_load, args.max_wait)
    load_before = loadavg()
    app_env = {**os.environ, "GFL_TORCH_THREADS": "1"}       # the app's thread policy (core/runtime.py)
    with ExitStack() as servers:                              # each server stopped by its own PID on exit
        app_base = servers.enter_context(streamlit_server("app.py", env=app_env))
        floor_base = servers.enter_context(streamlit_server(FLOOR_APP))
        app, floor = measure(app_base, floor_base, args.steps, args.block, args.warmup)
    ratio = statistics.median(app.times) / statistics.median(floor.times)
    ratio_p90 = percentile(app.times, 0.9) / percentile(floor.times, 0.9)
    print(f"slider -> chart latency, Chromium, interleaved rounds of {args.block} presses, "
          f"{args.warmup} warm-up presses each (load avg before {load_before}, after {loadavg()})")
    print(f"  app   (Gradient flow page, weight scale s):         {summary(app.times)}")
    print(f"  floor (select_slider + 100-point log-y line chart): {summary(floor.times)}")
    print(f"  ratio app/floor: median {ratio:.2f} (target <= {TARGET_RATIO}: "
          f"{'met' if ratio <= TARGET_RATIO else 'NOT met'}), p90 {ratio_p90:.2f}")
    print(f"  app median / {TARGET_MS} ms target = {statistics.median(app.times) / TARGET_MS:.2f}")


if __name__ == "__main__":
    main()
