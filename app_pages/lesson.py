"""Lesson: the argument in eight numbered steps for a class, one talking point, one question and one live chart
at presentation size each, with Previous / Next (the step is in the URL: /lesson?step=3)."""
from dataclasses import dataclass
from typing import Callable

import plotly.graph_objects as go
import streamlit as st

import core
from core.cliff import CliffConfig, cliff
from core.phase import PhaseConfig, phase_diagram
from ui import flow_figs, theory_figs
from ui.chart_style import layout, log_range, log_yaxis
from ui.flow_controls import WEIGHT_SCALES
from ui.heavy import computed
from ui.live_chart import chart
from ui.page_state import PageState
from ui.present import fit_height
from ui.url import UrlField, show_warnings
from core.config import FieldSpec

CHART_PX = 480
LINE_COLOURS = ["#0072B2", "#D55E00", "#009E73"]


def unroll(**kw) -> core.UnrollResult:
    cfg = core.UnrollConfig(**kw)
    return computed("unroll", cfg, lambda: core.unroll(cfg))


def compare(title: str, runs: list[tuple[str, dict]]) -> go.Figure:
    """Measured ‖∂L/∂h‖ of a few labelled networks on one log axis."""
    fig = go.Figure()
    results = [(label, unroll(**kw)) for label, kw in runs]
    for (label, res), colour in zip(results, LINE_COLOURS):
        fig.add_trace(go.Scatter(x=res.distance, y=flow_figs._positive_or_none(res.grad_norm), name=label,
                                 mode="lines", line=dict(color=colour, width=3),
                                 hovertemplate="distance %{x}<br>%{y:.3e}<extra>" + label + "</extra>"))
    lo, hi = log_range([v for _, r in results for v in r.grad_norm], spare=0.5) or (-1, 1)
    log_yaxis(fig, max(lo, -45), min(hi, 45), "‖∂L/∂h_{T−k}‖")
    fig.update_xaxes(title="distance k (steps back from the loss)")
    return layout(fig, title)


def sweep_chart() -> go.Figure:
    cfg = core.UnrollConfig(seq_len=60)
    return flow_figs.sweep_figure(computed("sweep", cfg, lambda: core.weight_scale_sweep(cfg, WEIGHT_SCALES)))


def cliff_chart() -> go.Figure:
    cfg = CliffConfig(resolution=80)
    return theory_figs.cliff_surface_figure(computed("cliff", cfg, lambda: cliff(cfg)), show="loss")


def phase_chart() -> go.Figure:
    cfg = PhaseConfig(s_count=41, y_count=16, y_max=3.0)
    return theory_figs.phase_figure(computed("phase", cfg, lambda: phase_diagram(cfg)))


@dataclass(frozen=True)
class Step:
    title: str
    point: str                     # the talking point (markdown)
    question: str                  # to ask the class
    figure: Callable[[], go.Figure]
    link: tuple[str, str, dict]    # (page script, label, query parameters) to open it in the lab


