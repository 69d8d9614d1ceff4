"""WCAG 2.1 AA on every page and view, presentation mode included: axe-core (npm, installed by scripts/test.sh into
tests/.npm) injected into Chromium reports no violation of its wcag2a, wcag2aa, wcag21a and wcag21aa rules; every
chart has a name and a description from its own numbers, and its data one click away."""
from pathlib import Path

import pytest
from conftest import wait_for_app_idle

from ui import a11y
from ui.lesson_steps import STEPS

AXE = Path(__file__).parent / ".npm" / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
VIEWS = ["home", "lesson?step=1", "lesson?step=5", "lesson?step=8", "gradient-flow",
         "gradient-flow?view=spectrum", "gradient-flow?view=saturation", "gradient-flow?view=sweep",
         "gradient-flow?activation=relu&weight_scale=2.51&seq_len=500", "training?preset=gating", "cliff", "phase",
         "why"]

RUN_AXE = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
  return result.violations.map(v => `${v.id}: ${v.nodes.length} × ${v.nodes[0].target.join(' ')} — ${v.nodes[0].failureSummary}`);
}"""

CHART_NAMES = """() => [...document.querySelectorAll('.js-plotly-plot')].filter(p => p.offsetParent !== null).map(p => {
  const svg = p.querySelector('svg.main-svg'); return svg ? [svg.getAttribute('role'), svg.getAttribute('aria-label')] : null; })"""


@pytest.mark.parametrize("present", [False, True])
def test_axe_finds_no_wcag_21_aa_violation_on_any_page_or_view(browser, app_url, present):
    assert AXE.exists(), "axe-core missing: bash scripts/test.sh installs it (npm install --prefix tests/.npm)"
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    found = {}
    for view in VIEWS:
        page.goto(f"{app_url}/{view}" + (("&" if "?" in view else "?") + "present=1" if present else ""))
        wait_for_app_idle(page)
        if view != "home":
            page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=60_000)
        page.wait_for_timeout(800)
        # the page's script names each chart once Plotly has drawn it: on a busy machine that can take a while
        page.wait_for_function(f"() => ({CHART_NAMES})().every(n => n && n[0] === 'img')", timeout=30_000)
        page.add_script_tag(path=str(AXE))
        violations = page.evaluate(RUN_AXE, TAGS)
        if violations:
            found[view] = violations
        names = page.evaluate(CHART_NAMES)
        assert all(n and n[0] == "img" and len(n[1]) > 10 for n in names), (view, names)
    context.close()
    assert not found, found


def test_every_chart_names_and_describes_itself_with_its_numbers_and_has_its_data_as_a_table():
    for step in STEPS:
        fig = step.figure()
        text, frame = a11y.describe(fig), a11y.table(fig)
        assert any(ch.isdigit() for ch in text) and len(text) > 20, (step.title, text)
        assert frame.size > 0 and frame.notna().to_numpy().any(), step.title
    lstm = STEPS[5]
    described = a11y.describe(lstm.figure())
    assert "LSTM, forget bias 3" in described and "vanilla tanh RNN" in described


def test_a_charts_description_says_the_numbers_its_headline_uses():
    import core
    from ui import flow_figs
    res = core.unroll(core.UnrollConfig(seq_len=100))
    text = a11y.describe(flow_figs.gradient_curve_figure(res))
    assert f"{res.grad_norm[-1]:.3g} at 99" in text                      # the headline: "… after 99 steps …"


def test_the_training_labs_run_state_is_a_live_region_that_says_when_the_run_stops(app_url, page):
    page.goto(app_url + "/training?preset=exploding")
    wait_for_app_idle(page)
    region = page.locator(f'.st-key-{a11y.RUN_STATE_KEY}[role="status"][aria-live="polite"]')
    region.wait_for(state="attached", timeout=30_000)
    assert region.inner_text().strip() == "Training lab: ready"
    page.get_by_role("button", name="Start").click()
    page.wait_for_function(f"""() => {{ const r = document.querySelector('.st-key-{a11y.RUN_STATE_KEY}[role="status"]');
        return r && r.innerText.includes('stopped: NaN/inf'); }}""", timeout=120_000)
    assert page.locator(f'.st-key-{a11y.RUN_STATE_KEY}').count() == 1          # one region, kept across reruns


def test_plotlys_own_slider_works_by_keyboard_and_the_lesson_keys_leave_it_alone(app_url, page):
    """Lesson step 5 (the Sweep): Tab reaches the frame slider; → moves one weight scale, in the browser."""
    page.goto(app_url + "/lesson?step=5")
    wait_for_app_idle(page)
    rail = page.locator('.js-plotly-plot [role="slider"][tabindex="0"]')
    rail.first.wait_for(state="attached", timeout=60_000)
    title = "() => document.querySelector('.js-plotly-plot .gtitle').textContent"
    first = page.evaluate(title)
    assert first.startswith("s = 1:") and rail.first.get_attribute("aria-valuetext") == "s = 1"
    rail.first.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.wait_for_function(f"() => ({title})().startsWith('s = 1.12:')", timeout=10_000)
    assert rail.first.get_attribute("aria-valuetext") == "s = 1.12"
    assert page.evaluate("() => document.activeElement.getAttribute('role')") == "slider"   # focus kept
    assert "step=5" in page.url and page.locator('[data-testid="stHeading"] h2').first.inner_text().startswith("5.")


DARK_VIEWS = ["gradient-flow?view=sweep", "training?preset=gating", "why"]
# Every visible text of every chart: its colour's contrast on the page behind the chart (the charts are transparent
# in dark mode), as WCAG computes it.
CHART_TEXT_CONTRAST = """() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => { const f = v => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
                               return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const page = rgb(getComputedStyle(document.querySelector('.stApp')).backgroundColor);
  const worst = [];
  document.querySelectorAll('.js-plotly-plot').forEach(plot => {
    const paper = rgb(getComputedStyle(plot.querySelector('.main-svg')).backgroundColor || '');
    const behind = paper.length === 4 && paper[3] === 0 || paper.length < 3 ? page : paper;
    plot.querySelectorAll('text').forEach(t => {
      if (!t.textContent.trim() || !t.getBoundingClientRect().width) return;
      const r = ratio(rgb(getComputedStyle(t).fill), behind);
      if (r < 4.5) worst.push(`${t.textContent.slice(0, 30)}: ${r.toFixed(2)}`);
    });
  });
  return {page: lum(page), worst}; }"""


def test_dark_mode_follows_the_system_with_dark_charts_readable_text_and_no_axe_violation(browser, app_url):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="dark")
    page = context.new_page()
    found = {}
    for view in DARK_VIEWS:
        page.goto(f"{app_url}/{view}")
        wait_for_app_idle(page)
        page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=60_000)
        page.wait_for_timeout(800)
        measured = page.evaluate(CHART_TEXT_CONTRAST)
        assert measured["page"] < 0.02, (view, measured)              # the page is dark...
        assert not measured["worst"], (view, measured["worst"])       # ...and every chart text reads on it
        paper = page.evaluate("() => getComputedStyle(document.querySelector('.js-plotly-plot .main-svg')).backgroundColor")
        assert paper in ("rgba(0, 0, 0, 0)", "transparent"), paper   # no white chart on a dark page
        page.add_script_tag(path=str(AXE))
        violations = page.evaluate(RUN_AXE, TAGS)
        if violations:
            found[view] = violations
    context.close()
    assert not found, found
