"""Plain-words readings of results, kept pure so they can be tested without Streamlit."""
from __future__ import annotations

import math

import numpy as np

from core.cells import CELLS
from core.cliff import CliffResult
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
    """One sentence that reads the curve for a person, in plain words: how much of the final step's gradient is
    left far back, what that means (it vanishes, explodes or holds), and what one step back does to it. Its word is
    the regime, and the regime is read off the end-to-start ratio the sentence states (core.theory.REGIME_RULE).
    With stacked layers every number is the top layer's (as the result's one-layer fields), and it says so."""
    T = res.config.seq_len
    gradient = "the top layer's gradient" if res.config.layers > 1 else "the gradient"
    if T == 1:
        return "With T = 1 there is no recurrence to travel through: only the final step gets a gradient."
    per_step = f" by about ×{sci(res.rate, 3)} per step" if res.rate is not None else ""
    if res.overflow is not None:
        o = res.overflow
        if o["where"] == "forward":
            return (f"**Exploding.** The forward pass itself blew up at step {o['forward_step']} "
                    f"(distance {o['distance']}): the hidden state became {o['kind']}, so no gradient "
                    f"behind it is defined.")
        return (f"**Exploding.** {gradient.capitalize()} grows{per_step} and left the {res.config.dtype} range at "
                f"distance {o['distance']}.")
    if res.reached_zero_at is not None:
        return f"**Vanishing.** {gradient.capitalize()} shrinks{per_step} and {zero_sentence(res)}"
    word = {"vanishing": "Vanishing", "stable": "Stable", "exploding": "Exploding"}[res.regime]
    ratio = res.end_to_start_ratio
    of = "of" if ratio < 1 else "times"         # one line on a 1280×720 projector, beside the sidebar
    return (f"**{word}.** {T - 1} step{'s' if T > 2 else ''} back {gradient} is **{sci(ratio)}** {of} its "
            f"final-step value: {meaning(res)}")


def meaning(res: UnrollResult) -> str:
    """What one step back does to the gradient, in the regime's direction: the fitted factor when it points the
    same way as the end-to-start ratio (a curve can bend), else only the direction."""
    rate = res.rate
    if res.regime == "vanishing":
        return f"it shrinks ×{sci(rate, 3)} per step." if rate is not None and rate < 1 else "it shrinks overall."
    if res.regime == "exploding":
        return f"it grows ×{sci(rate, 3)} per step." if rate is not None and rate > 1 else "it grows overall."
    return "it neither vanishes nor explodes" + (f" (×{sci(rate, 3)} per step)." if rate is not None else ".")


def zero_sentence(res: UnrollResult) -> str:
    """Why the curve is exactly 0 from some distance on (res.zero_cause), ending the headline."""
    d, dtype = res.reached_zero_at, res.config.dtype
    if res.zero_cause == "zero_derivative":
        return (f"is exactly 0 from distance {d} on: there the derivative itself is 0 (every ReLU the signal "
                f"reaches is off, f′ = 0), so the signal is cut, not lost to rounding; more precision would not "
                f"bring it back.")
    return (f"is exactly 0 from distance {d} on: its true value is below the smallest {dtype} (underflow)"
            + ("; in float64 it would last longer." if dtype == "float32" else "."))


def theory_sentences(res: UnrollResult) -> str:
    """What theory predicts for this curve and how the measurement compares, in a few sentences."""
    parts = []
    if res.mean_field_rate is not None and res.config.loss_on == "last" and res.rate is not None:
        parts.append(f"**Theory.** {res.theory_note} Measured: ×{sci(res.rate, 3)} per step "
                     f"({100 * (res.rate / res.mean_field_rate - 1):+.1f}%).")
    elif res.theory_note:
        parts.append(f"**Theory.** {res.theory_note}")
    if res.lyapunov.size and np.isfinite(res.lyapunov).all():
        top = ", ".join(f"{v:.3f}" for v in res.lyapunov)
        comparison = (f": here ln {sci(res.rate, 3)} = {math.log(res.rate):.3f} against λ_max = {res.lyapunov[0]:.3f}"
                      if res.rate else "")
        parts.append(f"**Lyapunov exponents** of the forward dynamics along this trajectory (nats per step, largest "
                     f"first): {top}. A perturbation of the state grows like e^(λ_max·k); the gradient goes back "
                     f"through the same Jacobians transposed, so ln(per-step factor) ≈ λ_max{comparison}.")
    return "\n\n".join(p for p in parts if p)


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
    spec = CELLS[cfg.cell]
    cell = f"{spec.short} {cfg.activation}" if spec.uses_activation else spec.short
    extra = "" if cfg.input_scale == 1.0 else f" x×{cfg.input_scale:g}"
    network = f" {cfg.init} s={cfg.weight_scale:g}" if "init" in spec.uses else ""
    return f"{cell}{network} T={cfg.seq_len}{extra}"


