"""The lesson's steps as data: each step's talking point, question, chart, lab link, and the numbers its claim
rests on, measured from the step's own settings (tests/test_lesson_claims.py computes them again and checks
every claim). A new step is one more `Step` in STEPS (and one test of its claim).

Every quantity here is measured by the engine; a step's `measured` line says them on the page beside the
chart, and the curves' legends carry each network's per-step factor, so the room can check the point by eye.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import plotly.graph_objects as go

import core
from core.cliff import CliffConfig, CliffResult, cliff
from core.config import FieldSpec
from core.learning_presets import (
    FLOSSING_RACE,
    FORGETTING_RACE,
    FlossingEffect,
    ForgettingGradient,
    flossing_effect,
    forgetting_gradient,
)
from core.phase import PhaseConfig, PhaseResult, measured_edge, phase_diagram
from ui import flow_figs, nav, theory_figs
from ui.chart_style import layout, log_range, log_yaxis
from ui.flow_controls import WEIGHT_SCALES
from ui.heavy import computed
from ui.page_state import PageState
from ui.url import UrlField

LINE_COLOURS = ["#0072B2", "#D55E00", "#009E73"]
GRAD_AXIS = "‖∂L/∂h<sub>T−k</sub>‖ (log scale)"


@dataclass(frozen=True)
class Run:
    """One labelled network of a step: the settings of core.UnrollConfig."""
    label: str
    settings: dict

    @property
    def config(self) -> core.UnrollConfig:
        return core.UnrollConfig(**self.settings)


def unroll(cfg: core.UnrollConfig) -> core.UnrollResult:
    return computed("unroll", cfg, lambda: core.unroll(cfg))


def factor(res: core.UnrollResult) -> str:
    return f"×{res.rate:.2f} per step" if res.rate is not None and np.isfinite(res.rate) else "no fit"


def compare(title: str, runs: tuple[Run, ...]) -> go.Figure:
    """Measured ‖∂L/∂h‖ of a few labelled networks on one log axis, each named with its per-step factor."""
    fig = go.Figure()
    results = [(run.label, unroll(run.config)) for run in runs]
    for (label, res), colour in zip(results, LINE_COLOURS):
        name = f"{label}: {factor(res)}"
        fig.add_trace(go.Scatter(x=res.distance, y=flow_figs._positive_or_none(res.grad_norm), name=name,
                                 mode="lines", line=dict(color=colour, width=3),
                                 hovertemplate="distance %{x}<br>%{y:.3e}<extra>" + label + "</extra>"))
    lo, hi = log_range([v for _, r in results for v in r.grad_norm], spare=0.5) or (-1, 1)
    log_yaxis(fig, max(lo, -45), min(hi, 45), GRAD_AXIS)
    fig.update_xaxes(title="distance k (steps back from the loss)")
    return layout(fig, title)


def factors_line(runs: tuple[Run, ...]) -> str:
    return "Per-step factor (fitted): " + "; ".join(f"{r.label} {factor(unroll(r.config))}" for r in runs) + "."


# ---- the settings every step draws (the tests read these same objects) ------------------------------------
ACTIVATIONS = (Run("tanh RNN", dict(seq_len=60)), Run("sigmoid RNN", dict(seq_len=60, activation="sigmoid")))
EXPLODING = Run("ReLU RNN, s = 2, clipping at 1", dict(activation="relu", weight_scale=2.0, seq_len=60, clip=1.0))
SATURATED = Run("tanh RNN, s = 2, inputs × 5", dict(weight_scale=2.0, input_scale=5.0, seq_len=60))
UNSATURATED = Run("the same, inputs × 0.1", dict(weight_scale=2.0, input_scale=0.1, seq_len=60))
SATURATED_BELOW = 0.1          # |f'| under this: the unit passes almost nothing back
INITS = (Run("Gaussian × 1, tanh", dict(seq_len=200)),
         Run("orthogonal × 1, tanh", dict(seq_len=200, init="orthogonal")),
         Run("identity × 1, ReLU", dict(seq_len=200, init="identity", activation="relu", input_scale=0.1)))
SWEEP = core.UnrollConfig(seq_len=60)
GATES = (Run("LSTM, forget bias 3", dict(cell="lstm", bias=3.0, seq_len=100)),
         Run("vanilla tanh RNN", dict(seq_len=100)))
CLIFF = CliffConfig(resolution=80)
FLOSSED = FLOSSING_RACE[1]          # the tanh RNN of the flossing race, before and after its flossing steps
FAR = 40                            # the distance the step reads: delayed XOR's first bit, at delay 40
FORGETTING = FORGETTING_RACE        # the LSTM and the tanh RNN of the forgetting race, untrained
PHASE = PhaseConfig(s_count=41, y_count=16, y_max=3.0)


def sweep_result() -> core.SweepResult:
    return computed("sweep", SWEEP, lambda: core.weight_scale_sweep(SWEEP, WEIGHT_SCALES))


def cliff_result() -> CliffResult:
    return computed("cliff", CLIFF, lambda: cliff(CLIFF))


def phase_result() -> PhaseResult:
    return computed("phase", PHASE, lambda: phase_diagram(PHASE))


def floss_result() -> FlossingEffect:
    return computed("floss", FLOSSED, lambda: flossing_effect(FLOSSED))


def floss_figure() -> go.Figure:
    """‖∂L/∂h_{T−k}‖ of the same untrained tanh RNN before and after flossing, each named with its top exponent."""
    e = floss_result()
    fig = go.Figure()
    for label, grads, lyap, colour in (("before flossing", e.grad_norm_before, e.exponents_before, LINE_COLOURS[0]),
                                       (f"after {FLOSSED.floss_before} flossing steps", e.grad_norm_after,
                                        e.exponents_after, LINE_COLOURS[1])):
        fig.add_trace(go.Scatter(x=e.distance, y=flow_figs._positive_or_none(grads / grads[0]),
                                 name=f"{label}: λ_max = {lyap[0]:+.2f}", mode="lines",
                                 line=dict(color=colour, width=3),
                                 hovertemplate="distance %{x}<br>%{y:.3e}<extra>" + label + "</extra>"))
    values = np.concatenate([e.grad_norm_before / e.grad_norm_before[0], e.grad_norm_after / e.grad_norm_after[0]])
    lo, hi = log_range(values, spare=0.5) or (-1, 1)
    log_yaxis(fig, max(lo, -45), min(hi, 45), "‖∂L/∂h<sub>T−k</sub>‖ / final-step value")
    fig.update_xaxes(title="distance k (steps back from the answer)")
    return layout(fig, "Delayed XOR, tanh RNN: the gradient before and after flossing")


def floss_line() -> str:
    e = floss_result()
    before, after = (g[FAR] / g[0] for g in (e.grad_norm_before, e.grad_norm_after))
    return (f"Measured: top exponent {e.exponents_before[0]:+.2f} → {e.exponents_after[0]:+.3f} nats per step; "
            f"{FAR} steps back the gradient is {before:.1e} of its final-step value before, {after:.2g} after.")


def digit_result() -> ForgettingGradient:
    return computed("digit gradient", FORGETTING, lambda: forgetting_gradient(FORGETTING))


def digit_labels() -> list[str]:
    return [f"LSTM, forget bias {c.forget_bias:g}" if c.cell == "lstm" else f"{c.activation} RNN"
            for c in FORGETTING]


def digit_figure() -> go.Figure:
    """‖∂L/∂h_{T−k}‖ of the forgetting race's two untrained networks, the blank delay shaded."""
    e = digit_result()
    fig = go.Figure()
    fig.add_vrect(x0=0, x1=e.delay, fillcolor="#999999", opacity=0.15, line_width=0,
                  annotation_text="blank steps", annotation_position="bottom left")
    for label, grads, colour in zip(digit_labels(), e.grad_norm, LINE_COLOURS):
        ratio = grads / grads[0]
        fig.add_trace(go.Scatter(x=e.distance, y=flow_figs._positive_or_none(ratio),
                                 name=f"{label}: {ratio[e.delay]:.1e} at the last pixel", mode="lines",
                                 line=dict(color=colour, width=3),
                                 hovertemplate="distance %{x}<br>%{y:.3e}<extra>" + label + "</extra>"))
    lo, hi = log_range(np.concatenate([g / g[0] for g in e.grad_norm]), spare=0.5) or (-1, 1)
    log_yaxis(fig, max(lo, -45), min(hi, 45), "‖∂L/∂h<sub>T−k</sub>‖ / final-step value")
    fig.update_xaxes(title="distance k (steps back from the answer)")
    return layout(fig, f"A digit, then {e.delay} blank steps: the gradient reaching its pixels")


