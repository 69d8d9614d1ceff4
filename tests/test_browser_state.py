"""One page-state model in a real browser: going from any page with controls to any other through the menu and
back keeps both pages as the user left them, a running training run included."""
import re

from conftest import wait_for_app_idle

# page -> (menu label, slider, its value after three notches to the right of the default)
PAGES = {
    "F": ("Gradient flow", "Sequence length T", "103"),
    "T": ("Training lab", "Sequence length T", "53"),
    "C": ("Loss cliff", "Unrolled steps T", "53"),
    "P": ("Phase diagram", "Sequence length T", "103"),
}
# every ordered pair of pages appears once as consecutive steps (an Euler circuit of the complete graph)
TOUR = "FTCPFCTPCFPTF"


def slider_value(page, label):
    return page.locator(f'[data-testid="stSidebar"] input[type=range][aria-label="{label}"]').get_attribute(
        "aria-valuetext")


def status(page) -> str:
    """The Training lab's status line (Streamlit keeps replaced elements hidden in the page: skip those)."""
    return page.locator('[data-testid="stMarkdown"]').filter(has_text=" · step ", visible=True).first.inner_text()


URL_PATHS = {"Gradient flow": "gradient-flow", "Training lab": "training", "Loss cliff": "cliff",
             "Phase diagram": "phase"}


def open_from_menu(page, menu, running=False):
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=menu).click()
    page.wait_for_url(f"**/{URL_PATHS[menu]}*", timeout=30_000)
    if running:                           # a page that trains live is never idle for long: wait for its status
        page.get_by_text("training…").filter(visible=True).first.wait_for(timeout=30_000)
    else:
        wait_for_app_idle(page)


def test_every_pair_of_pages_through_the_menu_keeps_both(app_url, page):
    page.goto(f"{app_url}/training?seq_len=50&batch=16&a_hidden=16")     # one session from here on
    wait_for_app_idle(page)
    for name in "FCPT":                                  # on every page, move its slider three notches
        menu, label, value = PAGES[name]
        open_from_menu(page, menu)
        slider = page.locator(f'[data-testid="stSidebar"] input[type=range][aria-label="{label}"]')
        slider.focus()
        for _ in range(3):
            slider.press("ArrowRight")
            wait_for_app_idle(page)
        assert slider_value(page, label) == value, name
    page.get_by_role("button", name="Start").click()              # the Training lab is the last one open
    page.wait_for_function("() => /step [1-9]/.test(document.body.innerText)", timeout=30_000)
    for here, there in zip(TOUR, TOUR[1:]):
        menu, label, value = PAGES[there]
        open_from_menu(page, menu, running=there == "T")
        assert slider_value(page, label) == value, f"{here} -> {there}"
        assert f"seq_len={value}" in page.url                          # the address shows the page's own values
        assert page.locator('[data-testid="stException"]').count() == 0
        if there == "T":
            text = status(page)
            assert text.startswith("training"), text
            assert page.locator('[data-testid="stAlert"]').filter(has_text="settings changed", visible=True).count() == 0
            steps = int(re.search(r"step (\d+)", text).group(1))
            page.wait_for_function(f"() => {{ const m = document.body.innerText.match(/step (\\d+)/);"
                                   f" return m && +m[1] > {steps}; }}", timeout=30_000)   # the run goes on
