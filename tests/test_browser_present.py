"""Presentation mode at 1280×720 (a projector): measured in Chromium."""
from conftest import wait_for_app_idle

MEASURE = """() => {
  const plot = [...document.querySelectorAll('.js-plotly-plot')].find(p => p.offsetParent !== null);
  const header = document.querySelector('[data-testid="stHeader"]');
  const h1 = [...document.querySelectorAll('h1')].find(h => h.offsetParent !== null);
  const texts = [...plot.querySelectorAll('text')].filter(t => t.textContent.trim());
  const lines = [...plot.querySelectorAll('.scatterlayer path.js-line')];
  return {fonts: texts.map(t => parseFloat(getComputedStyle(t).fontSize)),
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
