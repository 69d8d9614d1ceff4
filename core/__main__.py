"""Command-line interface: `python -m core unroll --weight-scale 0.9 --seq-len 200 --json`.

Flags are the config fields with dashes. Bad input exits with status 2 and one line
`error: …` on stderr naming the field and its allowed range; never a traceback.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from typing import Any, Callable

from .cells import CELLS
from .config import UNROLL_FIELDS, ConfigError, UnrollConfig
from .jsonsafe import strict
from .probe import unroll
from .runtime import configure_threads


class CliError(Exception):
    """A usage error, reported as one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):            # argparse would print usage + error; we print one line
        raise CliError(message)


def add_fields(parser: argparse.ArgumentParser, specs: dict, skip: tuple = (), defaults=None) -> None:
    """One flag per config field; values stay strings so the config gives the error message.
    `defaults`: a config instance (or dict) whose values are shown in --help."""
    if defaults is not None and not isinstance(defaults, dict):
        defaults = {f.name: getattr(defaults, f.name) for f in dataclasses.fields(defaults)}
    for name, spec in specs.items():
        if name in skip:
            continue
        extra = f" [{spec.allowed()}]"
        if defaults and name in defaults:
            default = defaults[name]
            extra += f" (default: {'off' if default is None else default})"
        parser.add_argument("--" + name.replace("_", "-"), dest=name, default=None, metavar="V",
                            help=spec.help + extra)


def given(args: argparse.Namespace, specs: dict) -> dict:
    """The fields the user actually passed."""
    return {k: getattr(args, k) for k in specs if getattr(args, k, None) is not None}



def emit_json(obj) -> None:
    json.dump(strict(obj), sys.stdout, allow_nan=False)
    sys.stdout.write("\n")


def report(args, res, summary: Callable[[Any], str]) -> int:
    """Print a subcommand's result: one strict JSON object (its to_json_dict()) with --json, else its summary."""
    if args.json:
        emit_json(res.to_json_dict())
    else:
        print(summary(res))
    return 0


def _summary(res) -> str:
    c = res.config
    spec = CELLS[c.cell]
    settings = [c.activation] if spec.uses_activation else []
    settings += [f"init={c.init}", f"s={c.weight_scale:g}"] if "init" in spec.uses else []
    settings += spec.describe(c) if spec.describe is not None else []
    layers = [f"layers={c.layers} (the curve is the top layer's)"] if c.layers > 1 else []
    lines = [" ".join([spec.label] + settings + [f"T={c.seq_len} H={c.hidden} batch={c.batch}"] + layers),
             f"regime: {res.regime}   per-step factor: "
             + (f"{res.rate:.4g}" if res.rate is not None else "n/a")
             + f"   λ1={res.spectrum.lambda1:.4g}   spectral radius={res.spectrum.spectral_radius:.4g}",
             f"theory: {res.theory_label or 'none'}"
             + (f"   mean-field √χ={res.mean_field_rate:.4g}" if res.mean_field_rate is not None else "")
             + ("   Lyapunov exponents (per step): " + ", ".join(f"{v:.3g}" for v in res.lyapunov)
                if res.lyapunov.size else ""),
             f"after {c.seq_len - 1} steps back the gradient is {res.end_to_start_ratio:.3g} of its final-step value"
             + (f" (exactly 0 from distance {res.reached_zero_at} on: "
                + ("the derivative itself is 0 there, not an underflow)" if res.zero_cause == "zero_derivative"
                   else f"every entry is below the smallest {c.dtype})")
                if res.reached_zero_at is not None else ""),
             "critical initialisation: " + (f"s = {res.critical_weight_scale:.4g}" if res.critical_weight_scale
                                            is not None else res.critical_note)]
    if res.overflow:
        o = res.overflow
        lines.append(f"numbers stopped being finite ({o['kind']}) in the {o['where']} pass at distance {o['distance']}")
    if c.clip is not None:
        lines.append(f"parameter-gradient norm {res.param_grad_norm:.4g}; clipping by {c.clip_mode} "
                     f"at {c.clip:g} scales it by {res.clip_factor:.4g}")
    lines.append("distance  grad_norm" + (f" (top layer {c.layers})" if c.layers > 1 else "")
                 + "".join(f"  layer {k + 1:<3d}" for k in range(c.layers - 1)))
    step = max(1, len(res.distance) // 20)
    for k in range(0, len(res.distance), step):
        lines.append(f"{k:8d}  {res.grad_norm[k]:.4e}" + "".join(f"  {row[k]:.3e}" for row in res.layer_grad_norm[:-1]))
    return "\n".join(lines)


def cmd_unroll(args) -> int:
    return report(args, unroll(UnrollConfig.from_mapping(given(args, UNROLL_FIELDS))), _summary)


# Other subcommands register here: name -> (help, function(subparser) that adds flags, handler).
COMMANDS = {
    "unroll": ("measure gradient norm against time-step distance",
               lambda p: add_fields(p, UNROLL_FIELDS, defaults=UnrollConfig()), cmd_unroll),
}


def _register_optional_commands():
    """Subcommands of later modules (train, cliff, phase) add themselves if present."""
    import importlib
    for module in ("core.training_cli", "core.theory_cli", "core.inspect_cli"):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        COMMANDS.update(mod.COMMANDS)


def build_parser() -> argparse.ArgumentParser:
    _register_optional_commands()
    parser = _Parser(prog="python -m core", description="Gradient Flow Lab engine.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    for name, (help_text, add, _) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add(p)
        p.add_argument("--json", action="store_true", help="print one strict JSON object")
    return parser


def main(argv=None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not args.command:
            raise CliError("choose a command: " + ", ".join(COMMANDS))
        configure_threads()
        status = COMMANDS[args.command][2](args)
        sys.stdout.flush()                   # a full disk shows here, not as an ignored error at exit
        return status
    except (ConfigError, CliError) as exc:
        message = str(exc)
        field = getattr(exc, "field", "")
        if field.isidentifier() and message.startswith(field + " "):   # name the flag the user typed
            message = "--" + field.replace("_", "-") + message[len(field):]
        print(f"error: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:              # e.g. `python -m core phase | head`: the reader left, that is fine
        _drop_stdout()
        return 0
    except OSError as exc:               # e.g. `> /dev/full`
        _drop_stdout()
        print(f"error: cannot write the output: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:            # Ctrl-C
        _drop_stdout()
        print("interrupted", file=sys.stderr)
        return 130


def _drop_stdout() -> None:
    """Point stdout's file descriptor at /dev/null, so what is still buffered for it goes nowhere and the
    interpreter's final flush does not complain."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
