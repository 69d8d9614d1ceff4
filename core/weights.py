"""Reading a stranger's weights safely: a .safetensors file or a PyTorch state dict, bytes in memory only.

Nothing is ever unpickled beyond what `torch.load(weights_only=True)` allows (tensors, containers, numbers), and
everything is checked before any work: the size of the file, a safetensors header against the bytes that follow
it, the declared sizes of a zip archive's records, then the architecture read off the keys and shapes
(`weight_ih_l{k}`, `weight_hh_l{k}`, `bias_*`, `_reverse`, `weight_hr_l{k}`: 4H rows for an LSTM, 3H for a GRU, H
for a vanilla RNN) and every tensor's shape against it, and finally that every weight is finite. A whole model's
state dict (an embedding, an LSTM under `encoder.lstm.`, a head) is searched for recurrent groups; with more than
one, the caller picks one by its prefix. Every problem is one `WeightsError` whose message says what is wrong.
"""
from __future__ import annotations

import io
import json
import re
import struct
import zipfile
from dataclasses import dataclass

import numpy as np
import torch

from .errors import ConfigError
from .inspect import Architecture, architecture_of

MAX_FILE_MB = 64                     # the largest weights file read (the page's upload limit is the same)
MAX_FILE_BYTES = MAX_FILE_MB * 2**20
MAX_HEADER_BYTES = 2**24             # a safetensors header of 16 MB is far more than any recurrent net needs
MAX_LAYERS = 16
MAX_WIDTH = 8192                     # hidden, projection and input sizes
KEY = re.compile(r"^(?P<prefix>.*?)(?P<name>weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)_l(?P<layer>\d+)"
                 r"(?P<reverse>_reverse)?$")
CELL = {1: "rnn", 3: "gru", 4: "lstm"}
MODULE = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}


class WeightsError(ConfigError):
    """A weights file that cannot be inspected; the message says what is wrong with it."""

    def __init__(self, message: str):
        self.field, self.allowed, self.value = "weights", "a .safetensors file or a PyTorch state dict", None
        ValueError.__init__(self, message)


@dataclass(frozen=True)
class Group:
    """One recurrent module found in a state dict."""
    prefix: str                      # "" or e.g. "encoder.lstm."
    architecture: Architecture
    state_dict: dict                 # its tensors under torch's own names (prefix removed)


def _short(text: object, limit: int = 60) -> str:
    text = "".join(c if c.isprintable() else " " for c in str(text)).strip()
    return text if len(text) <= limit else text[:limit] + "…"


# ---- bytes -> tensors ----------------------------------------------------------------------------------------

def read_tensors(data: bytes) -> dict:
    """The tensors of a .safetensors file or a torch.save'd state dict (nested dicts flattened with dots)."""
    if len(data) == 0:
        raise WeightsError("the file is empty")
    if len(data) > MAX_FILE_BYTES:
        raise WeightsError(f"the file has {len(data) / 2**20:.0f} MB; at most {MAX_FILE_MB} MB are read")
    if data[:4] == b"PK\x03\x04" or data[:1] == b"\x80":
        return _flatten(_torch_load(data))
    if len(data) >= 9 and data[8:9] == b"{":
        return _safetensors(data)
    raise WeightsError("this is neither a .safetensors file nor a PyTorch state dict (torch.save)")


def _safetensors(data: bytes) -> dict:
    from safetensors.torch import load
    (declared,) = struct.unpack("<Q", data[:8])
    if declared > MAX_HEADER_BYTES:
        raise WeightsError(f"the safetensors header declares {declared} bytes; at most {MAX_HEADER_BYTES} are read")
    if 8 + declared > len(data):
        raise WeightsError(f"the safetensors header declares {declared} bytes but the file has only {len(data) - 8} "
                           f"after its length field (truncated or corrupt)")
    try:
        header = json.loads(data[8:8 + declared])
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise WeightsError("the safetensors header is not valid JSON (corrupt file)") from None
    if not isinstance(header, dict):
        raise WeightsError("the safetensors header is not a table of tensors (corrupt file)")
    body = len(data) - 8 - declared
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(isinstance(o, int) for o in offsets)
                or not 0 <= offsets[0] <= offsets[1] <= body):
            raise WeightsError(f"the safetensors header places tensor {_short(name)!r} outside the file "
                               f"(truncated or corrupt)")
    try:
        return load(bytes(data))
    except Exception as exc:          # SafetensorError and friends: one line, never a traceback
        raise WeightsError(f"the safetensors file is corrupt: {_short(exc, 120)}") from None


