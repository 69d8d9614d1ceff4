"""`python -m core inspect` as a user meets it, and a stranger's files: each bad one exits 2 with one `error:` line."""
import io
import json
import os
import pickle
import struct
import zipfile

import numpy as np
import pytest
import torch
from conftest import ROOT, run_cli
from safetensors.torch import save, save_file

import core
from core.__main__ import main
from core.weights import load_module

EXAMPLE = ROOT / "examples" / "adding_lstm.safetensors"


def cli(capsys, *args):
    """main() in this process (the same code path as the command), with its exit status, stdout and stderr."""
    status = main(["inspect", *map(str, args)])
    out = capsys.readouterr()
    return status, out.out, out.err


@pytest.fixture()
def lstm_file(tmp_path):
    torch.manual_seed(0)
    module = torch.nn.LSTM(3, 6, 2, bidirectional=True)
    path = tmp_path / "lstm.safetensors"
    save_file(dict(module.state_dict()), path)
    return path


def test_json_has_the_contract_keys_and_equals_the_api(capsys, lstm_file):
    status, out, err = cli(capsys, lstm_file, "--seq-len", 20, "--batch", 3, "--loss-on", "all", "--json")
    assert status == 0, err
    data = json.loads(out, parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}"))
    assert set(data) >= {"architecture", "layers", "lyapunov", "saturation", "diagnosis", "config"}
    assert data["architecture"] == {"kind": "lstm", "num_layers": 2, "input_size": 3, "hidden_size": 6,
                                    "proj_size": 0, "bidirectional": True, "nonlinearity": "sigmoid/tanh gates",
                                    "bias": True, "batch_first": False}
    assert [(lf["layer"], lf["direction"]) for lf in data["layers"]] == [(0, "forward"), (0, "reverse"),
                                                                         (1, "forward"), (1, "reverse")]
    for lf in data["layers"]:
        assert set(lf) == {"layer", "direction", "grad_norm", "cell_grad_norm", "rate", "regime", "lambda1"}
        assert len(lf["grad_norm"]) == 20 and len(lf["cell_grad_norm"]) == 20
    module, _ = load_module(lstm_file.read_bytes())
    api = core.inspect(module, seq_len=20, batch=3, loss_on="all")
    assert data["layers"] == [lf.to_json_dict() for lf in api.layers]
    assert data["lyapunov"] == pytest.approx(api.lyapunov.tolist())
    assert data["diagnosis"] == [f.to_json_dict() for f in api.diagnosis]
    assert data["config"]["seq_len"] == 20 and data["config"]["loss_on"] == "all"


def test_a_whole_model_is_searched_and_prefix_picks_the_group(capsys, tmp_path):
    model = torch.nn.Module()
    model.embed = torch.nn.Embedding(10, 4)
    model.encoder = torch.nn.Module()
    model.encoder.lstm = torch.nn.LSTM(4, 8, 2, proj_size=3)
    model.decoder = torch.nn.GRU(3, 5)
    model.head = torch.nn.Linear(5, 1)
    path = tmp_path / "model.pt"
    torch.save({"state_dict": model.state_dict(), "epoch": 7}, path)
    status, _, err = cli(capsys, path)
    assert status == 2 and err == ("error: the file holds 2 recurrent groups ('state_dict.decoder', "
                                   "'state_dict.encoder.lstm'); "
                                   "choose one with --prefix\n")
    status, out, err = cli(capsys, path, "--prefix", "state_dict.encoder.lstm", "--seq-len", 15, "--json")
    assert status == 0, err
    data = json.loads(out)
    assert data["architecture"]["proj_size"] == 3 and data["architecture"]["num_layers"] == 2
    assert data["config"]["prefix"] == "state_dict.encoder.lstm"
    status, out, _ = cli(capsys, path, "--prefix", "state_dict.decoder", "--seq-len", 15)
    assert status == 0 and "1-layer GRU input 3, hidden 5" in out and "diagnosis:" in out


