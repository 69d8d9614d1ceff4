"""CLI subcommands `cliff` and `phase` (registered by core.__main__)."""
from __future__ import annotations

import numpy as np

from .cliff import CLIFF_FIELDS, CliffConfig, cliff
from .phase import PHASE_FIELDS, PhaseConfig, measured_edge, phase_diagram


def _fields(specs, defaults):
    from .__main__ import add_fields
    return lambda p: add_fields(p, specs, defaults=defaults)


def cmd_cliff(args) -> int:
    from .__main__ import emit_json, given
    res = cliff(CliffConfig(**given(args, CLIFF_FIELDS)))
    if args.json:
        emit_json(res.to_json_dict())
        return 0
    c, g = res.config, res.grid
    i, j = np.unravel_index(np.argmax(g.grad_norm), g.grad_norm.shape)
    print(f"loss surface over w in [{c.w_min:g}, {c.w_max:g}], b in [{c.b_min:g}, {c.b_max:g}] "
          f"({c.resolution}×{c.resolution}, T={c.seq_len})")
    print(f"steepest wall: ‖∇E‖ = {g.grad_norm[i, j]:.4g} at w = {g.w[j]:.3f}, b = {g.b[i]:.3f}")
    for name, tr in (("plain", res.plain), (f"clipped at {c.clip:g}", res.clipped)):
        print(f"{name:>16}: longest step {tr.step_length.max():.4g}, ends at w = {tr.w[-1]:.3f}, "
              f"b = {tr.b[-1]:.3f} with E = {tr.loss[-1]:.4g}")
    return 0


def cmd_phase(args) -> int:
    from .__main__ import emit_json, given
    res = phase_diagram(PhaseConfig(**given(args, PHASE_FIELDS)))
    if args.json:
        out = res.to_json_dict()
        out["measured_edge"] = [None if not np.isfinite(v) else float(v) for v in measured_edge(res)]
        emit_json(out)
        return 0
    edges = measured_edge(res)
    print(f"per-step gradient factor of the vanilla RNN, weight scale × {res.config.y_axis}")
    print(f"{res.config.y_axis:>12}  measured edge (factor = 1)  mean-field χ = 1  Pascanu λ1·γ = 1 (sufficient)")
    for y, e, m, t in zip(res.y, edges, res.mean_field_edge, res.theory_edge):
        shown = lambda v: "none" if not np.isfinite(v) else f"s = {v:.3g}"      # noqa: E731
        print(f"{y!s:>12}  {shown(e):>26}  {shown(m):>16}  s = {t:.3g}")
    return 0


COMMANDS = {
    "cliff": ("Pascanu's loss cliff: E and ‖∇E‖ over a (w, b) grid, descents with and without clipping",
              _fields(CLIFF_FIELDS, CliffConfig()), cmd_cliff),
    "phase": ("phase diagram: per-step gradient factor over weight scale × a second control",
              _fields(PHASE_FIELDS, PhaseConfig()), cmd_phase),
}
