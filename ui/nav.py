"""The app's pages, in menu order: one place for the router and the home page's links.

Page scripts live in app_pages/, NOT pages/: Streamlit 1.67 treats a folder named pages/ beside
app.py as a legacy (v1) multipage app, and then a direct link to a page's url path (e.g.
/gradient-flow?weight_scale=2) opens a "page not found" dialog that blocks every widget.
AppTest: at.switch_page("app_pages/<file>.py").
"""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ICON = ROOT / "ui" / "assets" / "icon.png"

# (file, title, icon, url path, one-line pitch for the home page), in a beginner's order: what a gradient does
# and why it vanishes first, then the lab, the theory pages, and the lesson for a class (Home offers it first).
PAGES = [
    ("app_pages/home.py", "Home", ":material/home:", "home", ""),
    ("app_pages/why.py", "Why RNNs forget", ":material/school:", "why",
     "The argument step by step, each claim beside a live figure or a one-click demonstration."),
    ("app_pages/gradient_flow.py", "Gradient flow", ":material/trending_down:", "gradient-flow",
     "The heart of it: pick a cell, an activation and a weight scale, and watch the gradient norm collapse "
     "or blow up with time-step distance, next to the bound that predicts it."),
    ("app_pages/training.py", "Training lab", ":material/model_training:", "training",
     "Train an RNN, LSTM or GRU live on a long-range task; see vanishing gradients stall the loss and "
     "clipping tame explosions."),
    ("app_pages/cliff.py", "Loss cliff", ":material/landscape:", "cliff",
     "Pascanu's single-unit network: a loss surface with sheer walls, and what one gradient step does "
     "there with and without clipping."),
    ("app_pages/phase.py", "Phase diagram", ":material/grid_on:", "phase",
     "The edge between vanishing and exploding across weight scales, measured and predicted."),
    ("app_pages/your_network.py", "Your network", ":material/upload_file:", "your-network",
     "Bring your own RNN, LSTM or GRU: upload its weights and see where its gradient dies, layer by layer and "
     "step by step, with its Lyapunov exponents, saturation and a diagnosis."),
    ("app_pages/lesson.py", "Lesson", ":material/co_present:", "lesson",
     "For a class: the whole argument in ten steps, each with a talking point, a question and a live chart "
     "at projector size. Previous / Next, and every step has its own link."),
]


def available_pages():
    """The pages whose scripts exist."""
    return [p for p in PAGES if (ROOT / p[0]).exists()]
