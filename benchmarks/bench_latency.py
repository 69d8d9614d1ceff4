"""Slider-to-chart latency of the Gradient flow page in a real browser (Playwright + Chromium).

Run: .venv/bin/python benchmarks/bench_latency.py [--steps 31]
Starts `streamlit run app.py` on a free port, opens /gradient-flow at the default settings, then
presses ArrowRight on the weight-scale slider and times until the main chart's data has changed.
Prints the median and the spread, and the ratio to the 300 ms target (issue #2).
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from conftest import CHROMIUM, CHROMIUM_ARGS, app_url, wait_for_app_idle  # noqa: E402

CURVE = """() => { const el = document.querySelector('.js-plotly-plot');
    return el && el.data ? JSON.stringify(el.data.map(d => d.y)) : null; }"""


def measure(base: str, steps: int) -> list[float]:
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(base + "/gradient-flow")
        wait_for_app_idle(page)
        page.wait_for_selector(".js-plotly-plot")
        slider = page.locator('input[type=range][aria-label="Weight scale s"]')
        times = []
        for i in range(steps):
            before = page.evaluate(CURVE)
            slider.focus()
            start = time.perf_counter()
            slider.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
            page.wait_for_function(f"(b) => ({CURVE})() !== b", arg=before, polling=5, timeout=30_000)
            times.append((time.perf_counter() - start) * 1000)
            wait_for_app_idle(page)
        browser.close()
    return times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=31)
    args = parser.parse_args()
    server = app_url.__wrapped__()          # the same fixture the browser tests use, as a generator
    base = next(server)
    try:
        times = measure(base, args.steps)
    finally:
        server.close()
    med = statistics.median(times)
    print(f"slider -> chart latency over {len(times)} steps: median {med:.0f} ms, "
          f"min {min(times):.0f} ms, max {max(times):.0f} ms; median / 300 ms target = {med / 300:.2f}")


if __name__ == "__main__":
    main()
