"""The Training lab in a real browser: Start, watch the loss chart grow live, Pause."""
import json

from conftest import wait_for_app_idle

LOSS_POINTS = """() => { const el = document.querySelectorAll('.js-plotly-plot')[0];
    return el && el._fullData && el._fullData.length ? el._fullData[0].x.length : 0; }"""


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
    page.wait_for_function("() => document.body.innerText.includes('paused')", timeout=30_000)
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
