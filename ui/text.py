"""Plain-words readings of results, kept pure so they can be tested without Streamlit."""
from __future__ import annotations

import math

from core.probe import UnrollResult

def sci(x: float | None, digits: int = 2) -> str:
    """1.3e-10 style for tiny/huge numbers, plain otherwise; 'n/a' for missing or non-finite."""
    if x is None or not math.isfinite(x):
        return "n/a" if x is None or math.isnan(x) else ("∞" if x > 0 else "−∞")
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e4:
        return f"{x:.{digits + 1}g}"
    return f"{x:.{digits - 1}e}".replace("e-0", "e-").replace("e+0", "e+").replace("e+", "e")


def headline(res: UnrollResult) -> str:
    """One sentence that reads the curve for a person."""
    T = res.config.seq_len
    if T == 1:
        return "With T = 1 there is no recurrence to travel through: only the final step gets a gradient."
    ratio = res.end_to_start_ratio
    span = f"after {T - 1} step{'s' if T > 2 else ''} back"
    if res.overflow is not None:
        o = res.overflow
        if o["where"] == "forward":
            return (f"**Exploding.** The forward pass itself blew up at step {o['forward_step']} "
                    f"(distance {o['distance']}): the hidden state became {o['kind']}, so no gradient "
                    f"behind it is defined.")
        return (f"**Exploding.** The gradient grows by about ×{sci(res.rate, 3)} per step and left the "
                f"{res.config.dtype} range at distance {o['distance']}.")
    if res.reached_zero_at is not None:
        return (f"**Vanishing.** The gradient shrinks by about ×{sci(res.rate, 3)} per step and is exactly 0 "
                f"(below the smallest {res.config.dtype}) from distance {res.reached_zero_at} on.")
    word = {"vanishing": "Vanishing", "stable": "Stable", "exploding": "Exploding"}[res.regime]
    return (f"**{word}.** Per-step factor ×{sci(res.rate, 3)}: {span} the gradient is "
            f"**{sci(ratio)}** of its final-step value.")


def overflow_explanation(res: UnrollResult) -> str | None:
    """What happened and what to try when numbers stopped being finite."""
    o = res.overflow
    if o is None:
        return None
    big = "3.4e38" if res.config.dtype == "float32" else "1.8e308"
    if o["where"] == "forward":
        return (f"The hidden state overflowed at time step {o['forward_step']} (marked at distance "
                f"{o['distance']} on the chart): activations grew past {big} and turned {o['kind']}. "
                "This happens with unbounded activations (ReLU, linear) when the recurrent matrix stretches "
                "vectors (spectral radius above 1). Every Jacobian after that step is undefined, so is every "
                "gradient that must pass through it. Try a smaller weight scale, a bounded activation (tanh), "
                "or orthogonal/identity initialisation.")
    return (f"The gradient overflowed at distance {o['distance']}: it passed {big}, the largest "
            f"{res.config.dtype}, and became {o['kind']}. This is the exploding-gradient problem in its "
            "loudest form: in training, one such step writes inf/NaN into the weights. Clipping rescales the "
            "update (see the clipping chart), and float64 (Advanced) pushes the overflow much further out.")


def short_label(cfg) -> str:
    """A compact name for a configuration, for legends: 'RNN tanh gaussian s=1 T=100'."""
    cell = {"rnn": f"RNN {cfg.activation}", "lstm": "LSTM", "gru": "GRU"}[cfg.cell]
    extra = "" if cfg.input_scale == 1.0 else f" x×{cfg.input_scale:g}"
    return f"{cell} {cfg.init} s={cfg.weight_scale:g} T={cfg.seq_len}{extra}"
