"""Every sentence the engine writes about an unroll agrees with the numbers beside it, over ~300 random settings of
every cell, activation, initialisation, precision, length, bias, input scale, clipping and loss placement. A
contradiction fails with the configuration that produced it."""
import math

import numpy as np
import pytest

import core
from core import meanfield
from core.cells import CELLS
from core.config import UnrollConfig
from core.theory import REGIME_FACTOR
from ui import text

SETTINGS = 300
WORDS = {"vanishing": "**Vanishing.**", "stable": "**Stable.**", "exploding": "**Exploding.**"}


def random_configs(count: int, seed: int = 20261204):
    rng = np.random.default_rng(seed)
    cells = sorted(CELLS)
    for _ in range(count):
        clip = None if rng.random() < 0.4 else float(rng.choice([1e-3, 0.1, 1.0, 10.0, 1e6]))
        yield UnrollConfig(
            cell=str(rng.choice(cells)), activation=str(rng.choice(["tanh", "sigmoid", "relu", "linear"])),
            init=str(rng.choice(["gaussian", "orthogonal", "identity", "xavier"])),
            weight_scale=float(np.round(10 ** rng.uniform(-1, 1), 3)),
            seq_len=int(np.round(10 ** rng.uniform(math.log10(2), math.log10(2000)))),
            hidden=int(rng.choice([2, 5, 16, 32])), batch=int(rng.integers(1, 4)),
            input_scale=float(rng.choice([0.0, 0.3, 1.0, 3.0])), bias=float(rng.choice([-3.0, -1.0, 0.0, 0.5, 3.0])),
            h0_scale=float(rng.choice([0.0, 0.0, 1.0])), clip=clip, clip_mode=str(rng.choice(["norm", "value"])),
            dtype=str(rng.choice(["float32", "float64"])), loss_on=str(rng.choice(["last", "last", "all"])),
            seed=int(rng.integers(0, 1000)))


def contradictions(res) -> list[str]:
    """What the sentences of `res` say that its numbers do not."""
    cfg, found = res.config, []
    line = text.headline(res)
    ratio = res.end_to_start_ratio
    if "n/a" in line:
        found.append("the headline says n/a")
    if cfg.seq_len > 1 and not line.startswith(WORDS[res.regime]):
        found.append(f"regime {res.regime} but the headline reads {line[:30]!r}")
    # the regime follows from the ratio (or from overflow / an exact zero)
    if res.overflow is not None:
        if res.regime != "exploding":
            found.append("overflowed but not exploding")
    elif res.reached_zero_at is not None:
        k = res.reached_zero_at
        if res.regime != "vanishing" or res.grad_norm[k] != 0 or not np.all(res.grad_norm[:k] > 0):
            found.append("the zero statement does not match the curve")
        if res.zero_cause not in ("underflow", "zero_derivative"):
            found.append(f"zero_cause {res.zero_cause!r}")
        if (res.zero_cause == "zero_derivative") != ("derivative itself is 0" in line):
            found.append("the headline gives another cause of the zero than zero_cause")
        if f"distance {k}" not in line:
            found.append("the headline names another distance for the zero")
    else:
        expected = ("exploding" if ratio > REGIME_FACTOR else "vanishing" if ratio < 1 / REGIME_FACTOR
                    else "stable")
        if cfg.seq_len > 1 and res.regime != expected:
            found.append(f"regime {res.regime} with an end-to-start ratio of {ratio:.3g}")
        if cfg.seq_len > 1 and f"**{text.sci(ratio)}**" not in line:
            found.append("the headline does not state the end-to-start ratio")
        if cfg.seq_len > 1:
            found += plain_words_contradictions(res, line)
    found += clipping_contradictions(res)
    found += theory_contradictions(res)
    return found


