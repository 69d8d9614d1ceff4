"""The Training lab in a real browser: Start, watch the charts grow live and hold still, Pause."""
import json
import re
import time

from conftest import wait_for_app_idle

LOSS_POINTS = """() => { const el = document.querySelectorAll('.js-plotly-plot')[0];
    return el && el._fullData && el._fullData.length ? el._fullData[0].x.length : 0; }"""
STATUS = "() => { const s = Array.from(document.querySelectorAll('[data-testid=\"stMarkdown\"]'))" \
         ".map(e => e.innerText).find(t => t.includes(' · step ')); return s || ''; }"


def status(page) -> str:
    return page.evaluate(STATUS)


def steps_and_seconds(page) -> tuple[int, float]:
    text = status(page)
    return int(re.search(r"step (\d+)", text).group(1)), float(re.search(r"([\d.]+) s of training", text).group(1))


def test_start_grows_the_loss_chart_and_pause_stops_it_and_the_history_downloads(app_url, page, tmp_path):
    page.goto(app_url + "/training?preset=gating")
    wait_for_app_idle(page)
    page.wait_for_selector(".js-plotly-plot")
    assert "Why gating matters" in page.locator('[data-testid="stAlert"]').first.inner_text()
    assert page.evaluate(LOSS_POINTS) == 0

    page.get_by_role("button", name="Start").click()
    page.wait_for_function(f"() => ({LOSS_POINTS})() > 0", timeout=30_000)
    first = page.evaluate(LOSS_POINTS)
    page.wait_for_function(f"(n) => ({LOSS_POINTS})() > n", arg=first, timeout=30_000)   # it keeps growing live
    assert page.get_by_role("button", name="Start").is_disabled()

    page.get_by_role("button", name="Pause").click()
    page.wait_for_function(f"() => ({STATUS})().startsWith('paused')", timeout=30_000)
    wait_for_app_idle(page)
    paused_at = page.evaluate(LOSS_POINTS)
    page.wait_for_timeout(2000)
    assert page.evaluate(LOSS_POINTS) == paused_at        # paused means paused
    assert not page.get_by_role("button", name="Start").is_disabled()
    legend = json.dumps(page.evaluate("() => document.querySelectorAll('.js-plotly-plot')[0].data.map(d => d.name)"))
    assert "A: LSTM" in legend and "B: RNN tanh" in legend
    page.screenshot(path=str(tmp_path / "training.png"), full_page=True)

    with page.expect_download() as download:                 # the CSV is built when it is asked for
        page.get_by_role("button", name="Download history (CSV)").click()
    lines = open(download.value.path()).read().splitlines()
    assert lines[0].startswith("run,step,loss,grad_norm,grad_norm_clipped,clipped")
    assert sum(line.startswith("A: LSTM,") for line in lines) >= paused_at
    assert sum(line.startswith("B: RNN tanh,") for line in lines) >= paused_at


# Every painted frame: where the page is scrolled, how tall it is, and whether each of the five live charts (loss,
# Lyapunov exponents, gradient norm, two heatmaps) is on the page with something drawn in it (lines or the heatmap's
# image).
FRAME_PROBE = """() => { window.__frames = [];
  const main = document.querySelector('[data-testid="stMain"]');
  const tick = () => {
    const charts = Array.from(document.querySelectorAll('div.gfl-live-plot'));
    const drawn = charts.filter(c => c.getBoundingClientRect().height > 100 &&
                                     c.querySelector('.main-svg .trace, .main-svg .heatmaplayer image'));
    const heat = charts.length > 3 ? charts[charts.length - 2].getBoundingClientRect() : null;
    window.__frames.push({y: main.scrollTop, height: main.scrollHeight, charts: charts.length,
                          drawn: drawn.length, heat: heat ? [heat.top, heat.bottom] : null});
    if (window.__probing) requestAnimationFrame(tick); };
  window.__probing = true; requestAnimationFrame(tick); }"""


def test_the_live_area_holds_still_while_training(app_url, browser):
    """At a projector's 1280×720, scrolled down to the heatmaps: 12 s of live training never shows a chart
    undrawn and never moves the page (the charts are redrawn in place, not remounted)."""
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    try:
        page.goto(app_url + "/training?preset=gating")
        wait_for_app_idle(page)
        page.get_by_role("button", name="Start").click()
        page.wait_for_function(f"() => ({LOSS_POINTS})() > 0", timeout=30_000)
        page.wait_for_function("() => document.querySelectorAll('div.gfl-live-plot .heatmaplayer image').length >= 2",
                               timeout=30_000)
        page.locator("div.gfl-live-plot").nth(-2).scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        first_steps, _ = steps_and_seconds(page)
        page.evaluate(FRAME_PROBE)
        page.wait_for_timeout(12_000)
        frames = page.evaluate("() => { window.__probing = false; return window.__frames; }")
        page.get_by_role("button", name="Pause").click()
        assert len(frames) > 60
        start = frames[0]
        assert start["y"] > 300                                       # scrolled down to the heatmaps
        for f in frames:
            assert abs(f["y"] - start["y"]) <= 2, f                   # no scroll jump
            assert f["height"] >= 0.95 * start["height"], f            # no collapse
            assert f["charts"] == 5 and f["drawn"] == 5, f             # no blank frame
            top, bottom = f["heat"]
            assert bottom > 0 and top < 720, f                        # the heatmap stays on screen
        steps, _ = steps_and_seconds(page)
        assert steps > first_steps + 20                               # and it really was training
    finally:
        context.close()


