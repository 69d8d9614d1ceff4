"""Home: what the app shows, why it matters, and a way into each page."""
import numpy as np
import plotly.graph_objects as go
import streamlit as st

from ui.chart_style import layout
from ui.links import link, page_link
from ui.live_chart import chart
from ui.nav import GRADIENT_FLOW, LESSON, available_pages

# "Try these first": (what it shows, the Gradient flow page's settings that show it).
TRY_FIRST = [
    ("tanh RNN, s = 1: vanishes", {}, " — the default view."),
    ("linear RNN, orthogonal × 1: perfectly stable",
     {"activation": "linear", "init": "orthogonal", "input_scale": 0}, ""),
    ("ReLU RNN, s = 2.5: explodes and overflows", {"activation": "relu", "weight_scale": 2.51, "seq_len": 500}, ""),
    ("sigmoid: γ = 1/4 makes it four times worse per step", {"activation": "sigmoid", "weight_scale": 3.98}, ""),
    ("LSTM: the cell state carries the gradient further", {"cell": "lstm", "bias": 3, "seq_len": 300}, ""),
]


def powers_figure() -> go.Figure:
    """0.9 and 1.1 per step, multiplied 100 times."""
    k = np.arange(0, 101)
    powers = go.Figure([go.Scatter(x=k, y=factor ** k, name=f"×{factor} per step", line=dict(color=color, width=3))
                        for factor, color in ((0.9, "#0072B2"), (1.1, "#D55E00"))])
    powers.update_yaxes(type="log", exponentformat="power", title="signal left")
    powers.update_xaxes(title="steps back")
    return layout(powers, "The same factor, 100 times", height=300)


def ways_in() -> None:
    """The lesson first, then every other page with its pitch, and five views to try."""
    with st.container(border=True):
        page_link(st, LESSON, label="**Teaching a class? Start the lesson**")
        st.caption("Eight steps from vanishing gradients to the phase diagram, each with a talking point, a "
                   "question to ask and a live chart. Turn on *Presentation mode* in the sidebar for the projector.")

    st.subheader("Where to go")
    for page in available_pages()[1:]:
        with st.container(border=True):
            page_link(st, page, label=f"**{page.title}**")
            st.caption(page.pitch)

    with st.expander("Try these first"):
        st.markdown("\n".join(f"- [{label}]({link(GRADIENT_FLOW, values)}){after}"
                               for label, values, after in TRY_FIRST))


def home_page() -> None:
    st.title("Gradient Flow Lab")
    st.markdown(
        "#### See why recurrent networks forget.\n"
        "A neural network learns by nudging its weights a little after each example. The **gradient** says which "
        "way to nudge each weight, and by how much, so that the error gets smaller. A *recurrent* network reads a "
        "sequence one step at a time and keeps a memory of what it has read (its **hidden state**). To learn from "
        "an input far back in the sequence, the gradient has to travel back through every step in between, and "
        "each step multiplies it by about the same factor.")
    left, right = st.columns([1, 1.1], gap="large")
    left.markdown(
        "If each step keeps 0.9 of the signal, after 100 steps only $0.9^{100} \\approx 3\\times10^{-5}$ of it is "
        "left: the network cannot learn anything that depends on inputs that far back (**vanishing gradients**, "
        "silent). If each step multiplies it by 1.1, after 100 steps it is $1.1^{100} \\approx 1.4\\times 10^{4}$ "
        "times larger and one update can throw the weights anywhere (**exploding gradients**, loud: overflow and "
        "NaN). This lab lets you watch both happen in real networks, measure them, and try the cures: clipping, "
        "careful initialisation and gated cells (LSTM, GRU).")
    chart(powers_figure(), key="home_powers", container=right)

    with st.expander("In symbols: the letters and the product of Jacobians"):
        st.markdown(
            "The network's step is $h_t = f(W h_{t-1} + U x_t + b)$: $x_t$ is the input at step $t$, $h_t$ the "
            "hidden state (the memory), $W$ and $U$ are the weight matrices (state to state, input to state), $b$ a "
            "bias, and $f$ a squashing function such as tanh. Training it by back-propagation through time multiplies "
            "**one Jacobian per time step**, so the error signal that reaches a step $k$ steps back is a product of "
            "$k$ matrices:")
        st.latex(r"\frac{\partial L}{\partial h_{T-k}} = \frac{\partial L}{\partial h_T}"
                 r"\prod_{s=T-k+1}^{T} \operatorname{diag}\big(f'(a_s)\big)\,W")
        st.markdown("with $a_s$ the pre-activation at step $s$ and $L$ the loss (the error). A product of $k$ similar "
                    "factors shrinks or grows geometrically in $k$.")
    ways_in()
    st.caption("References: Pascanu, Mikolov & Bengio (2013), *On the difficulty of training recurrent neural "
               "networks*; Bengio, Simard & Frasconi (1994); Hochreiter (1991); Hochreiter & Schmidhuber (1997); "
               "Le, Jaitly & Hinton (2015).")


if __name__ == "__main__":             # run by Streamlit as the page (ui/nav.py)
    home_page()
