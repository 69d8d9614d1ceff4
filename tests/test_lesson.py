"""The Lesson page: every step renders its chart, what was measured and a lab link that leads back; Next walks to
the end; the step is in the URL; the copied link leaves presentation mode out."""
import pytest
from conftest import open_page, wait_for_app_idle

from ui.lesson_steps import STEPS as LESSON_STEPS

PAGE = "app_pages/lesson.py"
STEPS = len(LESSON_STEPS)


def test_the_lesson_has_ten_steps():
    assert STEPS == 10


@pytest.mark.parametrize("step", range(1, STEPS + 1))
def test_every_step_has_a_point_a_question_what_was_measured_a_link_and_a_chart(step):
    at = open_page(PAGE, step=str(step))
    assert not at.exception and not at.error
    assert at.header[0].value.startswith(f"{step}. ")
    assert any(i.value.startswith("**Ask the class:**") for i in at.info)
    assert len(at.get("plotly_chart")) == 1
    assert any(m.value == f"**Step {step} of {STEPS}**" for m in at.markdown)
    measured = LESSON_STEPS[step - 1].measured()
    assert any(m.value == f"*{measured}*" for m in at.markdown)
    links = [link.proto for link in at.get("page_link")]
    lab = [p for p in links if "lesson" not in p.page]
    assert len(lab) == 1 and f"lesson={step}" in lab[0].query_string      # the way back to this step


def test_next_walks_to_the_end_and_a_bad_step_gets_one_clear_line():
    at = open_page(PAGE)
    assert at.header[0].value.startswith("1. ") and at.button(key="prev").disabled
    titles = []
    for _ in range(STEPS - 1):
        at.button(key="next").click().run()
        titles.append(at.header[0].value)
        assert at.query_params["step"] == [str(len(titles) + 1)] or at.query_params["step"] == str(len(titles) + 1)
    assert titles[-1].startswith(f"{STEPS}. ") and at.button(key="next").disabled
    at = open_page(PAGE, step="12")
    assert any(f"step must be an integer from 1 to {STEPS}" in w.value for w in at.warning)
    assert at.header[0].value.startswith("1. ")


def test_a_lab_page_opened_from_a_step_links_back_to_that_step_until_the_lesson_is_open_again():
    at = open_page("app_pages/training.py", preset="gating", lesson="6")
    assert not at.exception and not any("lesson" in w.value for w in at.warning)
    back = [link.proto for link in at.get("page_link") if "lesson" in link.proto.page]
    assert len(back) == 1 and back[0].label == "Back to the lesson, step 6" and "step=6" in back[0].query_string
    assert "lesson" not in at.query_params
    at.switch_page(PAGE).run()
    at.switch_page("app_pages/cliff.py").run()
    assert not [link for link in at.get("page_link") if "lesson" in link.proto.page]


def test_the_copied_link_of_a_presenting_teacher_has_no_present():
    at = open_page(PAGE, step="3", present="1")
    codes = [c.value for c in at.code]
    assert codes and all("present" not in c for c in codes) and any(c.endswith("?step=3") for c in codes)


def test_home_offers_the_lesson_first():
    at = open_page("app_pages/home.py")
    links = [link.proto.page for link in at.get("page_link")]
    assert links[0].endswith("lesson.py") or "lesson" in links[0]


def test_the_lesson_in_a_browser_walks_through_every_step(app_url, page):
    page.goto(app_url + "/lesson?step=1")
    wait_for_app_idle(page)
    for step in range(1, STEPS + 1):
        page.wait_for_function(f"() => location.search.includes('step={step}') || ({step} === 1)", timeout=30_000)
        page.locator(".js-plotly-plot").filter(visible=True).first.wait_for(timeout=60_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        if step < STEPS:
            page.get_by_role("button", name="Next").click()
            wait_for_app_idle(page)
    assert page.get_by_role("button", name="Next").is_disabled()
