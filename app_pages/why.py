"""Why are RNNs hard to train? The argument step by step, each claim beside a live figure or a link."""
from typing import Callable

import numpy as np
import plotly.graph_objects as go
import streamlit as st

import core
from ui import flow_figs
from ui.chart_style import layout
from ui.heavy import computed
from ui.links import page_link
from ui.live_chart import chart
from ui.nav import CLIFF, GRADIENT_FLOW, PHASE, TRAINING
from ui.text import headline, short_label

# Each step's links: (page, label, that page's settings), built and checked by ui/links.py.
LINKS = {
    2: [(GRADIENT_FLOW, "Explore it: Gradient flow page", {"weight_scale": 0.891, "seq_len": 60}),
        (PHASE, "Where the edge lies for every weight scale: Phase diagram", {})],
    3: [(GRADIENT_FLOW, "See saturation: sigmoid, heatmap tab", {"activation": "sigmoid", "view": "saturation"})],
    4: [(CLIFF, "Watch the jump: Loss cliff page", {}),
        (GRADIENT_FLOW, "Watch an overflow: ReLU RNN, s = 2.5",
         {"activation": "relu", "weight_scale": 2.51, "seq_len": 500})],
    5: [(TRAINING, "Race them: Why gating matters (Training lab)", {"preset": "gating"})],
    6: [(GRADIENT_FLOW, "Identity + ReLU (Le et al. 2015)",
         {"activation": "relu", "init": "identity", "input_scale": 0.5, "seq_len": 500}),
        (GRADIENT_FLOW, "LSTM with open forget gates", {"cell": "lstm", "bias": 3, "seq_len": 300})],
    7: [(GRADIENT_FLOW, "Critical tanh RNN: s at the edge of chaos", {"weight_scale": 1.88, "seq_len": 500}),
        (GRADIENT_FLOW, "LRU, |λ| in [0.9, 0.999]", {"cell": "lru", "seq_len": 500}),
        (PHASE, "The edge across input scales: Phase diagram", {})],
}
# The measured curve beside each step that has one: (the network's settings, the chart's key).
CURVES = {
    2: (dict(weight_scale=0.891, seq_len=60), "why_chain"),
    4: (dict(activation="linear", init="orthogonal", weight_scale=2.51, input_scale=0.0, seq_len=200), "why_explode"),
    5: (dict(weight_scale=0.708, seq_len=200), "why_vanish"),
    6: (dict(activation="relu", init="identity", input_scale=0.5, seq_len=500), "why_identity"),
    7: (dict(cell="lru", seq_len=500), "why_lru"),
}


def curve(**kw) -> core.UnrollResult:
    cfg = core.UnrollConfig(**kw)
    return computed("unroll", cfg, lambda: core.unroll(cfg))


def small(fig: go.Figure, plot_height: int = 220) -> go.Figure:
    """A chart for a column: a shorter plot area, the room its legend needs kept."""
    margin = fig.layout.margin
    fig.update_layout(height=plot_height + margin.t + margin.b, margin=dict(l=50, r=10))
    return fig


def live_curve(col, res: core.UnrollResult, key: str):
    """A measured gradient curve, with what network it is and what it shows."""
    chart(small(flow_figs.gradient_curve_figure(res)), key=key, container=col)
    col.caption(f"{short_label(res.config)}: {headline(res)}")


def powers_figure() -> go.Figure:
    k = np.arange(0, 101)
    f = go.Figure()
    for factor, color in ((0.9, "#0072B2"), (1.0, "#6E6E6E"), (1.1, "#D55E00")):
        f.add_trace(go.Scatter(x=k, y=factor ** k, name=f"×{factor} per step", line=dict(color=color)))
    f.update_yaxes(type="log", exponentformat="power", title="signal left")
    f.update_xaxes(title="steps back")
    return small(layout(f, "Repeated multiplication"))


def derivatives_figure() -> go.Figure:
    a = np.linspace(-6, 6, 241)
    sig = 1 / (1 + np.exp(-a))
    f = go.Figure([go.Scatter(x=a, y=sig * (1 - sig), name="σ'(a)  (max ¼)", line=dict(color="#E69F00")),
                   go.Scatter(x=a, y=1 - np.tanh(a) ** 2, name="tanh'(a)  (max 1)", line=dict(color="#0072B2"))])
    f.update_xaxes(title="pre-activation a")
    f.update_yaxes(title="derivative")
    return small(layout(f, "Derivatives of the squashing functions"))


