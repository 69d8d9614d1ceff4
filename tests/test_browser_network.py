"""The "Your network" page in a real browser: upload the shipped example, then a bad file; the page keeps working."""
import json

from conftest import wait_for_app_idle

from ui.inspect_controls import EXAMPLE

NAMES = """() => { const el = document.querySelector('.js-plotly-plot');
    return el && el.data ? JSON.stringify(el.data.map(d => d.name)) : null; }"""


def test_upload_the_example_then_a_bad_file(app_url, page, tmp_path):
    page.goto(app_url + "/your-network?source=upload&seq_len=50")
    wait_for_app_idle(page)
    page.get_by_text("Upload the weights of a torch.nn.RNN").wait_for(timeout=60_000)
    uploader = page.locator('[data-testid="stFileUploader"] input[type=file]').first
    uploader.set_input_files(str(EXAMPLE))
    page.wait_for_selector(".js-plotly-plot", timeout=90_000)
    wait_for_app_idle(page)
    assert json.loads(page.evaluate(NAMES)) == ["layer 0", "layer 1"]
    assert page.get_by_text("2-layer LSTM: input size 2, hidden size 24").count() == 1
    page.screenshot(path=str(tmp_path / "your_network.png"), full_page=True)

    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"weight_ih_l0\": 1")
    uploader.set_input_files(str(bad))
    page.get_by_text("Cannot inspect").wait_for(timeout=60_000)
    wait_for_app_idle(page)
    alert = page.locator('[data-testid="stAlert"]').filter(has_text="Cannot inspect")
    assert alert.count() == 1 and "broken.safetensors" in alert.inner_text()
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.locator(".js-plotly-plot").count() == 0

    # the page keeps working: back to the example
    page.get_by_text("the shipped example").click()
    page.wait_for_selector(".js-plotly-plot", timeout=90_000)
    wait_for_app_idle(page)
    assert json.loads(page.evaluate(NAMES)) == ["layer 0", "layer 1"]