def _torch_load(data: bytes):
    if data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                declared = sum(info.file_size for info in archive.infolist())
        except (zipfile.BadZipFile, ValueError, OSError):
            raise WeightsError("the file looks like a PyTorch archive but is not a readable zip (corrupt)") from None
        if declared > 4 * MAX_FILE_BYTES:
            raise WeightsError(f"the archive declares {declared / 2**20:.0f} MB when unpacked; at most "
                               f"{4 * MAX_FILE_MB} MB are read")
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:
        if "weights_only" in str(exc) or "Unsupported global" in str(exc) or "Unpickler" in type(exc).__name__:
            raise WeightsError("the file holds Python objects other than tensors; it was not unpickled (only "
                               "state dicts of tensors are read, with torch.load(weights_only=True))") from None
        raise WeightsError(f"the PyTorch file could not be read: {_short(exc, 120)}") from None


def _flatten(obj, prefix: str = "", out: dict | None = None) -> dict:
    out = {} if out is None else out
    if isinstance(obj, torch.Tensor):
        out[prefix.rstrip(".")] = obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            _flatten(value, f"{prefix}{key}.", out)
    elif prefix == "":
        raise WeightsError(f"the file holds a {type(obj).__name__}, not a state dict of tensors")
    return out


# ---- tensors -> recurrent groups -----------------------------------------------------------------------------

def find_groups(tensors: dict, nonlinearity: str = "tanh") -> list:
    """Every recurrent module in a state dict, checked against the architecture its keys and shapes describe."""
    found: dict = {}
    for key, value in tensors.items():
        m = KEY.match(str(key))
        if m:
            found.setdefault(m["prefix"], {})[key[len(m["prefix"]):]] = value
    if not found:
        sample = ", ".join(_short(k, 30) for k in list(tensors)[:3]) or "none"
        raise WeightsError(f"no recurrent weights found: expected torch.nn.RNN/LSTM/GRU keys such as weight_ih_l0 "
                           f"and weight_hh_l0 ({len(tensors)} tensors in the file, e.g. {sample})")
    return [Group(prefix, _architecture(prefix, sd, nonlinearity), sd) for prefix, sd in sorted(found.items())]


def _shape(sd: dict, prefix: str, key: str) -> tuple:
    if key not in sd:
        raise WeightsError(f"{_short(prefix + key)} is missing")
    t = sd[key]
    if not t.is_floating_point():
        raise WeightsError(f"{_short(prefix + key)} holds {str(t.dtype).replace('torch.', '')}, not real numbers")
    return tuple(t.shape)


def _architecture(prefix: str, sd: dict, nonlinearity: str) -> Architecture:
    layers = sorted({int(m["layer"]) for k in sd if (m := KEY.match(k))})      # every key of a group matches
    if layers != list(range(len(layers))) or len(layers) > MAX_LAYERS:
        raise WeightsError(f"{_short(prefix) or 'the file'}: layers {layers[:8]} are not 0 to {len(layers) - 1} "
                           f"(at most {MAX_LAYERS})")
    bidirectional = any(k.endswith("_reverse") for k in sd)
    hh = _shape(sd, prefix, "weight_hh_l0")
    proj = "weight_hr_l0" in sd
    if len(hh) != 2:
        raise WeightsError(f"{_short(prefix)}weight_hh_l0 has shape {hh}; it must be a matrix")
    if proj:
        hr = _shape(sd, prefix, "weight_hr_l0")
        if len(hr) != 2 or hh[0] != 4 * hr[1] or hh[1] != hr[0] or hr[0] >= hr[1]:
            raise WeightsError(f"{_short(prefix)}weight_hr_l0 has shape {hr}, which does not fit weight_hh_l0 "
                               f"{hh} (an LSTM with projections: weight_hh (4H, P), weight_hr (P, H), P < H)")
        hidden, proj_size, gates = hr[1], hr[0], 4
    else:
        hidden, proj_size = hh[1], 0
        gates = hh[0] // hidden if hidden and hh[0] % hidden == 0 else 0
        if gates not in CELL:
            raise WeightsError(f"{_short(prefix)}weight_hh_l0 has shape {hh}: its rows must be 1, 3 or 4 times its "
                               f"columns (a vanilla RNN, a GRU or an LSTM)")
    kind = CELL[gates]
    ih0 = _shape(sd, prefix, "weight_ih_l0")
    if len(ih0) != 2 or not 0 < ih0[1] <= MAX_WIDTH or not 0 < hidden <= MAX_WIDTH:
        raise WeightsError(f"{_short(prefix)}weight_ih_l0 has shape {ih0}; sizes must be from 1 to {MAX_WIDTH}")
    bias = "bias_ih_l0" in sd
    arch = Architecture(kind=kind, num_layers=len(layers), input_size=ih0[1], hidden_size=hidden, proj_size=proj_size,
                        bidirectional=bidirectional, nonlinearity=nonlinearity if kind == "rnn" else
                        "sigmoid/tanh gates", bias=bias)
    expected = _expected_shapes(arch)
    for key in sorted(set(expected) | set(sd)):
        if key not in expected:
            raise WeightsError(f"{_short(prefix + key)} does not belong to a {_label(arch)}")
        if _shape(sd, prefix, key) != expected[key]:
            raise WeightsError(f"{_short(prefix + key)} has shape {tuple(sd[key].shape)} but a {_label(arch)} needs "
                               f"{expected[key]}")
    return arch


