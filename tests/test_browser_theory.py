"""Theory pages in a real browser: a phase-diagram click opens that cell on the Gradient flow page;
a click on the cliff surface moves the start point; the menu between pages keeps each page's own controls."""
from urllib.parse import parse_qs, urlparse

from conftest import wait_for_app_idle

CELL_CENTRE = """([x, y, index]) => {
    const el = document.querySelectorAll('.js-plotly-plot')[index];
    const xa = el._fullLayout.xaxis, ya = el._fullLayout.yaxis, box = el.getBoundingClientRect();
    return [box.left + xa._offset + xa.l2p(xa.d2l(x)), box.top + ya._offset + ya.l2p(ya.d2l(y))];
}"""


def click_at(page, x, y, index=0):
    px, py = page.evaluate(CELL_CENTRE, [x, y, index])
    page.mouse.move(px, py)
    page.wait_for_timeout(300)
    page.mouse.click(px, py)


def test_clicking_a_phase_cell_opens_it_on_the_gradient_flow_page(app_url, page):
    page.goto(app_url + "/phase?s_count=11&y_count=7&seq_len=50")
    wait_for_app_idle(page)
    page.wait_for_selector(".js-plotly-plot")
    page.wait_for_timeout(1000)
    xs = page.evaluate("() => Array.from(document.querySelector('.js-plotly-plot')._fullData[0].x)")
    ys = page.evaluate("() => Array.from(document.querySelector('.js-plotly-plot')._fullData[0].y)")
    s, a = xs[7], ys[4]                                  # s = 10^(0.4) ≈ 2.51, input scale 2
    click_at(page, s, a)
    link = page.get_by_role("link", name="Open on the Gradient flow page")
    link.wait_for(timeout=30_000)
    assert f"s = {s:.3g}" in page.locator('[data-testid="stMarkdown"]').filter(has_text="Picked").inner_text()
    link.click()
    page.wait_for_url("**/gradient-flow?**", timeout=30_000)
    wait_for_app_idle(page)
    query = parse_qs(urlparse(page.url).query)
    assert query["weight_scale"] == [f"{s:.3g}"] and float(query["input_scale"][0]) == a
    assert query["seq_len"] == ["50"]
    assert page.locator('input[type=range][aria-label="Weight scale s"]').get_attribute("aria-valuetext") == f"{s:.3g}"
    assert page.locator('[data-testid="stException"]').count() == 0


def test_clicking_the_cliff_surface_moves_the_start(app_url, page):
    page.goto(app_url + "/cliff?resolution=100")
    wait_for_app_idle(page)
    page.wait_for_selector(".js-plotly-plot")
    page.wait_for_timeout(1000)
    targets = page.evaluate("() => { const d = document.querySelector('.js-plotly-plot')._fullData[1];"
                            " return [Array.from(d.x), Array.from(d.y)]; }")
    w, b = targets[0][205], targets[1][205]              # one of the invisible click targets
    click_at(page, w, b)
    page.wait_for_function("(w) => new URLSearchParams(location.search).get('w0') !== null", arg=w, timeout=30_000)
    wait_for_app_idle(page)
    query = parse_qs(urlparse(page.url).query)
    assert abs(float(query["w0"][0]) - w) < 1e-3 and abs(float(query["b0"][0]) - b) < 1e-3


def test_the_menu_from_gradient_flow_keeps_each_pages_own_controls(app_url, page):
    """Gradient flow, Loss cliff and Phase diagram each have a sequence length with its own default."""
    page.goto(app_url + "/gradient-flow?seq_len=300&hidden=512")
    wait_for_app_idle(page)
    page.get_by_role("link", name="Phase diagram").click()
    page.wait_for_url("**/phase", timeout=30_000)
    wait_for_app_idle(page)
    page.wait_for_selector(".js-plotly-plot")
    assert page.locator('input[type=range][aria-label="Sequence length T"]').get_attribute("aria-valuetext") == "100"
    assert "seq_len" not in parse_qs(urlparse(page.url).query)
    page.get_by_role("link", name="Loss cliff").click()
    page.wait_for_url("**/cliff", timeout=30_000)
    wait_for_app_idle(page)
    assert page.locator('input[type=range][aria-label="Unrolled steps T"]').get_attribute("aria-valuetext") == "50"
    assert page.locator('[data-testid="stException"]').count() == 0


def test_switching_the_second_control_takes_every_click_and_keeps_each_axis_rows(app_url, page):
    page.goto(app_url + "/phase?s_count=11&seq_len=30&hidden=16")
    wait_for_app_idle(page)
    radio = page.locator('[data-testid="stSidebar"] [role="radiogroup"]').first

    def choose(label):
        radio.get_by_text(label, exact=True).click()
        wait_for_app_idle(page)
        page.wait_for_timeout(300)
        checked = radio.locator('input:checked').evaluate("e => e.closest('label').innerText")
        assert checked.strip() == label                      # the click was taken, not undone
        return parse_qs(urlparse(page.url).query)

    def rows():
        return page.locator('[data-testid="stSidebar"] input[type=range][aria-label="Rows"]').get_attribute(
            "aria-valuetext")

    query = choose("sequence length")
    assert query["y_axis"] == ["seq_len"] and rows() not in ("2", None)
    assert query.get("y_count") != ["2"] and query["y_min"] == ["10"]
    seq_rows = rows()
    query = choose("activation")
    assert query["y_axis"] == ["activation"] and "y_count" not in query
    query = choose("input scale")
    assert "y_axis" not in query and rows() == "31"
    choose("sequence length")
    assert rows() == seq_rows                                 # each axis keeps its own rows
    choose("activation")
    choose("sequence length")
    assert page.locator('[data-testid="stException"]').count() == 0