# Static figures of the steps without a measured curve: (builder, the chart's key).
FIGURES = {1: (powers_figure, "why_powers"), 3: (derivatives_figure, "why_deriv")}


def step(number: int, title: str, explain: Callable[[], None]) -> None:
    """One claim: its text and links on the left, its figure (measured live, or drawn) on the right."""
    st.divider()
    st.subheader(f"{number}. {title}")
    text, fig = st.columns([1.1, 1], gap="large")
    with text:
        explain()
        for page, label, values in LINKS.get(number, []):
            if page.exists():
                page_link(st, page, values, label=label)
    if number in CURVES:
        settings, key = CURVES[number]
        live_curve(fig, curve(**settings), key)
    else:
        build, key = FIGURES[number]
        chart(build(), key=key, container=fig)


def feed_forward_text() -> None:
    st.markdown(
        "A 5-layer feed-forward network sends its error signal back through 5 different layers. A recurrent "
        "network unrolled over $T$ time steps is a $T$-layer network **with the same weights in every layer**, "
        "so the signal that reaches step $t$ has been multiplied by (nearly) the same factor $T - t$ times. "
        "A factor just below 1 is fatal over long distances; a factor just above 1 is explosive.")


def chain_text() -> None:
    st.markdown("For $h_t = f(W h_{t-1} + U x_t + b)$ the error signal $k$ steps back is")
    st.latex(r"\frac{\partial L}{\partial h_{T-k}} = \frac{\partial L}{\partial h_T}"
             r"\prod_{s=T-k+1}^{T}\operatorname{diag}\big(f'(a_s)\big)\,W")
    st.latex(r"\Big\|\frac{\partial h_T}{\partial h_{T-k}}\Big\| \le (\lambda_1\gamma)^{k}")
    st.markdown("with $\\lambda_1$ the largest singular value of $W$ and $\\gamma = \\sup|f'|$ (Bengio, Simard & "
                "Frasconi 1994; Pascanu, Mikolov & Bengio 2013). The figure is a real tanh RNN with weight "
                "scale 0.9: measured curve and bound.")


def sigmoid_text() -> None:
    st.markdown(
        "Every step multiplies by $f'(a_s)$. For the logistic sigmoid $\\sigma'(a) = \\sigma(a)(1-\\sigma(a)) \\le "
        "\\tfrac14$, so even a perfectly scaled $W$ loses a factor 4 per step; tanh peaks at 1 but both **saturate**: "
        "a unit pushed to ±1 passes almost nothing back (Hochreiter 1991). At the same weight scale, sigmoid "
        "vanishes far faster than tanh.")


def exploding_text() -> None:
    st.markdown(
        "When $\\lambda_1\\gamma > 1$ the product can grow geometrically: the numbers overflow to inf and NaN, "
        "the loss jumps, training visibly breaks. Because it is so visible, it is easy to fix: **clip** the gradient "
        "when its norm passes a threshold, keeping its direction (Pascanu et al. 2013). On a loss surface with a "
        "cliff, one unclipped step throws the parameters far away; the clipped step stays put.")


def vanishing_text() -> None:
    st.markdown(
        "Nothing overflows when the gradient vanishes: the loss simply stops improving on anything that depends "
        "on inputs far back. On the adding problem (Hochreiter & Schmidhuber 1997) the target is the sum of two "
        "marked numbers anywhere in a long sequence; always answering 1 gives MSE 1/6 ≈ 0.167. A vanilla RNN "
        "sits on that line; an LSTM falls below it.")


def remedies_text() -> None:
    st.markdown(
        "- **Gating** (LSTM, Hochreiter & Schmidhuber 1997; GRU): the cell state is carried forward by a "
        "multiplication with the forget gate and an addition, so its Jacobian is close to the identity while the "
        "gate stays open.\n"
        "- **Initialisation**: an orthogonal or identity recurrent matrix has all singular values equal to its "
        "scale; identity + ReLU keeps the gradient at 1 for hundreds of steps (Le, Jaitly & Hinton 2015).\n"
        "- **Clipping** for the exploding side.")


