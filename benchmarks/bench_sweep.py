"""The Sweep view of Gradient flow: the sweep's server time, and how fast scrubbing redraws.

Run: .venv/bin/python benchmarks/bench_sweep.py [--steps 40]
1. core.weight_scale_sweep over the slider's 81 weight scales (RNN at the defaults; LSTM, GRU), median of 5:
   target <= 1 s at the default view.
2. /gradient-flow?view=sweep in Chromium: real clicks on Plotly's slider, each timed from mousedown to the first
   frame painted after `plotly_animated`, and the WebSocket frames sent meanwhile (0: no rerun). Target <= 50 ms.
"""
import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import core
from harness.browser import launch_chromium, wait_for_app_idle
from harness.server import streamlit_server
from harness.timing import percentile, timed
from ui.flow_controls import WEIGHT_SCALES

ARM = """() => {
  const gd = [...document.querySelectorAll('.js-plotly-plot')].find(g => g._transitionData
             && g._transitionData._frames && g._transitionData._frames.length);
  window.__scrub = {gd, times: []};
  window.addEventListener('mousedown', () => { window.__scrub.start = performance.now(); }, true);
  gd.on('plotly_animated', () => requestAnimationFrame(() => {
    if (window.__scrub.start !== undefined) {
      window.__scrub.times.push(performance.now() - window.__scrub.start);
      window.__scrub.start = undefined;
    }
  }));
  const rail = gd.querySelector('.slider-rail-rect').getBoundingClientRect();
  return {left: rail.left, width: rail.width, y: rail.top + rail.height / 2,
          frames: gd._transitionData._frames.length, title: gd.layout.title.text};
}"""


def server_side(repeats: int = 5) -> None:
    core.configure_threads()
    for cell in ("rnn", "lstm", "gru"):
        cfg = core.UnrollConfig(cell=cell)
        times = timed(lambda: core.weight_scale_sweep(cfg, WEIGHT_SCALES), repeats)
        target = " (target <= 1 s at the default view)" if cell == "rnn" else ""
        print(f"sweep of {len(WEIGHT_SCALES)} weight scales, {cell:4s} T 100 H 64 batch 8: "
              f"median {statistics.median(times) * 1e3:.0f} ms{target}", flush=True)


def browser_side(steps: int) -> None:
    from playwright.sync_api import sync_playwright
    with streamlit_server() as base, sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        sent = []
        page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(payload)))
        page.goto(base + "/gradient-flow?view=sweep", timeout=60_000)
        wait_for_app_idle(page)
        page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')].some(g => g._transitionData"
                               " && g._transitionData._frames && g._transitionData._frames.length)", timeout=60_000)
        page.locator(".slider-rail-rect").first.scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        rail = page.evaluate(ARM)
        sent.clear()
        n = rail["frames"]
        titles = set()
        for i in range(steps):
            frame = (7 * i + 3) % n                  # jumps around the grid, never the same step twice in a row
            x = rail["left"] + rail["width"] * frame / (n - 1)
            page.mouse.click(x, rail["y"])
            page.wait_for_function(f"() => window.__scrub.times.length >= {i + 1}", timeout=10_000)
            titles.add(page.evaluate("() => window.__scrub.gd.layout.title.text"))
        times = page.evaluate("() => window.__scrub.times")
        browser.close()
    print(f"scrub in Chromium, {len(times)} slider clicks over {n} frames: median {statistics.median(times):.1f} ms, "
          f"p90 {percentile(times, 0.9):.1f} ms, max {max(times):.1f} ms (target median <= 50 ms); "
          f"{len(titles)} different frame titles; WebSocket frames sent to the server while scrubbing: {len(sent)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    server_side()
    browser_side(args.steps)


if __name__ == "__main__":
    main()
