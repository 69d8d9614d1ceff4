"""The app's pages, in menu order: one place for the router, the home page's links and every internal link.

Each page is named by an object (`GRADIENT_FLOW`, `PHASE`, …), never by a typed path; `ui.links.link` builds an
address to it from a config object or values checked against the page's own settings.

Page scripts live in app_pages/, NOT pages/: Streamlit 1.67 treats a folder named pages/ beside
app.py as a legacy (v1) multipage app, and then a direct link to a page's url path (e.g.
/gradient-flow?weight_scale=2) opens a "page not found" dialog that blocks every widget.
Each script defines its page function and calls it when Streamlit runs it. AppTest:
at.switch_page(GRADIENT_FLOW.script), i.e. at.switch_page("app_pages/<file>.py").
"""
from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
ICON = ROOT / "ui" / "assets" / "icon.png"


class Page(NamedTuple):
    """One page of the app: its script, its menu title and icon, its url path, and a one-line pitch for Home."""
    script: str
    title: str
    icon: str
    url_path: str
    pitch: str = ""

    def state(self):
        """The page's PageState (its URL parameters), or None for a page without settings."""
        module = _STATE_MODULES.get(self.url_path)
        return import_module(module).STATE if module is not None else None

    def exists(self) -> bool:
        return (ROOT / self.script).exists()


def _page(name: str, title: str, icon: str, url_path: str, pitch: str = "") -> Page:
    return Page(f"app_pages/{name}.py", title, icon, url_path, pitch)


# In a beginner's order: what a gradient does and why it vanishes first, then the lab, the theory pages, and the
# lesson for a class (Home offers it first).
HOME = _page("home", "Home", ":material/home:", "home")
WHY = _page("why", "Why RNNs forget", ":material/school:", "why",
            "The argument step by step, each claim beside a live figure or a one-click demonstration.")
GRADIENT_FLOW = _page(
    "gradient_flow", "Gradient flow", ":material/trending_down:", "gradient-flow",
    "The heart of it: pick a cell, an activation and a weight scale, and watch the gradient norm collapse "
    "or blow up with time-step distance, next to the bound that predicts it.")
TRAINING = _page(
    "training", "Training lab", ":material/model_training:", "training",
    "Train an RNN, LSTM or GRU live on a long-range task; see vanishing gradients stall the loss and "
    "clipping tame explosions.")
CLIFF = _page(
    "cliff", "Loss cliff", ":material/landscape:", "cliff",
    "Pascanu's single-unit network: a loss surface with sheer walls, and what one gradient step does "
    "there with and without clipping.")
PHASE = _page("phase", "Phase diagram", ":material/grid_on:", "phase",
              "The edge between vanishing and exploding across weight scales, measured and predicted.")
YOUR_NETWORK = _page(
    "your_network", "Your network", ":material/upload_file:", "your-network",
    "Bring your own RNN, LSTM or GRU: upload its weights and see where its gradient dies, layer by layer and "
    "step by step, with its Lyapunov exponents, saturation and a diagnosis.")
LESSON = _page(
    "lesson", "Lesson", ":material/co_present:", "lesson",
    "For a class: the whole argument in ten steps, each with a talking point, a question and a live chart "
    "at projector size. Previous / Next, and every step has its own link.")
PAGES = [HOME, WHY, GRADIENT_FLOW, TRAINING, CLIFF, PHASE, YOUR_NETWORK, LESSON]

# Where each page's settings are declared (a module with its PageState, `STATE`), by url path.
_STATE_MODULES = {
    "gradient-flow": "ui.flow_controls",
    "training": "ui.training_controls",
    "cliff": "ui.cliff_controls",
    "phase": "ui.phase_controls",
    "your-network": "ui.inspect_controls",
    "lesson": "ui.lesson_steps",
}


def available_pages() -> list[Page]:
    """The pages whose scripts exist."""
    return [p for p in PAGES if p.exists()]