def digit_line() -> str:
    e = digit_result()
    (lstm, rnn), first = (g / g[0] for g in e.grad_norm), len(e.distance) - 1
    return (f"Measured: at the last pixel ({e.delay} steps back) the LSTM keeps {lstm[e.delay]:.1e} of its "
            f"final-step gradient, the RNN {rnn[e.delay]:.1e}; at the first ({first} back) {lstm[first]:.0e} "
            f"and {rnn[first]:.0e}.")


def crossing(scales: np.ndarray, rates: np.ndarray) -> float:
    """The first grid scale whose per-step factor is at least 1 (NaN if none)."""
    above = np.flatnonzero(np.isfinite(rates) & (rates >= 1.0))
    return float(scales[above[0]]) if above.size else float("nan")


def sweep_edges() -> dict[str, float]:
    """Where the measured factor, the mean-field √χ and λ1 reach 1 over the slider's weight scales."""
    sw = sweep_result()
    lambda1_at_1 = unroll(SWEEP).spectrum.lambda1            # λ1 of s·W0 is s·λ1(W0)
    return {"measured": crossing(sw.scales, sw.rate), "mean_field": crossing(sw.scales, sw.theory_rate),
            "lambda1": 1.0 / lambda1_at_1}


def exploding_line() -> str:
    res = unroll(EXPLODING.config)
    return (f"Measured: {factor(res)}; clipping multiplies every point by {res.clip_factor:.1e}, so the orange "
            "line has the same slope.")