STEPS = [
    Step("Vanishing: tanh against the sigmoid",
         "Back-propagation multiplies one Jacobian per step, diag(f′)·W. The sigmoid's slope is at most ¼, tanh's at "
         "most 1, so with the same weights the sigmoid network loses its error signal far faster: a straight line "
         "on a log axis is a fixed factor per step.",
         "Both curves are straight lines. What sets their slopes, and how many steps back can each network still "
         "learn from?",
         lambda: compare("Same weights (s = 1), two activations", [
             ("tanh RNN", dict(seq_len=60)), ("sigmoid RNN", dict(seq_len=60, activation="sigmoid"))]),
         ("app_pages/gradient_flow.py", "Try other activations", {"activation": "sigmoid", "seq_len": "60"})),
    Step("Exploding with ReLU, and what clipping does",
         "With ReLU and weight scale 2 each step multiplies the signal by more than 1: the gradient grows "
         "geometrically with distance. Clipping rescales the whole gradient to the threshold (dotted line): the "
         "update stays sane, the direction is kept.",
         "Clipping shrank every point by the same factor. Did it change the slope? Does it help a gradient that "
         "vanishes?",
         lambda: flow_figs.gradient_curve_figure(unroll(activation="relu", weight_scale=2.0, seq_len=60, clip=1.0)),
         ("app_pages/gradient_flow.py", "Open it with the clipping tab",
          {"activation": "relu", "weight_scale": "2", "seq_len": "60", "clip": "1", "view": "clipping"})),
    Step("Saturation",
         "With large inputs and weights, tanh units sit at ±1 where their slope is 0. Each dark cell is a unit "
         "that passes almost no gradient through that step, whatever W is.",
         "Why would making W larger make the gradient vanish here instead of explode?",
         lambda: flow_figs.saturation_figure(unroll(weight_scale=3.0, input_scale=3.0, seq_len=60)),
         ("app_pages/gradient_flow.py", "Open the saturation view",
          {"weight_scale": "3", "input_scale": "3", "seq_len": "60", "view": "saturation"})),
    Step("Initialisation as a cure",
         "An orthogonal W keeps every direction's length; the identity with ReLU (Le, Jaitly & Hinton 2015) "
         "copies the state forward. Both start training far from the vanishing regime of a plain Gaussian W.",
         "Which of the three can carry information 200 steps? What could still go wrong once training moves W?",
         lambda: compare("Three initialisations, T = 200", [
             ("Gaussian × 1, tanh", dict(seq_len=200)),
             ("orthogonal × 1, tanh", dict(seq_len=200, init="orthogonal")),
             ("identity × 1, ReLU", dict(seq_len=200, init="identity", activation="relu", input_scale=0.1))]),
         ("app_pages/gradient_flow.py", "Compare them yourself", {"init": "orthogonal", "seq_len": "200"})),
    Step("Theory predicts the curve: the edge of chaos",
         "Mean-field theory predicts the factor per step, √χ with χ = s²·E[f′(a)²] (dash-dot line). Drag the "
         "slider under the chart: every weight scale is already computed, and the measured slope follows the "
         "prediction from vanishing, through χ = 1, to exploding.",
         "At which s does the curve go flat? Is that where the largest singular value of W equals 1?",
         sweep_chart,
         ("app_pages/gradient_flow.py", "Open the sweep", {"view": "sweep", "seq_len": "60"})),
    Step("The gating race",
         "The LSTM's cell state is carried by a forget gate and an addition, not a matrix product, so its "
         "gradient decays far more slowly than a vanilla RNN's at the same length.",
         "If the adding problem needs information from 100 steps back, which network can learn it? Run the race "
         "to check (it takes about a minute for the LSTM).",
         lambda: compare("LSTM against a vanilla RNN, T = 100", [
             ("LSTM", dict(cell="lstm", seq_len=100)), ("vanilla tanh RNN", dict(seq_len=100))]),
         ("app_pages/training.py", "Run the race in the Training lab", {"preset": "gating"})),
    Step("The loss cliff, with and without clipping",
         "Pascanu's one-unit network has a loss surface with a sheer wall. A plain gradient step that hits it is "
         "thrown far away; the clipped step (same start) stays on course.",
         "Why does the plain step overshoot so badly, although the slope is the right way?",
         cliff_chart,
         ("app_pages/cliff.py", "Open the Loss cliff", {})),
    Step("The phase diagram: where the edge lies",
         "The measured per-step factor over weight scale and input scale. Blue vanishes, red explodes; the "
         "measured edge follows the mean-field edge, while Pascanu's sufficient bound stays far to the left.",
         "Why does a larger input scale move the edge to larger weights?",
         phase_chart,
         ("app_pages/phase.py", "Open the Phase diagram", {})),
]

STATE = PageState("lesson", [UrlField("step", 1, FieldSpec("int", "The lesson step.", lo=1, hi=len(STEPS)))])


def go_to(step: int) -> None:
    STATE["step"] = min(max(step, 1), len(STEPS))


warnings = STATE.begin()
st.title("Lesson: why recurrent networks forget")
show_warnings(warnings)
n = STATE["step"]
nav = st.container(horizontal=True, vertical_alignment="center")
nav.button("Previous", icon=":material/arrow_back:", on_click=go_to, args=(n - 1,), disabled=n == 1, key="prev")
nav.select_slider("Step", list(range(1, len(STEPS) + 1)), key=STATE.key("step"), label_visibility="collapsed",
                  format_func=lambda i: f"{i}", help="Jump to a step of the lesson.", width=260)
nav.button("Next", icon=":material/arrow_forward:", on_click=go_to, args=(n + 1,), disabled=n == len(STEPS),
           type="primary", key="next")
STATE.end()

step = STEPS[n - 1]
st.subheader(f"{n}. {step.title}")
chart_col, text_col = st.columns([2.6, 1], gap="medium")
with text_col:
    st.markdown(step.point)
    st.info(f"**Ask the class:** {step.question}", icon=":material/forum:")
    page, label, params = step.link
    st.page_link(page, label=label, icon=":material/open_in_new:", query_params=params or None)
try:
    fig = step.figure()
except core.ConfigError as err:            # a budget refused it (GFL_BUDGET_SCALE set low by an operator)
    chart_col.error(f"Cannot draw this step's chart: {err}.", icon=":material/block:")
else:
    chart(fit_height(fig, CHART_PX), key=f"lesson_{n}", container=chart_col)
