"""Watch a real training run: ‖∂L/∂h_t‖ of every layer and direction of a torch.nn.RNN/LSTM/GRU, for the user's own
loss, every `every` steps of the user's own training loop, written to a small versioned file.

    with core.watch(lstm, every=50, path="run.gfl") as w:
        for x, y in batches:
            out, _ = lstm(x)
            loss = criterion(head(out[-1]), y)
            optimizer.zero_grad(); loss.backward(); optimizer.step()
            w.record_loss(loss)                       # optional: the loss goes into the file too

A step is one forward call of the module in training mode with gradients enabled. On a recorded step the watch
keeps the inputs, the initial state and a copy of the weights, and hooks the module's outputs: the user's own
backward pass hands it ∂loss/∂output_t for every step (and ∂loss/∂h_n, ∂loss/∂c_n where the loss reads the final
states). Before the next step (or at close) it back-propagates that seed by core/inspect.py's hand-written backward
pass over the same weights and inputs (the forward pass in the module's dtype, the backward pass summed in
float64), which yields the total derivative on every state of every layer, and appends one record.
The norm of the module's parameter gradient of that step (before any clipping) comes from a hook that fires when
the backward pass has computed it. Nothing of the user's computation changes: no tensor is modified, no gradient
is added to a parameter.

File format "gfl-watch", version 1: JSON lines (strict JSON, non-finite numbers as null). The first line is the
header {"format": "gfl-watch", "version": 1, "every", "architecture": {...}}; every further line is one record
{"step", "loss" (null unless record_loss was called), "grad_norm" (‖∂loss/∂θ‖ of the module's parameters),
"seq_len", "batch", "layers": [{"layer", "direction", "grad_norm": [T numbers, t in time order],
"cell_grad_norm": [...] or null}]}. Records are flushed one by one, so a run that crashes keeps what it recorded.
`read_watch(path)` reads a file back (and refuses other formats or versions).
"""
from __future__ import annotations

import json
import math
import types

import torch

from .errors import ConfigError
from .inspect import Architecture, _norm_curve, _weights, architecture_of, backprop
from .jsonsafe import strict
from .norms import total_norm

FORMAT, VERSION = "gfl-watch", 1


def _finite(v):
    return v if isinstance(v, (int, str)) or v is None or math.isfinite(v) else None


