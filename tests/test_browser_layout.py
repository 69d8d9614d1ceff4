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