def test_inputs_from_npy(capsys, tmp_path, lstm_file):
    x = np.random.default_rng(0).standard_normal((12, 2, 3))
    np.save(tmp_path / "x.npy", x)
    status, out, err = cli(capsys, lstm_file, "--inputs", tmp_path / "x.npy", "--json")
    assert status == 0, err
    data = json.loads(out)
    assert data["config"]["inputs"] == "given" and data["config"]["seq_len"] == 12 and data["config"]["batch"] == 2
    np.save(tmp_path / "bad.npy", np.zeros((12, 2, 4)))
    status, _, err = cli(capsys, lstm_file, "--inputs", tmp_path / "bad.npy")
    assert status == 2 and err.startswith("error: --inputs must be an array of shape (T, B, D) with D = 3")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    status, _, err = cli(capsys, lstm_file, "--inputs", tmp_path / "obj.npy")
    assert status == 2 and err.startswith("error: --inputs must be a .npy file") and err.count("\n") == 1
    lying = (tmp_path / "x.npy").read_bytes().replace(b"(12, 2, 3)", b"(99999, 9999, 3)")
    (tmp_path / "lying.npy").write_bytes(lying)
    status, _, err = cli(capsys, lstm_file, "--inputs", tmp_path / "lying.npy")
    assert status == 2 and "its header declares (99999, 9999, 3)" in err and err.count("\n") == 1


def test_a_vanilla_rnn_takes_its_nonlinearity_from_the_flag(capsys, tmp_path):
    module = torch.nn.RNN(3, 4, nonlinearity="relu")
    save_file(dict(module.state_dict()), tmp_path / "rnn.safetensors")
    status, out, _ = cli(capsys, tmp_path / "rnn.safetensors", "--nonlinearity", "relu", "--seq-len", 10, "--json")
    assert status == 0 and json.loads(out)["architecture"]["nonlinearity"] == "relu"
    expected = core.inspect(module, seq_len=10)
    assert json.loads(out)["layers"][0]["grad_norm"] == pytest.approx(expected.layers[0].grad_norm.tolist())
    status, _, err = cli(capsys, tmp_path / "rnn.safetensors", "--nonlinearity", "sigmoid")
    assert status == 2 and err == "error: --nonlinearity must be one of tanh, relu, got 'sigmoid'\n"


def _safetensors_bytes(tensors):
    return save({k: v.contiguous() for k, v in tensors.items()})


def _lying_header():
    data = bytearray(_safetensors_bytes(dict(torch.nn.GRU(2, 3).state_dict())))
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header["weight_hh_l0"]["data_offsets"][1] += 10_000           # a tensor reaching past the end of the file
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + bytes(data[8 + n:])


def _wrong_shape_gru():
    sd = dict(torch.nn.GRU(2, 3, 2).state_dict())
    sd["weight_ih_l1"] = torch.zeros(9, 4)
    return _safetensors_bytes(sd)


def _nan_weights():
    sd = dict(torch.nn.LSTM(2, 3).state_dict())
    sd["weight_hh_l0"][1, 1] = float("nan")
    return _safetensors_bytes(sd)


def _torch_saved(obj):
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _inf_weights():
    sd = dict(torch.nn.RNN(2, 3).state_dict())
    sd["bias_ih_l0"][0] = float("inf")
    buffer = io.BytesIO()
    torch.save(sd, buffer)
    return buffer.getvalue()


def _cnn():
    cnn = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Conv2d(8, 4, 3))
    return _safetensors_bytes(dict(cnn.state_dict()))