def saturation_line() -> str:
    hot, cool = unroll(SATURATED.config), unroll(UNSATURATED.config)
    share = float(np.mean(hot.saturation < SATURATED_BELOW))
    return (f"Measured at s = 2: inputs × 0.1 {factor(cool)} (explodes); inputs × 5 {factor(hot)}, with "
            f"{share:.0%} of the cells |f′| < {SATURATED_BELOW:g}.")


def sweep_line() -> str:
    e = sweep_edges()
    return (f"Measured: the factor reaches 1 at s = {e['measured']:.3g}, "
            f"mean-field χ = 1 at s = {e['mean_field']:.3g}; "
            f"λ1 = 1 already at s = {e['lambda1']:.2g}.")


def cliff_line() -> str:
    res = cliff_result()
    return (f"Measured: the plain run's longest step is {res.plain.step_length.max():.3g}; the clipped run's "
            f"{res.clipped.step_length.max():.2g} (learning rate × threshold = {CLIFF.lr * CLIFF.clip:g}).")


def phase_line() -> str:
    res = phase_result()
    edge = measured_edge(res)
    first, last = 0, len(res.y) - 1
    return (f"Edge at input scale {res.y[first]:g}: measured s = {edge[first]:.2g}, "
            f"mean-field {res.mean_field_edge[first]:.2g}; "
            f"at {res.y[last]:g}: {edge[last]:.2g} and {res.mean_field_edge[last]:.2g}; Pascanu's bound "
            f"s = {res.theory_edge[last]:.2g}.")


@dataclass(frozen=True)
class Step:
    title: str
    point: str                     # the talking point (markdown)
    question: str                  # to ask the class
    figure: Callable[[], go.Figure]
    measured: Callable[[], str]    # the numbers the point rests on, measured from the settings the chart draws
    link: tuple[nav.Page, str, dict]   # (page, label, its settings) to open it in the lab (ui/links.py)
    runs: tuple[Run, ...] = field(default=())