class Watch:
    """The handle core.watch returns: a context manager, or call .close() yourself."""

    def __init__(self, module, every: int = 50, path: str = "run.gfl"):
        self.arch: Architecture = architecture_of(module)
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ConfigError("every", "an integer of at least 1", every)
        self.module, self.every, self.path = module, every, path
        self.steps = 0                     # forward calls in training mode seen so far
        self.records = 0
        self._pending: dict | None = None  # the recorded step waiting for its backward pass
        self._loss: float | None = None
        self._file = open(path, "w", encoding="utf-8")
        self._write({"format": FORMAT, "version": VERSION, "every": every, "architecture": self.arch.to_dict()})
        params = [p for p in module.parameters() if p.requires_grad]
        self._hooks = [module.register_forward_hook(self._after_forward)]
        if params:
            self._hooks.append(torch.autograd.graph.register_multi_grad_hook(params, self._param_grads, mode="all"))

    # -- hooks ------------------------------------------------------------------------------------------------
    def _after_forward(self, module, args, output):
        if not (module.training and torch.is_grad_enabled()):
            return
        self._flush_pending()
        step, self.steps = self.steps, self.steps + 1
        x = args[0] if args else None
        if step % self.every or not isinstance(x, torch.Tensor) or not isinstance(output[0], torch.Tensor):
            return                           # not a recorded step, or a PackedSequence (not recorded)
        hx = args[1] if len(args) > 1 else None
        pending = {"step": step, "x": x.detach(), "hx": _detach(hx), "seeds": {}, "grad_norm": None,
                   "weights": types.SimpleNamespace(**{n: p.detach().clone() for n, p in module.named_parameters()})}
        out, final = output
        tensors = {"out": out}
        if isinstance(final, tuple):
            tensors.update(h_n=final[0], c_n=final[1])
        else:
            tensors["h_n"] = final
        for name, tensor in tensors.items():
            if tensor.requires_grad:
                tensor.register_hook(lambda g, name=name: pending["seeds"].__setitem__(name, g.detach()))
        self._pending = pending

    def _param_grads(self, grads):
        if self._pending is not None and self._pending["grad_norm"] is None:
            self._pending["grad_norm"] = total_norm(g for g in grads if g is not None)

    # -- records ----------------------------------------------------------------------------------------------
    def record_loss(self, loss) -> None:
        """The loss of the latest step, for the file (optional)."""
        self._loss = float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)
        if self._pending is not None:
            self._pending["loss"] = self._loss

    def _flush_pending(self) -> None:
        pending, self._pending = self._pending, None
        if pending is None or not pending["seeds"]:
            return                           # the step had no backward pass reaching the module
        self._write(self._record(pending))
        self.records += 1

    def _record(self, p: dict) -> dict:
        arch = self.arch
        x = p["x"]              # in the module's dtype, as the user's own backward pass (it runs every `every` steps)
        unbatched = x.dim() == 2
        if unbatched:                        # an unbatched sequence (T, D)
            x = x.unsqueeze(1)
        elif arch.batch_first:
            x = x.transpose(0, 1)
        x = x.to("cpu")
        T, B = x.shape[0], x.shape[1]
        dtype = x.dtype
        weights = [_weights(p["weights"], arch, layer, reverse, dtype, "cpu") for layer in range(arch.num_layers)
                   for reverse in ([False, True] if arch.bidirectional else [False])]
        given = {name: (g.unsqueeze(1) if unbatched and name != "out" else g).to("cpu")
                 for name, g in p["seeds"].items()}
        top_seed = torch.zeros(T, B, arch.output_size * arch.directions, dtype=torch.float64)
        if "out" in given:
            g = given["out"]
            top_seed[:] = g.unsqueeze(1) if unbatched else g.transpose(0, 1) if arch.batch_first else g
        final = (given.get("h_n"), given.get("c_n")) if {"h_n", "c_n"} & set(given) else None
        runs = backprop(arch, weights, x, top_seed, _initial(arch, p["hx"], unbatched),
                        backward_dtype=torch.float64, final_seeds=final)
        layers = [{"layer": run.layer, "direction": run.direction, "grad_norm": _norm_curve(run.g).tolist(),
                   "cell_grad_norm": _norm_curve(run.gc).tolist() if run.gc is not None else None} for run in runs]
        return {"step": p["step"], "loss": p.get("loss"), "grad_norm": p["grad_norm"], "seq_len": T,
                "batch": B, "layers": layers}

    def _write(self, obj) -> None:
        self._file.write(json.dumps(strict(obj), allow_nan=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        """Write the last recorded step, remove the hooks and close the file."""
        if self._file.closed:
            return
        self._flush_pending()
        for hook in self._hooks:
            hook.remove()
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _detach(hx):
    if hx is None:
        return None
    if isinstance(hx, tuple):
        return tuple(h.detach() for h in hx)
    return hx.detach()


def _initial(arch, hx, unbatched: bool):
    """The user's initial state in the (h0, c0) layout backprop takes, or None for zeros."""
    if hx is None:
        return None
    h0, c0 = hx if isinstance(hx, tuple) else (hx, None)
    if unbatched:
        h0, c0 = h0.unsqueeze(1), None if c0 is None else c0.unsqueeze(1)
    return h0, c0


def watch(module, every: int = 50, path: str = "run.gfl") -> Watch:
    """Record ‖∂loss/∂h_t‖ of every layer and direction of `module` every `every` training steps into `path`
    (see the module docstring for the file format). Returns the handle: use it in a `with` block or call close()."""
    return Watch(module, every, path)


def read_watch(path_or_bytes) -> tuple[dict, list]:
    """(header, records) of a watch file (a path, or its bytes); ConfigError for another format or version."""
    data = path_or_bytes if isinstance(path_or_bytes, (bytes, bytearray)) else open(path_or_bytes, "rb").read()
    try:
        lines = [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ConfigError("watch file", f"a {FORMAT} file (JSON lines)", "unreadable text") from None
    header = lines[0] if lines and isinstance(lines[0], dict) else {}
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise ConfigError("watch file", f"a {FORMAT} file of version {VERSION}",
                          f"{header.get('format')} {header.get('version')}")
    return header, lines[1:]
