"""The Lesson page: every step renders its chart without error, Next walks to the end, the step is in the URL."""
import pytest
from conftest import open_page, wait_for_app_idle

PAGE = "app_pages/lesson.py"
STEPS = 8


@pytest.mark.parametrize("step", range(1, STEPS + 1))
def test_every_step_has_a_point_a_question_a_link_and_a_chart(step):
    at = open_page(PAGE, step=str(step))
    assert not at.exception and not at.error
    assert at.subheader[0].value.startswith(f"{step}. ")
    assert any(i.value.startswith("**Ask the class:**") for i in at.info)
    assert len(at.get("plotly_chart")) == 1
    assert len(at.get("page_link")) >= 1


def test_next_walks_to_the_end_and_a_bad_step_gets_one_clear_line():
    at = open_page(PAGE)
    assert at.subheader[0].value.startswith("1. ") and at.button(key="prev").disabled
    titles = []
    for _ in range(STEPS - 1):
        at.button(key="next").click().run()
        titles.append(at.subheader[0].value)
        assert at.query_params["step"] == [str(len(titles) + 1)] or at.query_params["step"] == str(len(titles) + 1)
    assert titles[-1].startswith(f"{STEPS}. ") and at.button(key="next").disabled
    at = open_page(PAGE, step="12")
    assert any("step must be an integer from 1 to 8" in w.value for w in at.warning)
    assert at.subheader[0].value.startswith("1. ")


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
