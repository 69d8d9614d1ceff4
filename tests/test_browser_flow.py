"""A real browser (Playwright + Debian's Chromium) against `streamlit run app.py`."""
import json

from conftest import wait_for_app_idle

CURVE_DATA = """() => { const el = document.querySelector('.js-plotly-plot');
    return el && el.data ? JSON.stringify(el.data.map(d => [d.name, d.y])) : null; }"""


def curve(page):
    return json.loads(page.evaluate(CURVE_DATA))


def slider(page, label):
    return page.locator(f'input[type=range][aria-label="{label}"]')


def test_moving_a_slider_redraws_the_chart_and_updates_the_url(app_url, page, tmp_path):
    page.goto(app_url + "/gradient-flow")
    wait_for_app_idle(page)
    page.wait_for_selector(".js-plotly-plot")
    before = curve(page)
    assert before[0][0] == "‖∂L/∂h‖ measured" and len(before[0][1]) == 100

    ws = slider(page, "Weight scale s")
    ws.focus()
    for _ in range(4):                                      # four notches right: s = 1 → 1.26
        ws.press("ArrowRight")
    page.wait_for_function("() => location.search.includes('weight_scale=1.26')", timeout=30_000)
    wait_for_app_idle(page)
    assert curve(page) != before

    # drag the sequence-length thumb with the mouse, as a person would
    box = slider(page, "Sequence length T").locator("xpath=..").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + 120, box["y"] + box["height"] / 2, steps=8)
    page.mouse.up()
    wait_for_app_idle(page)
    page.wait_for_function("() => /seq_len=\\d+/.test(location.search)", timeout=30_000)
    wait_for_app_idle(page)
    new_len = int(page.url.split("seq_len=")[1].split("&")[0])
    assert new_len > 100
    page.wait_for_function(f"() => ({CURVE_DATA})() && JSON.parse(({CURVE_DATA})())[0][1].length === {new_len}",
                           timeout=30_000)
    page.screenshot(path=str(tmp_path / "gradient_flow.png"), full_page=True)


def test_a_shared_link_opens_the_same_view(app_url, page):
    page.goto(app_url + "/gradient-flow?cell=lstm&seq_len=50&weight_scale=0.501")
    wait_for_app_idle(page)
    page.wait_for_selector(".js-plotly-plot")
    names = [name for name, _ in curve(page)]
    assert "‖∂L/∂c‖ cell state" in names
    assert len(curve(page)[0][1]) == 50
    assert page.locator('[data-testid="stException"]').count() == 0


def test_a_bad_link_warns_and_still_draws(app_url, page):
    page.goto(app_url + "/gradient-flow?weight_scale=1000&seq_len=30")
    wait_for_app_idle(page)
    page.wait_for_selector(".js-plotly-plot")
    alert = page.locator('[data-testid="stAlert"]').first.inner_text()
    assert "weight_scale=1000" in alert and "from 0.1 to 10" in alert
    assert len(curve(page)[0][1]) == 30