def _label(arch: Architecture) -> str:
    name = {"rnn": "vanilla RNN", "gru": "GRU", "lstm": "LSTM"}[arch.kind]
    extra = f", projection {arch.proj_size}" if arch.proj_size else ""
    return (f"{arch.num_layers}-layer {'bidirectional ' if arch.bidirectional else ''}{name} of input size "
            f"{arch.input_size}, hidden size {arch.hidden_size}{extra}")


def _expected_shapes(arch: Architecture) -> dict:
    rows, P = {"rnn": 1, "gru": 3, "lstm": 4}[arch.kind] * arch.hidden_size, arch.output_size
    shapes: dict[str, tuple[int, ...]] = {}
    for k in range(arch.num_layers):
        for sfx in ([f"_l{k}", f"_l{k}_reverse"] if arch.bidirectional else [f"_l{k}"]):
            shapes["weight_ih" + sfx] = (rows, arch.layer_input_size(k))
            shapes["weight_hh" + sfx] = (rows, P)
            if arch.bias:
                shapes["bias_ih" + sfx] = shapes["bias_hh" + sfx] = (rows,)
            if arch.proj_size:
                shapes["weight_hr" + sfx] = (arch.proj_size, arch.hidden_size)
    return shapes


def build_module(group: Group) -> torch.nn.Module:
    """The torch module of a group, with its weights (float16/bfloat16 read as float32); WeightsError when a
    weight is not finite."""
    for key, t in group.state_dict.items():
        if not torch.isfinite(t).all():
            raise WeightsError(f"{_short(group.prefix + key)} has entries that are not finite (NaN or inf)")
    arch = group.architecture
    dtype = next(iter(group.state_dict.values())).dtype
    dtype = dtype if dtype in (torch.float32, torch.float64) else torch.float32
    kwargs: dict[str, object] = {"proj_size": arch.proj_size} if arch.kind == "lstm" else {}
    if arch.kind == "rnn":
        kwargs["nonlinearity"] = arch.nonlinearity
    with torch.device("meta"):
        module = MODULE[arch.kind](arch.input_size, arch.hidden_size, arch.num_layers, bias=arch.bias,
                                   bidirectional=arch.bidirectional, **kwargs)
    module.load_state_dict({k: v.to(dtype) for k, v in group.state_dict.items()}, strict=True, assign=True)
    module.flatten_parameters()
    assert architecture_of(module) == arch
    return module


def load_module(data: bytes, prefix: str | None = None, nonlinearity: str = "tanh"):
    """(module, group) of the recurrent group `prefix` in a weights file's bytes (the only one when None)."""
    groups = find_groups(read_tensors(data), nonlinearity)
    if prefix is not None:
        wanted = [g for g in groups if g.prefix in (prefix, prefix + ".") or g.prefix.rstrip(".") == prefix]
        if not wanted:
            names = ", ".join(repr(g.prefix.rstrip(".")) for g in groups)
            raise WeightsError(f"no recurrent group {_short(prefix)!r} in the file; it has {names}")
        groups = wanted
    if len(groups) > 1:
        names = ", ".join(repr(g.prefix.rstrip(".")) for g in groups)
        raise WeightsError(f"the file holds {len(groups)} recurrent groups ({names}); choose one with --prefix")
    return build_module(groups[0]), groups[0]


def read_inputs(data: bytes) -> np.ndarray:
    """An input batch from a .npy file's bytes, never unpickled."""
    try:
        stream = io.BytesIO(data)
        version = np.lib.format.read_magic(stream)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(stream)
        if int(np.prod(shape, dtype=np.float64)) * dtype.itemsize > len(data):     # a header lying about its size
            raise ValueError(f"its header declares {shape} but the file is smaller")
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as exc:          # a pickle, a truncated or foreign file: one line
        raise ConfigError("inputs", "a .npy file of real numbers shaped (T, B, D)", str(exc)[:80]) from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "fiu":
        raise ConfigError("inputs", "a .npy file of real numbers shaped (T, B, D)", "not a numeric array")
    return array
