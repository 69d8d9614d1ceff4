"""Presentation mode on a projector, 1024×768 and 1280×720, measured in Chromium: every lesson step and the main
charts of Gradient flow, Training lab, Loss cliff and Phase diagram are whole on the first screen (title and
legend inside the chart, nothing scrolled), the lesson's talking point, question and lab link too; the sidebar
can be collapsed (and is, on the lesson); the presenter's keys move between steps."""
import pytest
from conftest import wait_for_app_idle

from ui.lesson_steps import STEPS

SIZES = [(1024, 768), (1280, 720)]

MEASURE = """() => {
  const box = e => { if (!e) return null; const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const plot = [...document.querySelectorAll('.js-plotly-plot')].find(p => p.offsetParent !== null);
  const main = document.querySelector('[data-testid="stMain"]');
  const scroll = document.querySelector('[data-testid="stAppScrollToBottomContainer"]') || document.scrollingElement;
  const sidebar = document.querySelector('[data-testid="stSidebar"]');
  return {plot: box(plot), svg: plot && box(plot.querySelector('.main-svg')),
          title: plot && box(plot.querySelector('.gtitle')), legend: plot && box(plot.querySelector('.legend')),
          legendScrolls: plot ? [...plot.querySelectorAll('.legend .scrollbar')].some(s => s.getBoundingClientRect().height > 0) : null,
          question: box([...main.querySelectorAll('[data-testid="stAlert"]')].find(a => a.innerText.includes('Ask the class'))),
          labLink: box([...main.querySelectorAll('[data-testid="stPageLink"]')].pop()),
          sidebarOpen: sidebar ? sidebar.getBoundingClientRect().right > 50 : false,
          scrollTop: scroll ? scroll.scrollTop : 0, width: window.innerWidth, height: window.innerHeight};
}"""


def inside(inner, outer, slack: float = 1.0) -> bool:
    return (inner is not None and outer is not None and inner[0] >= outer[0] - slack and inner[1] >= outer[1] - slack
            and inner[2] <= outer[2] + slack and inner[3] <= outer[3] + slack)


def first_screen(m) -> list:
    return [0, 0, m["width"], m["height"]]


def open_settled(page, url: str):
    page.goto(url)
    wait_for_app_idle(page)
    page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=60_000)
    page.wait_for_timeout(700)
    return page.evaluate(MEASURE)


def assert_chart_whole(m, what: str) -> None:
    screen = first_screen(m)
    assert inside(m["plot"], screen), (what, "chart", m["plot"], screen)
    assert inside(m["title"], m["svg"]), (what, "title cut", m["title"], m["svg"])
    assert m["legend"] is None or inside(m["legend"], m["svg"]), (what, "legend cut", m["legend"], m["svg"])
    assert not m["legendScrolls"], (what, "legend needs scrolling")


@pytest.mark.parametrize("width,height", SIZES)
def test_every_lesson_step_fits_a_projector_with_its_point_question_and_link(browser, app_url, width, height):
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    for n in range(1, len(STEPS) + 1):
        m = open_settled(page, f"{app_url}/lesson?step={n}&present=1")
        what = f"step {n} at {width}×{height}"
        assert not m["sidebarOpen"], what                               # collapsed on the lesson
        assert_chart_whole(m, what)
        point = page.get_by_text(STEPS[n - 1].point[:40]).bounding_box()
        assert point and point["y"] + point["height"] <= height, (what, "talking point", point)
        assert inside(m["question"], first_screen(m)), (what, "question", m["question"])
        assert inside(m["labLink"], first_screen(m)), (what, "lab link", m["labLink"])
        assert m["scrollTop"] == 0
    context.close()


@pytest.mark.parametrize("width,height", SIZES)
@pytest.mark.parametrize("path", ["gradient-flow", "training?preset=exploding", "training?preset=gating", "cliff",
                                  "phase"])
def test_the_main_chart_of_each_lab_page_fits_a_projector_and_the_sidebar_collapses(browser, app_url, path, width,
                                                                                    height):
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    m = open_settled(page, f"{app_url}/{path}{'&' if '?' in path else '?'}present=1")
    assert_chart_whole(m, f"{path} at {width}×{height}")
    # collapsing the sidebar: the chart gets the width, and still fits
    page.locator('[data-testid="stSidebarHeader"]').hover()
    page.locator('[data-testid="stSidebarCollapseButton"] button').click()
    page.wait_for_function("() => document.querySelector('[data-testid=\"stSidebar\"]')"
                           ".getBoundingClientRect().right <= 50", timeout=10_000)
    page.wait_for_timeout(800)
    m2 = page.evaluate(MEASURE)
    assert m2["plot"][2] - m2["plot"][0] > m["plot"][2] - m["plot"][0] + 150
    assert_chart_whole(m2, f"{path} at {width}×{height}, sidebar collapsed")
    context.close()


def step_shown(page) -> str:
    return page.locator('[data-testid="stHeading"] h2').first.inner_text()


def test_a_presenters_keys_move_between_steps_but_not_while_a_widget_has_the_focus(app_url, page):
    page.goto(app_url + "/lesson?step=2&present=1")
    wait_for_app_idle(page)
    assert step_shown(page).startswith("2. ") and page.get_by_text(f"Step 2 of {len(STEPS)}").is_visible()
    page.wait_for_function("() => window.__gflLessonKeys === true", timeout=30_000)    # the app's script ran
    for key, expected in [("PageDown", 3), ("ArrowRight", 4), (" ", 5), ("PageUp", 4), ("ArrowLeft", 3)]:
        page.evaluate("() => document.activeElement && document.activeElement.blur()")   # nothing focused
        page.wait_for_timeout(500)                  # the step's chart drawn: the page settled after its rerun
        page.keyboard.press(key)
        page.wait_for_function(f"() => location.search.includes('step={expected}')", timeout=30_000)
        wait_for_app_idle(page)
        assert step_shown(page).startswith(f"{expected}. "), key
    # the step slider has the focus: its own arrow keys move it by one, and the page's handler stays out
    page.locator('[data-testid="stMain"] input[type=range]').first.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => location.search.includes('step=4')", timeout=30_000)
    wait_for_app_idle(page)
    page.wait_for_timeout(500)
    assert step_shown(page).startswith("4. ")
    # Space on a focused button presses that button only
    page.get_by_role("button", name="Previous").focus()
    page.keyboard.press(" ")
    page.wait_for_function("() => location.search.includes('step=3')", timeout=30_000)
    wait_for_app_idle(page)
    page.wait_for_timeout(500)
    assert step_shown(page).startswith("3. ")


def test_the_lab_link_of_a_step_leads_back_to_that_step(app_url, page):
    page.goto(app_url + "/lesson?step=7")
    wait_for_app_idle(page)
    page.get_by_role("link", name="Open the Loss cliff").click()
    page.wait_for_url("**/cliff**", timeout=30_000)
    wait_for_app_idle(page)
    page.get_by_role("link", name="Back to the lesson, step 7").click()
    page.wait_for_function("() => location.pathname.endsWith('/lesson') && location.search.includes('step=7')",
                           timeout=30_000)
    wait_for_app_idle(page)
    assert step_shown(page).startswith("7. ")