STEPS = [
    Step("Vanishing: tanh against the sigmoid",
         "Back-propagation multiplies one Jacobian per step, diag(f′)·W. The sigmoid's slope is at most ¼, tanh's at "
         "most 1, so with the same weights the sigmoid network loses its error signal far faster: a straight line "
         "on a log axis is a fixed factor per step (in the legend).",
         "Both curves are straight lines. What sets their slopes, and how many steps back can each network still "
         "learn from?",
         lambda: compare("Same weights (s = 1), two activations", ACTIVATIONS),
         lambda: factors_line(ACTIVATIONS),
         (nav.GRADIENT_FLOW, "Try other activations", {"activation": "sigmoid", "seq_len": "60"}),
         runs=ACTIVATIONS),
    Step("Exploding with ReLU, and what clipping does",
         "With ReLU and weight scale 2 each step multiplies the signal by more than 1: the gradient grows "
         "geometrically with distance. Clipping rescales the whole gradient to the threshold (the orange "
         "“after clipping” line): the update stays sane, the direction is kept.",
         "Clipping shrank every point by the same factor. Did it change the slope? Does it help a gradient that "
         "vanishes?",
         lambda: flow_figs.gradient_curve_figure(unroll(EXPLODING.config)),
         exploding_line,
         (nav.GRADIENT_FLOW, "Open it with the clipping tab",
          {"activation": "relu", "weight_scale": "2", "seq_len": "60", "clip": "1", "view": "clipping"}),
         runs=(EXPLODING,)),
    Step("Saturation",
         "This tanh RNN has weight scale 2: with small inputs its gradient explodes. With large inputs its units "
         "sit at ±1, where the slope is 0: each dark cell is a unit that passes almost no gradient through that "
         "step, whatever W is, and the gradient vanishes.",
         "Why would making the inputs larger make the gradient vanish instead of explode?",
         lambda: flow_figs.saturation_figure(unroll(SATURATED.config)),
         saturation_line,
         (nav.GRADIENT_FLOW, "Open the saturation view",
          {"weight_scale": "2", "input_scale": "5", "seq_len": "60", "view": "saturation"}),
         runs=(SATURATED, UNSATURATED)),
    Step("Initialisation as a cure, and its limit",
         "An orthogonal W keeps every direction's length, but tanh's slope is below 1 wherever the inputs push "
         "the units: here the orthogonal tanh network vanishes as fast as the Gaussian one (same factor in the "
         "legend). The identity with ReLU (Le, Jaitly & Hinton 2015) copies the state forward: factor ≈ 1.",
         "Which of the three can carry information 200 steps? Why did the orthogonal matrix not save tanh?",
         lambda: compare("Three initialisations, T = 200", INITS),
         lambda: factors_line(INITS),
         (nav.GRADIENT_FLOW, "Compare them yourself",
          {"init": "identity", "activation": "relu", "input_scale": "0.1", "seq_len": "200"}),
         runs=INITS),
    Step("Theory predicts the curve: the edge of chaos",
         "Mean-field theory predicts the factor per step, √χ with χ = s²·E[f′(a)²] (dash-dot line). Drag the "
         "slider under the chart: every weight scale is already computed, and the measured slope follows the "
         "prediction from vanishing, through χ = 1, to exploding.",
         "At which s does the curve go flat? Is that where the largest singular value of W equals 1?",
         lambda: flow_figs.sweep_figure(sweep_result()),
         sweep_line,
         (nav.GRADIENT_FLOW, "Open the sweep", {"view": "sweep", "seq_len": "60"})),
    Step("The gating race",
         "The LSTM's cell state is carried by a forget gate and an addition, not a matrix product: with its "
         "forget gates open (bias 3, a common initialisation) its gradient decays far more slowly than a vanilla "
         "RNN's at the same length (factors in the legend).",
         "If the adding problem needs information from 100 steps back, which network can learn it? Run the race "
         "to check (it takes about a minute for the LSTM).",
         lambda: compare("LSTM against a vanilla RNN, T = 100", GATES),
         lambda: factors_line(GATES),
         (nav.TRAINING, "Run the race in the Training lab", {"preset": "gating"}),
         runs=GATES),
    Step("The loss cliff, with and without clipping",
         "Pascanu's one-unit network has a loss surface with a sheer wall. A plain gradient step that hits it is "
         "thrown far away; the clipped step (same start) stays on course.",
         "Why does the plain step overshoot so badly, although the slope is the right way?",
         lambda: theory_figs.cliff_surface_figure(cliff_result(), show="loss"),
         cliff_line,
         (nav.CLIFF, "Open the Loss cliff", {})),
    Step("The phase diagram: where the edge lies",
         "The measured per-step factor over weight scale and input scale. Blue vanishes, red explodes; the "
         "measured edge follows the mean-field edge, while Pascanu's sufficient bound stays far to the left.",
         "Why does a larger input scale move the edge to larger weights?",
         lambda: theory_figs.phase_figure(phase_result()),
         phase_line,
         (nav.PHASE, "Open the Phase diagram", {})),
    Step("Forgetting a digit",
         "A handwritten digit is shown pixel by pixel, then 20 blank steps, then the network must name it. Only "
         "the gradient that reaches the pixels can teach it to remember them. Before any training, the tanh RNN's "
         "has all but vanished by the last pixel; the LSTM's, its forget gates opened (bias 2), keeps a few percent.",
         "Which network will learn to name the digit? Race them: one stays at chance (10 %).",
         digit_figure,
         digit_line,
         (nav.TRAINING, "Race them in the Training lab", {"preset": "forgetting"})),
    Step("A cure aimed at the exponents: gradient flossing",
         "The top Lyapunov exponent is the log of the factor per step. Gradient flossing (Engelken 2023) adds "
         "Σλᵢ² to the loss, pushing the exponents to 0: after flossing alone, the same untrained tanh RNN passes "
         "its gradient 40 steps back undiminished (the curve stays near 1); before, it lost almost all of it.",
         "It has learned nothing yet. Why would that let it learn the XOR of two bits 40 steps apart?",
         floss_figure,
         floss_line,
         (nav.TRAINING, "Run the flossing race", {"preset": "flossing"})),
]


# The lesson page's one setting, the step, in its URL (/lesson?step=3).
STATE = PageState("lesson", [UrlField("step", 1, FieldSpec("int", "The lesson step.", lo=1, hi=len(STEPS)))])