def plain_words_contradictions(res, line: str) -> list[str]:
    """The headline's plain words: its verb goes the regime's way, and the per-step change it names is the fitted
    factor, pointing the way the curve goes."""
    import re
    found, rate = [], res.rate
    verb = {"vanishing": "it shrinks", "exploding": "it grows",
            "stable": "it neither vanishes nor explodes"}[res.regime]
    if verb not in line:
        found.append(f"regime {res.regime} but the headline does not say {verb!r}")
    per_step = re.search(r"it (shrinks|grows) ×(\S+) per step\.", line)
    if per_step is not None and (per_step.group(2) != text.sci(rate, 3)
                                 or (per_step.group(1) == "shrinks") != (rate < 1)):
        found.append(f"the headline's change per step {per_step.group(0)!r} is not the fitted factor {rate}")
    return found


def clipping_contradictions(res) -> list[str]:
    cfg, sentence, found = res.config, text.clipping_sentence(res), []
    total = res.param_grad_norm
    if not math.isfinite(total):
        return [] if "not finite" in sentence else ["a non-finite gradient described as finite"]
    if cfg.clip is None:
        return [] if "**off**" in sentence else ["clipping off but the sentence says otherwise"]
    if res.clip_factor < 1:
        if text.sci(res.clip_factor, 3) not in sentence:
            found.append("the clipping sentence does not give the factor")
        if cfg.clip_mode == "norm" and not (total > cfg.clip and
                                            math.isclose(res.clip_factor, cfg.clip / total, rel_tol=1e-12)):
            found.append("clipped by norm although the norm is under the threshold, or by another factor")
    elif "untouched" not in sentence or (cfg.clip_mode == "norm" and total > cfg.clip):
        found.append("an untouched update that should have been clipped, or the other way round")
    return found


def theory_contradictions(res) -> list[str]:
    cfg, found = res.config, []
    if cfg.loss_on == "all":
        if np.isfinite(res.bound).any() or res.theory_curve is not None:
            found.append("a bound or theory line drawn with the loss on every step")
    elif res.gamma is not None and res.overflow is None:
        # where the curve is a normal number of its precision (subnormals lose relative precision)
        tiny = np.finfo(cfg.dtype).tiny * 1e3
        ok = np.isfinite(res.grad_norm) & np.isfinite(res.bound) & (res.grad_norm > tiny)
        tolerance = 1e-4 if cfg.dtype == "float32" else 1e-9
        if np.any(res.grad_norm[ok] > res.bound[ok] * (1 + tolerance) + 1e-300):
            found.append("the measured curve lies above Pascanu's bound")
    applies = (cfg.cell == "rnn" and cfg.layers == 1 and cfg.init in meanfield.APPLIES_TO_INITS
               and meanfield.degenerate(cfg.activation, cfg.input_scale, cfg.bias, cfg.h0_scale) is None)
    if (res.mean_field_rate is not None) != applies:
        found.append("a mean-field factor where it does not apply (or none where it does)")
    if res.critical_weight_scale is not None:
        if not (applies and 0.1 <= res.critical_weight_scale <= 10 and res.critical_note == ""):
            found.append("a critical weight scale where there is none")
    elif not res.critical_note:
        found.append("no critical weight scale and no word why")
    theory = text.theory_sentences(res)
    if "Measured:" in theory and cfg.loss_on == "all":
        found.append("mean-field compared with a curve it does not describe")
    return found


def test_every_sentence_agrees_with_its_numbers_over_random_settings():
    failures = []
    for cfg in random_configs(SETTINGS):
        res = core.unroll(cfg)
        problems = contradictions(res)
        if problems:
            failures.append(f"{cfg}: {'; '.join(problems)}")
    assert not failures, f"{len(failures)} of {SETTINGS} settings contradict themselves:\n" + "\n".join(failures[:10])


@pytest.mark.parametrize("cfg", [UnrollConfig(cell="lru", seq_len=1000),
                                 UnrollConfig(activation="relu", bias=-3.0, input_scale=0.5),
                                 UnrollConfig(init="orthogonal", weight_scale=0.5, seq_len=50, loss_on="all"),
                                 UnrollConfig(activation="linear", init="orthogonal", weight_scale=1.7, seq_len=1000,
                                              dtype="float64", clip=1.0)],
                         ids=["lru-23x", "dead-relu", "loss-on-every-step", "float64-1e154"])
def test_the_audits_cases_are_consistent(cfg):
    assert contradictions(core.unroll(cfg)) == []
