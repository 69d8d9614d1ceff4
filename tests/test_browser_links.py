"""Links that carry everything: pins in the URL, Copy link, Reset page (Chromium)."""
import json

from conftest import wait_for_app_idle

NAMES = """() => { const el = [...document.querySelectorAll('.js-plotly-plot')].find(p => p.offsetParent !== null);
    return el && el.data ? JSON.stringify(el.data.map(d => d.name)) : null; }"""


def test_a_shared_link_with_two_pins_opens_with_both_and_copy_link_gives_it_back(app_url, page):
    link = app_url + "/gradient-flow?seq_len=40&pin=activation:sigmoid,seq_len:40&pin=activation:relu,seq_len:40"
    page.goto(link)
    wait_for_app_idle(page)
    page.wait_for_function(f"() => ({NAMES})() !== null", timeout=60_000)
    names = json.loads(page.evaluate(NAMES))
    assert "pinned: RNN sigmoid gaussian s=1 T=40" in names and "pinned: RNN relu gaussian s=1 T=40" in names
    assert page.evaluate("() => new URLSearchParams(location.search).getAll('pin').length") == 2
    page.get_by_role("button", name="Copy link").click()
    shown = page.locator('[data-testid="stCode"]').filter(visible=True).first.inner_text()
    assert "pin=activation%3Asigmoid%2Cseq_len%3A40" in shown and "seq_len=40" in shown and "/gradient-flow?" in shown
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Reset page").click()
    page.wait_for_function("() => location.search === ''", timeout=30_000)
    wait_for_app_idle(page)
    page.wait_for_timeout(300)
    assert not any(n.startswith("pinned") for n in json.loads(page.evaluate(NAMES)))