def test_start_pause_clicks_never_train_two_steps_at_once(app_url, page):
    """Four quick Start/Pause toggles on steps of ~0.5 s: the session trains one step at a time (the time it
    reports training never exceeds the wall time), and once paused nothing more is computed."""
    page.goto(app_url + "/training?a_cell=lstm&seq_len=300&a_hidden=128&batch=64")
    wait_for_app_idle(page)
    began = time.monotonic()
    for _ in range(4):
        page.get_by_role("button", name="Start").click()
        page.wait_for_timeout(700)
        page.get_by_role("button", name="Pause").click()
        page.wait_for_timeout(300)
    page.wait_for_function(f"() => ({STATUS})().startsWith('paused')", timeout=60_000)
    wall = time.monotonic() - began
    steps, trained = steps_and_seconds(page)
    assert steps >= 1 and trained <= wall + 0.5, (trained, wall)
    page.wait_for_timeout(3000)
    assert steps_and_seconds(page) == (steps, trained)                   # paused means nothing more is done


def test_fast_forward_trains_exactly_n_steps_behind_a_progress_bar_then_pauses(app_url, page):
    page.goto(app_url + "/training?seq_len=40&a_hidden=16&batch=16")
    wait_for_app_idle(page)
    page.wait_for_selector(".js-plotly-plot")
    page.get_by_role("button", name="Fast-forward").click()               # 500 steps, the default
    page.locator('[data-testid="stProgress"]').filter(visible=True).first.wait_for(timeout=30_000)
    assert page.locator(".js-plotly-plot").filter(visible=True).count() == 0    # no chart redraws meanwhile
    page.wait_for_function(f"() => ({STATUS})().startsWith('paused')", timeout=120_000)
    wait_for_app_idle(page)
    assert "step 500 ·" in page.evaluate(STATUS)                          # exactly N, then it stops
    page.locator(".js-plotly-plot").filter(visible=True).first.wait_for(timeout=30_000)   # the charts are back
    assert page.locator('[data-testid="stProgress"]').filter(visible=True).count() == 0


ACTIVE = """() => { const a = document.activeElement, holder = a && a.closest('[class*="st-key-"]');
  return a === document.body || !holder ? 'body' : holder.className.match(/st-key-(\\S+)/)[1]; }"""
RUN_STATE = "() => document.querySelector('.st-key-run_state').innerText"
LOSS_LABEL = "() => document.querySelector('.gfl-live-plot svg.main-svg').getAttribute('aria-label')"
LOSS_VERSION = "() => document.querySelector('.gfl-live-plot').getAttribute('data-version')"


def test_by_keyboard_the_focus_stays_when_a_run_stops_and_frozen_charts_hold_while_training_goes_on(app_url, page):
    """Start by keyboard: the focus moves to Pause (Start is disabled), and back to Start when the run stops on
    its own (NaN); never to the page's body. The loss chart says its latest numbers and shows them as a table.
    Freeze charts: training goes on, the charts hold still, and the focus stays on the toggle."""
    page.goto(app_url + "/training?preset=exploding")
    wait_for_app_idle(page)
    page.wait_for_selector(".gfl-live-plot svg.main-svg[aria-label]", timeout=30_000)
    assert "Nothing measured yet. Lines: chance level" in page.evaluate(LOSS_LABEL)
    page.get_by_role("button", name="Start").focus()
    page.keyboard.press("Enter")
    page.wait_for_function(f"() => ({RUN_STATE})().includes('stopped: NaN/inf')", timeout=60_000)
    wait_for_app_idle(page)
    page.wait_for_timeout(600)
    assert page.evaluate(ACTIVE) == "btn_start"                    # Start trains A on alone: the next thing to do
    step = steps_and_seconds(page)[0]
    page.wait_for_function(f"() => ({LOSS_LABEL})().includes('at training step {step}:')", timeout=10_000)
    label = page.evaluate(LOSS_LABEL)
    assert "A: RNN tanh (mean of 20 steps) at training step" in label and "at 0.167" in label, label
    data = page.locator('[data-testid="stExpander"]', has_text="Chart data as a table").first
    data.locator("summary").click()
    data.locator('[data-testid="stDataFrame"]').wait_for(timeout=30_000)
    assert re.search(r"at training step \d+: ", data.inner_text())

    toggle = page.get_by_role("switch", name="Freeze charts")
    toggle.focus()
    page.keyboard.press("Space")
    wait_for_app_idle(page)
    page.wait_for_timeout(600)
    assert toggle.is_checked() and page.evaluate(ACTIVE) == "freeze_charts"
    frozen_at = page.evaluate(LOSS_VERSION)
    page.get_by_role("button", name="Start").click()
    page.wait_for_function(f"(n) => {{ const m = ({STATUS})().match(/step (\\d+)/); return m && +m[1] > n + 30; }}",
                           arg=step, timeout=60_000)                # training goes on...
    assert page.evaluate(LOSS_VERSION) == frozen_at                  # ...and the charts hold still
    assert "Charts frozen at step" in page.locator('[data-testid="stCaptionContainer"]', has_text="frozen").inner_text()
    toggle.focus()
    page.keyboard.press("Space")                                     # off: they catch up at once
    page.wait_for_function(f"(v) => ({LOSS_VERSION})() !== v", arg=frozen_at, timeout=30_000)
    page.get_by_role("button", name="Pause").click()
    page.wait_for_function(f"() => ({RUN_STATE})().includes('paused')", timeout=30_000)
    wait_for_app_idle(page)
    page.wait_for_timeout(600)
    assert page.evaluate(ACTIVE) == "btn_start"                       # Pause is disabled: Start, never the body
