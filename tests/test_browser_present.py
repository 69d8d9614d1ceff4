"""Presentation mode at 1280×720 (a projector): measured in Chromium."""
import pytest
from conftest import wait_for_app_idle

MEASURE = """() => {
  const plot = [...document.querySelectorAll('.js-plotly-plot')].find(p => p.offsetParent !== null);
  const header = document.querySelector('[data-testid="stHeader"]');
  const h1 = [...document.querySelectorAll('h1, h2')].find(h => h.offsetParent !== null);   // the lesson: its step
  const texts = [...plot.querySelectorAll('text')].filter(t => t.textContent.trim());
  const lines = [...plot.querySelectorAll('.scatterlayer path.js-line')];
  const box = sel => { const e = plot.querySelector(sel); if (!e) return null; const r = e.getBoundingClientRect();
                       return [r.left, r.top, r.right, r.bottom]; };
  return {title: box('.gtitle'), legend: box('.legend'),
          fonts: texts.map(t => parseFloat(getComputedStyle(t).fontSize)),
          lines: lines.map(p => parseFloat(getComputedStyle(p).strokeWidth)),
          plotBottom: plot.getBoundingClientRect().bottom, h1Top: h1.getBoundingClientRect().top,
          headerBottom: header ? header.getBoundingClientRect().bottom : 0, innerHeight: window.innerHeight};
}"""


def test_presentation_mode_fits_the_gradient_flow_chart_on_a_projector_in_big_type(browser, app_url):
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    page.goto(app_url + "/gradient-flow?present=1")
    wait_for_app_idle(page)
    page.wait_for_selector(".js-plotly-plot .scatterlayer path.js-line")
    m = page.evaluate(MEASURE)
    assert len(m["fonts"]) > 10 and min(m["fonts"]) >= 20, m["fonts"]        # ticks, titles, legend: all ≥ 20 px
    assert len(m["lines"]) >= 3 and min(m["lines"]) >= 3, m["lines"]
    assert m["h1Top"] >= m["headerBottom"] - 1                                # the title is not under the app bar
    assert m["plotBottom"] <= m["innerHeight"]                                # the whole chart without scrolling
    weight = page.locator('input[type=range][aria-label="Weight scale s"]').bounding_box()
    assert weight["y"] + weight["height"] <= m["innerHeight"]                 # and the slider a teacher moves most
    # a slider move keeps the mode, and the URL carries it
    slider = page.locator('input[type=range][aria-label="Weight scale s"]')
    slider.focus()
    slider.press("ArrowRight")
    page.wait_for_function("() => location.search.includes('weight_scale=') && location.search.includes('present=1')",
                           timeout=30_000)
    # switched off from the sidebar: normal sizes, and the URL forgets it
    page.get_by_text("Presentation mode").click()
    page.wait_for_function("() => !location.search.includes('present=1')", timeout=30_000)
    wait_for_app_idle(page)
    page.wait_for_timeout(500)
    assert min(page.evaluate(MEASURE)["fonts"]) < 20
    context.close()


def overlap(a, b) -> bool:
    return a is not None and b is not None and a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize("path", ["training", "cliff", "phase", "lesson?step=2"])
def test_the_main_chart_of_each_page_fits_a_projector_in_big_type(browser, app_url, path):
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    page.goto(app_url + f"/{path}{'&' if '?' in path else '?'}present=1")
    wait_for_app_idle(page)
    page.locator(".js-plotly-plot").filter(visible=True).first.wait_for(timeout=60_000)
    page.wait_for_timeout(500)
    m = page.evaluate(MEASURE)
    assert min(m["fonts"]) >= 20, m["fonts"]
    assert not m["lines"] or min(m["lines"]) >= 3, m["lines"]
    assert m["plotBottom"] <= m["innerHeight"] and m["h1Top"] >= m["headerBottom"] - 1
    assert not overlap(m["title"], m["legend"])
    context.close()


def test_on_a_phone_the_chart_is_on_the_first_screen_and_the_toolbar_clear_of_title_and_legend(browser, app_url):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(app_url + "/gradient-flow")
    wait_for_app_idle(page)
    plot = page.locator(".js-plotly-plot").filter(visible=True).first
    plot.wait_for(timeout=60_000)
    page.wait_for_timeout(500)
    assert plot.bounding_box()["y"] < 844 - 200                  # at least 200 px of the chart without scrolling
    plot.hover()
    page.wait_for_timeout(300)
    boxes = plot.evaluate("""p => { const b = s => { const e = p.querySelector(s); if (!e) return null;
        const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
        return {bar: b('.modebar'), title: b('.gtitle'), legend: b('.legend')}; }""")
    assert boxes["bar"] is not None
    assert not overlap(boxes["bar"], boxes["title"]) and not overlap(boxes["bar"], boxes["legend"])
    context.close()