def edge_text() -> None:
    st.markdown(
        "The bound of step 2 is true but loose. Mean-field theory predicts the per-step factor itself: for a random W "
        "the pre-activations settle to a gaussian of variance q*, and each step multiplies the gradient's norm by "
        "$\\sqrt{\\chi}$ with $\\chi = s^2\\,\\mathbb{E}[f'(a)^2]$; $\\chi = 1$ is the **edge of chaos** (Poole et al. "
        "2016; Chen, Pennington & Schoenholz 2018). Recent recurrent models are built to stay there: the **LRU** "
        "(Orvieto et al. 2023) makes the recurrence linear and diagonal, "
        "$x_t = \\Lambda x_{t-1} + \\gamma \\odot B u_t$, and "
        "puts every eigenvalue on a ring just inside the unit circle, so each unit keeps "
        "$|\\lambda_j| \\approx 1$ of the gradient per step; **minGRU** (Feng et al. 2024) lets the gate read only "
        "the input, so its Jacobian is "
        "$\\operatorname{diag}(1 - z_t)$: it can never explode, and vanishes only as fast as the gates open.")


REFERENCES = (
    "- S. Hochreiter (1991). *Untersuchungen zu dynamischen neuronalen Netzen.* Diploma thesis, TU München.\n"
    "- Y. Bengio, P. Simard & P. Frasconi (1994). Learning long-term dependencies with gradient descent is "
    "difficult. *IEEE Transactions on Neural Networks* 5(2).\n"
    "- S. Hochreiter & J. Schmidhuber (1997). Long short-term memory. *Neural Computation* 9(8).\n"
    "- R. Pascanu, T. Mikolov & Y. Bengio (2013). On the difficulty of training recurrent neural networks. "
    "*ICML*, arXiv:1211.5063.\n"
    "- Q. V. Le, N. Jaitly & G. E. Hinton (2015). A simple way to initialize recurrent networks of rectified "
    "linear units. arXiv:1504.00941.\n"
    "- B. Poole, S. Lahiri, M. Raghu, J. Sohl-Dickstein & S. Ganguli (2016). Exponential expressivity in deep neural "
    "networks through transient chaos. *NeurIPS*.\n"
    "- M. Chen, J. Pennington & S. S. Schoenholz (2018). Dynamical isometry and a mean field theory of RNNs: gating "
    "enables signal propagation in recurrent neural networks. *ICML*, arXiv:1806.05394.\n"
    "- A. Orvieto, S. L. Smith, A. Gu, A. Fernando, C. Gulcehre, R. Pascanu & S. De (2023). Resurrecting recurrent "
    "neural networks for long sequences. *ICML*, arXiv:2303.06349.\n"
    "- L. Feng, F. Tung, M. O. Ahmed, Y. Bengio & H. Hajimirsadeghi (2024). Were RNNs all we needed? "
    "arXiv:2410.01201.")


def why_page() -> None:
    st.title("Why are recurrent networks hard to train?")
    st.caption("The argument in seven steps. The gradient curves are measured live by the same engine as the rest "
               "of the lab; every link opens the page and settings that demonstrate the claim.")
    step(1, "A feed-forward net multiplies a few Jacobians; a recurrent net multiplies the same one many times",
         feed_forward_text)
    step(2, "Back-propagation through time is a chain of Jacobians",
         chain_text)
    step(3, "The sigmoid makes it worse: its derivative is at most ¼, and near 0 at both ends",
         sigmoid_text)
    step(4, "Exploding gradients are loud, and a threshold cures them",
         exploding_text)
    step(5, "Vanishing gradients are silent",
         vanishing_text)
    step(6, "Remedies: gating, initialisation, clipping",
         remedies_text)
    step(7, "Theory predicts the edge, and modern recurrent models sit on it by design",
         edge_text)
    st.divider()
    st.subheader("References")
    st.markdown(REFERENCES)


if __name__ == "__main__":             # run by Streamlit as the page (ui/nav.py)
    why_page()