def clipping_sentence(res: UnrollResult) -> str:
    """What clipping does to this update, in one or two sentences that agree with the clipping chart."""
    cfg = res.config
    total = res.param_grad_norm
    if not math.isfinite(total):
        hint = (" In float64 (Advanced › Precision) the same network's numbers stay finite much longer."
                if cfg.dtype == "float32" else "")
        return ("The parameter gradient is **not finite** (it contains inf or NaN), so there is nothing to "
                "rescale: clipping cannot repair it, and a training step with this gradient would be skipped "
                "(the Training lab stops rather than write inf/NaN into the weights)." + hint)
    if cfg.clip is None:
        return (f"Clipping is **off**. The total gradient norm $\\|\\partial L/\\partial\\theta\\|$ is "
                f"**{sci(total, 3)}**; pick a clipping threshold in the settings to see what clipping would do to "
                f"this update.")
    if res.clip_factor < 1:
        after = total * res.clip_factor
        if cfg.clip_mode == "norm":
            return (f"The norm **{sci(total, 3)}** is over the threshold **{cfg.clip:g}**: clipping by norm "
                    f"multiplies this update by **{sci(res.clip_factor, 3)}**, so its norm becomes "
                    f"**{sci(after, 3)}**. The direction is kept, only the step is shortened; the orange dotted "
                    "line on the chart above is the clipped curve.")
        return (f"Some entries are larger than **{cfg.clip:g}** in absolute value: clipping by value caps each "
                f"of them, which shortens this update from norm **{sci(total, 3)}** to **{sci(after, 3)}** "
                f"(×{sci(res.clip_factor, 3)}) and also turns its direction.")
    if cfg.clip_mode == "norm":
        return (f"The norm **{sci(total, 3)}** is under the threshold **{cfg.clip:g}**: clipping leaves this "
                "update untouched.")
    return (f"No entry of the gradient (norm **{sci(total, 3)}**) is larger than **{cfg.clip:g}** in absolute "
            "value: clipping leaves this update untouched.")


def cliff_story(res: CliffResult) -> str:
    """What the two descents did, read off their trajectories: whether the plain one met the wall (its biggest
    jump is at least five times what the clipped run may move in one step), how many clipped steps were
    rescaled, and where each ended."""
    cfg, plain, clipped = res.config, res.plain, res.clipped
    jump = int(plain.step_length.argmax())
    cap = cfg.lr * cfg.clip
    n_rescaled = int(clipped.clipped.sum())
    rescaled = f"{n_rescaled} of {len(clipped.clipped)} clipped steps were rescaled"
    ends = (f"Final loss: E = {sci(float(plain.loss[-1]), 3)} without clipping, {sci(float(clipped.loss[-1]), 3)} "
            f"with it.")
    if plain.step_length[jump] >= 5 * cap:
        return (f"**What happened.** Without clipping, step {jump} met ‖∇E‖ = {sci(float(plain.grad_norm[jump]), 3)} "
                f"and moved the parameters by {sci(float(plain.step_length[jump]), 3)} in one update: it hit the "
                f"wall. With clipping at {cfg.clip:g}, the gradient only sets the direction once its norm passes "
                f"the threshold ({rescaled}), so no step is longer than {cap:.3g}. {ends} The wall is where exploding "
                "gradients live: rare, huge, and harmless once their length is capped.")
    start = (f"**What happened.** This descent did not hit the wall: its largest gradient was "
             f"‖∇E‖ = {sci(float(plain.grad_norm.max()), 3)} and its longest step "
             f"{sci(float(plain.step_length[jump]), 3)}")
    if _same_path(plain, clipped):
        return (f"{start}, so plain and clipped descent move alike ({rescaled}; they end within 1% of each other). "
                f"{ends} Click the surface next to the bright ridge to start where the gradient explodes.")
    lower = "the clipped" if clipped.loss[-1] < plain.loss[-1] else "the plain"
    return (f"{start}. Clipping still changed this descent: {rescaled}, each shortened to {cap:.3g}, so the two "
            f"paths part. {ends} Here {lower} descent ended lower. Click the surface next to the bright ridge to "
            "start where the gradient explodes.")


def _same_path(a, b) -> bool:
    """Two descents that end within 1% of each other, in the parameters and in the loss."""
    far = math.hypot(float(a.w[-1] - b.w[-1]), float(a.b[-1] - b.b[-1]))
    size = max(math.hypot(float(a.w[-1]), float(a.b[-1])), 1e-12)
    loss_gap = abs(float(a.loss[-1] - b.loss[-1])) / max(abs(float(a.loss[-1])), abs(float(b.loss[-1])), 1e-12)
    return far <= 0.01 * size and loss_gap <= 0.01
