"""Charts stay readable in a real browser: no legend over a title or an axis title, no annotation cut at the
edge of its chart, at a desktop, a phone and 150% zoom (a 1280-px screen zoomed shows 853 CSS pixels)."""
import pytest
from conftest import wait_for_app_idle

VIEWPORTS = {"desktop": (1400, 1000), "phone": (390, 844), "zoom150": (853, 600)}
PAGES = ["why", "gradient-flow?activation=relu&weight_scale=2.51&seq_len=500&clip=1", "training?preset=gating",
         "cliff", "phase?s_count=21&y_count=11&seq_len=50"]

OVERLAPS = """() => {
  const box = e => { const r = e.getBoundingClientRect(); return {l: r.left, r: r.right, t: r.top, b: r.bottom}; };
  const hit = (a, b) => a.l < b.r - 1 && b.l < a.r - 1 && a.t < b.b - 1 && b.t < a.b - 1;
  const problems = [];
  document.querySelectorAll('.js-plotly-plot').forEach((plot, i) => {
    const title = plot.querySelector('.gtitle'), legend = plot.querySelector('.legend');
    const frame = box(plot.querySelector('.main-svg'));
    const name = title ? title.textContent.slice(0, 40) : 'chart ' + i;
    if (legend && legend.getBoundingClientRect().height > 0) {
      const lb = box(legend.querySelector('.bg') || legend);
      for (const other of plot.querySelectorAll('.gtitle, .xtitle, .ytitle, .xtick, .ytick')) {
        if (other.textContent && hit(lb, box(other))) problems.push(name + ': legend covers ' + other.textContent.slice(0, 30));
      }
    }
    plot.querySelectorAll('.annotation-text-g').forEach(a => {
      const b = box(a);
      if (b.r - b.l > 0 && (b.l < frame.l - 1 || b.r > frame.r + 1)) problems.push(name + ': annotation cut: ' + a.textContent.slice(0, 30));
    });
  });
  return problems; }"""


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_legends_and_labels_never_cover_each_other(app_url, browser, viewport):
    width, height = VIEWPORTS[viewport]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    problems = []
    try:
        for path in PAGES:
            page.goto(f"{app_url}/{path}")
            wait_for_app_idle(page)
            page.wait_for_selector(".js-plotly-plot", timeout=30_000)
            page.wait_for_timeout(1500)
            problems += [f"{path}: {p}" for p in page.evaluate(OVERLAPS)]
    finally:
        context.close()
    assert not problems, problems


# On a phone: each select slider of the row above the chart, its track and its stops; every chart text's box, its
# chart's box and the legend's font size.
PHONE_SLIDERS = """() => [...document.querySelectorAll('.st-key-phone_controls [data-testid="stSlider"]')].map(s => {
  const input = s.querySelector('input[type="range"]'), track = input.closest('[role="group"]').firstElementChild;
  return {label: input.getAttribute('aria-label'), stops: Number(input.max) - Number(input.min) + 1,
          track: track.getBoundingClientRect().width}; })"""
CLIPPED_TEXT = """(width) => { const cut = [];
  document.querySelectorAll('.js-plotly-plot').forEach(plot => {
    const frame = plot.querySelector('.main-svg').getBoundingClientRect();
    plot.querySelectorAll('.legendtext, .xtitle, .ytitle, .gtitle, .xtick text, .ytick text').forEach(t => {
      const b = t.getBoundingClientRect();
      if (b.width && (b.left < Math.max(frame.left, 0) - 1 || b.right > Math.min(frame.right, width) + 1
                      || b.top < frame.top - 1 || b.bottom > frame.bottom + 1)) cut.push(t.textContent.slice(0, 40));
    });
  });
  return cut; }"""
LEGEND_PX = """() => [...document.querySelectorAll('.js-plotly-plot .legendtext')]
  .map(t => parseFloat(getComputedStyle(t).fontSize))"""


def test_gradient_flow_on_a_phone_has_its_sliders_over_the_chart_in_steps_a_finger_can_place(app_url, browser):
    from ui.phone import MIN_STEP_PX
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    page = context.new_page()
    try:
        page.goto(f"{app_url}/gradient-flow?activation=relu&weight_scale=2.51&seq_len=500&clip=1")
        wait_for_app_idle(page)
        page.wait_for_selector(".js-plotly-plot .legendtext", timeout=30_000)
        page.wait_for_timeout(1500)
        assert page.evaluate(CLIPPED_TEXT, 390) == []                # legend entries and axis titles in lines
        sizes = page.evaluate(LEGEND_PX)
        assert sizes and min(sizes) >= 14, sizes

        page.goto(f"{app_url}/gradient-flow")
        wait_for_app_idle(page)
        page.wait_for_selector(".js-plotly-plot .legendtext", timeout=30_000)
        assert page.locator('[data-testid="stSidebar"]').get_attribute("data-collapsed") == "true"   # not over the chart
        sliders = {s["label"]: s for s in page.evaluate(PHONE_SLIDERS)}
        assert set(sliders) == {"Weight scale", "Sequence length"}, sliders
        for s in sliders.values():                 # the sidebar's 81 weight scales would be 4 px apart here
            assert s["track"] / (s["stops"] - 1) >= MIN_STEP_PX, s
        row = page.locator(".st-key-phone_controls")
        row.evaluate("""row => { row.scrollIntoView({block: 'start'});        // just under the app's header
                                 document.querySelector('[data-testid="stMain"]').scrollBy(0, -64); }""")
        chart = page.locator(".js-plotly-plot").first
        row_box, chart_box = row.bounding_box(), chart.bounding_box()
        assert row_box["y"] + row_box["height"] <= chart_box["y"]               # above the chart, not over it
        assert chart_box["y"] + 250 <= 844                 # and the chart's plot beside it on the same screen
        thumb = row.locator('input[type="range"][aria-label="Weight scale"]')
        thumb.focus()
        page.keyboard.press("ArrowRight")                   # one stop: s = 1 -> 1.58 (the sidebar would go to 1.06)
        page.wait_for_function("() => location.search.includes('weight_scale=1.58')", timeout=30_000)
        wait_for_app_idle(page)
        headline = page.locator('[data-testid="stMarkdown"]', has_text="Vanishing.").first.inner_text()
        assert "7.6e-6 of its final-step value" in headline and "×0.89" in headline
        page.locator('[data-testid="stExpandSidebarButton"]').click()          # the sidebar agrees
        sidebar = page.locator('[data-testid="stSidebar"] input[type="range"][aria-label="Weight scale s"]')
        assert sidebar.get_attribute("aria-valuetext") == "1.58"
        assert page.evaluate(CLIPPED_TEXT, 390) == []
    finally:
        context.close()


def test_the_phone_row_is_hidden_beside_a_sidebar(app_url, page):
    page.goto(f"{app_url}/gradient-flow")
    wait_for_app_idle(page)
    page.wait_for_selector(".js-plotly-plot", timeout=30_000)
    row = page.locator(".st-key-phone_controls")
    assert row.count() == 1 and row.is_hidden()                  # display: none: no Tab stop, nothing read
    assert row.evaluate("r => r.parentElement.getBoundingClientRect().height") == 0   # nor a gap where it is
