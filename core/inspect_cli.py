"""CLI subcommand `inspect` (registered by core.__main__): a weights file's recurrent network, layer by layer.

    python -m core inspect WEIGHTS [--prefix NAME] [--nonlinearity tanh|relu] [--inputs FILE.npy]
                                   [--seq-len T] [--batch B] [--loss-on last|all] [--input-scale S] [--seed N] [--json]
"""
from __future__ import annotations

import os

from .errors import ConfigError
from .inspect import INSPECT_FIELDS, InspectResult, inspect
from .weights import MAX_FILE_BYTES, MAX_FILE_MB, WeightsError, load_module, read_inputs


def read_file(path: str, what: str) -> bytes:
    """The bytes of a file, refused up front when it is larger than the weights limit."""
    try:
        size = os.stat(path).st_size
        if size > MAX_FILE_BYTES:
            raise WeightsError(f"{what}: the file has {size / 2**20:.0f} MB; at most {MAX_FILE_MB} MB are read")
        with open(path, "rb") as f:
            return f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise WeightsError(f"{what}: cannot read {path!r}: {exc.strerror or exc}") from None


def _add(p) -> None:
    p.add_argument("weights", metavar="WEIGHTS", help=f".safetensors file or PyTorch state dict (torch.save), "
                                                     f"at most {MAX_FILE_MB} MB")
    p.add_argument("--prefix", default=None, help="which recurrent group of a whole model's state dict "
                                                  "(e.g. encoder.lstm); needed when there are several")
    p.add_argument("--nonlinearity", default="tanh", help="f of a vanilla RNN (not in its weights) [tanh, relu]")
    p.add_argument("--inputs", default=None, metavar="FILE.npy", help="an input batch shaped (T, B, D) "
                                                                      "(default: gaussian inputs)")
    for name in ("seq_len", "batch", "loss_on", "input_scale", "seed"):
        spec = INSPECT_FIELDS[name]
        p.add_argument("--" + name.replace("_", "-"), dest=name, default=None, metavar="V",
                       help=f"{spec.help} [{spec.allowed()}]")


def run(args) -> InspectResult:
    if args.nonlinearity not in ("tanh", "relu"):
        raise ConfigError("nonlinearity", "one of tanh, relu", args.nonlinearity)
    module, group = load_module(read_file(args.weights, "WEIGHTS"), args.prefix, args.nonlinearity)
    inputs = read_inputs(read_file(args.inputs, "--inputs")) if args.inputs else None
    options = {k: getattr(args, k) for k in ("seq_len", "batch", "loss_on", "input_scale", "seed")
               if getattr(args, k) is not None}
    for name in ("seq_len", "batch", "input_scale", "seed"):
        if name in options:
            options[name] = INSPECT_FIELDS[name].parse(name, options[name])
    res = inspect(module, inputs, **options)
    res.config["prefix"] = group.prefix.rstrip(".")
    return res


def summary(res: InspectResult) -> str:
    a = res.architecture
    lines = [f"{a.num_layers}-layer {'bidirectional ' if a.bidirectional else ''}{a.kind.upper()} "
             f"input {a.input_size}, hidden {a.hidden_size}" + (f", projection {a.proj_size}" if a.proj_size else "")
             + f"; T={res.config['seq_len']} batch={res.config['batch']} loss on {res.config['loss_on']}",
             f"{'layer':>5} {'direction':>9} {'regime':>10} {'per-step':>9} {'λ1':>7}  ‖∂L/∂h_t‖ at t = 0, T/2, T−1"]
    for lf, s in zip(res.layers, res.saturation):
        g = lf.grad_norm
        rate = f"{lf.rate:.4g}" if lf.rate is not None else "n/a"
        lines.append(f"{lf.layer:>5} {lf.direction:>9} {lf.regime:>10} {rate:>9} {lf.lambda1:7.3g}  "
                     f"{g[0]:.3e} {g[len(g) // 2]:.3e} {g[-1]:.3e}   {s.quantity}: mean {s.mean:.3g}, "
                     f"{s.share_low:.0%} < 0.05, {s.share_high:.0%} > 0.95")
    lines.append("Lyapunov exponents (per step): " + ", ".join(f"{v:.3g}" for v in res.lyapunov))
    lines += ["diagnosis:"] + [f"  - {f.text}" for f in res.diagnosis]
    return "\n".join(lines)


def cmd_inspect(args) -> int:
    from .__main__ import report
    return report(args, run(args), summary)


COMMANDS = {
    "inspect": ("a weights file's recurrent network: ‖∂L/∂h_t‖ per layer, direction and step, Lyapunov exponents, "
                "saturation and a diagnosis", _add, cmd_inspect),
}