def _zip_bomb():
    """A small zip whose central directory declares 300 MB unpacked (as a deflated bomb would)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", b"\0" * 1000)
    data = bytearray(buffer.getvalue())
    at = data.index(b"PK\x01\x02")                 # the central directory entry: uncompressed size at +24
    data[at + 24:at + 28] = struct.pack("<I", 300 * 2**20)
    return bytes(data)


BAD_FILES = {   # name -> (its bytes, the message's start)
    "empty": (lambda: b"", "error: the file is empty"),
    "random bytes": (lambda: np.random.default_rng(1).bytes(4096), "error: this is neither a .safetensors file nor"),
    "random bytes that look like a header": (
        lambda: struct.pack("<Q", 100) + b"{" + np.random.default_rng(2).bytes(200),
        "error: the safetensors header is not valid JSON"),
    "lying header": (_lying_header, "error: the safetensors header places tensor 'weight_hh_l0' outside the file"),
    "truncated": (lambda: _safetensors_bytes(dict(torch.nn.GRU(2, 3).state_dict()))[:-7],
                  "error: the safetensors header places tensor"),
    "huge header": (lambda: struct.pack("<Q", 2 * 2**30) + b"{" + b" " * 64,
                    "error: the safetensors header declares 2147483648 bytes; at most 16777216 are read"),
    "header longer than the file": (lambda: struct.pack("<Q", 5000) + b"{}",
                                    "error: the safetensors header declares 5000 bytes but the file has only 2"),
    "nan weights": (_nan_weights, "error: weight_hh_l0 has entries that are not finite (NaN or inf)"),
    "inf weights": (_inf_weights, "error: bias_ih_l0 has entries that are not finite (NaN or inf)"),
    "wrong-shaped GRU tensor": (_wrong_shape_gru, "error: weight_ih_l1 has shape (9, 4) but a 2-layer GRU of "
                                                  "input size 2, hidden size 3 needs (9, 3)"),
    "cnn": (_cnn, "error: no recurrent weights found: expected torch.nn.RNN/LSTM/GRU keys"),
    "zip bomb": (_zip_bomb, "error: the archive declares 300 MB when unpacked; at most 256 MB are read"),
    "not a dict": (lambda: _torch_saved([1, 2, 3]), "error: the file holds a list, not a state dict"),
    "a pickle, not torch.save": (lambda: pickle.dumps({"w": 1}, protocol=2),
                                 "error: the PyTorch file could not be read: Invalid magic number"),
}


@pytest.mark.parametrize("name", BAD_FILES)
def test_a_bad_file_gets_one_line_and_status_2(capsys, tmp_path, name):
    make_bytes, message = BAD_FILES[name]
    path = tmp_path / "upload.bin"
    path.write_bytes(make_bytes())
    status, out, err = cli(capsys, path)
    assert status == 2 and out == ""
    assert err.startswith(message) and err.count("\n") == 1 and "Traceback" not in err, err


class RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("how", ["torch.save", "pickle"])
def test_a_pickle_that_would_run_code_is_not_run(tmp_path, how):
    marker = tmp_path / "pwned"
    payload = {"weight_ih_l0": torch.zeros(4, 2), "evil": RunsCode(marker)}
    path = tmp_path / "evil.pt"
    if how == "torch.save":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=2))
    out = run_cli("inspect", str(path))
    assert out.returncode == 2 and not marker.exists()
    assert out.stderr.startswith("error: the file holds Python objects other than tensors; it was not unpickled")
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


def test_a_file_over_the_limit_is_refused_before_it_is_read(capsys, tmp_path):
    path = tmp_path / "big.safetensors"
    with open(path, "wb") as f:
        f.truncate(65 * 2**20)                       # sparse: no disk space used
    status, _, err = cli(capsys, path)
    assert status == 2 and err == "error: WEIGHTS: the file has 65 MB; at most 64 MB are read\n"


def test_budget_is_checked_before_the_work(capsys, lstm_file):
    status, _, err = cli(capsys, lstm_file, "--seq-len", 10000, "--batch", 1024)
    assert status == 2 and err.startswith("error: this inspect is too big: it would need about")


def test_bad_flags(capsys, lstm_file, tmp_path):
    status, _, err = cli(capsys, lstm_file, "--loss-on", "first")
    assert status == 2 and err == "error: --loss-on must be one of last, all, got 'first'\n"
    status, _, err = cli(capsys, tmp_path / "missing.safetensors")
    assert status == 2 and err.startswith("error: WEIGHTS: cannot read") and err.count("\n") == 1


def test_the_shipped_example_through_the_command():
    out = run_cli("inspect", str(EXAMPLE), "--seq-len", "50", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["architecture"]["kind"] == "lstm" and data["architecture"]["num_layers"] == 2
    assert len(data["layers"]) == 2 and all(len(lf["grad_norm"]) == 50 for lf in data["layers"])
