"""The "Your network" page through AppTest: the shipped example, uploads good and bad, groups, inputs, the URL."""
import io
import json

import numpy as np
import pytest
import torch
from conftest import open_page, values
from safetensors.torch import save

import core
from core.weights import load_module
from ui import inspect_figs
from ui.inspect_controls import EXAMPLE, EXAMPLE_INPUTS

PAGE = "app_pages/your_network.py"


def figures(at):
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def upload(at, data, name="weights.safetensors", key="network_upload"):
    uploader = next(u for u in at.get("file_uploader") if u.proto.id and key in u.proto.id)
    uploader.upload(name, data).run()
    assert not at.exception, at.exception
    return at


def test_the_shipped_example_shows_every_layer_and_its_numbers():
    at = open_page(PAGE, seq_len="60")
    figs = figures(at)
    names = [t["name"] for t in figs[0]["data"]]
    assert names == ["layer 0", "layer 1"]
    module, _ = load_module(EXAMPLE.read_bytes())
    res = core.inspect(module, seq_len=60)
    assert figs[0]["data"][1]["y"][-1] == pytest.approx(res.layers[1].grad_norm[-1])
    assert figs[1]["data"][0]["type"] == "heatmap" and figs[1]["data"][0]["y"] == ["layer 0", "layer 1"]
    diagnosis = next(d.value for d in at.dataframe if "finding" in d.value.columns)    # (charts have data tables)
    texts = list(diagnosis["finding"])
    assert texts == [f.text for f in res.diagnosis]
    assert len(figs) == 4                         # curves, heatmap, cell-state curves, Lyapunov
    assert not at.error


def test_an_upload_with_two_groups_picks_one_and_a_bad_upload_gets_one_line():
    at = open_page(PAGE, source="upload")
    assert at.info and not at.get("plotly_chart")
    sd = {"enc.weight_ih_l0": torch.randn(12, 3), "enc.weight_hh_l0": torch.randn(12, 4),
          "enc.bias_ih_l0": torch.zeros(12), "enc.bias_hh_l0": torch.zeros(12)}
    sd.update({f"dec.{k}": v for k, v in torch.nn.RNN(2, 5).state_dict().items()})
    upload(at, save(sd), "model.safetensors")
    assert at.selectbox(key="network_group").options == ["dec", "enc"]
    assert [t["name"] for t in figures(at)[0]["data"]] == ["layer 0"]
    at.selectbox(key="network_group").set_value("enc").run()
    res = core.inspect(load_module(save(sd), "enc")[0])
    assert any("1-layer GRU: input size 3, hidden size 4" in m.value for m in at.markdown)
    assert figures(at)[0]["data"][0]["y"][-1] == pytest.approx(res.layers[0].grad_norm[-1])
    # a bad file: one line, the page keeps working
    at.get("file_uploader")[0].set_value(("evil.pt", b"\x80\x02crandom\nbytes\n", "application/octet-stream")).run()
    assert not at.exception and len(at.error) == 1 and not at.get("plotly_chart")
    assert at.error[0].value.startswith("Cannot inspect ` evil.pt `: the file holds Python objects other than tensors")
    at.radio(key="network__source").set_value("example").run()
    assert not at.error and len(figures(at)) == 4


@pytest.mark.parametrize("data,fragment", [
    (b"", "the file is empty"),
    (b"\x08\x00\x00\x00\x00\x00\x00\x80{" + b" " * 16, "the safetensors header declares"),
    (save({"conv.weight": torch.zeros(4, 3, 3, 3)}), "no recurrent weights found"),
])
def test_bad_uploads(data, fragment):
    at = open_page(PAGE, source="upload")
    upload(at, data, "x.safetensors")
    assert len(at.error) == 1 and fragment in at.error[0].value and not at.get("plotly_chart")


def test_input_batches_from_the_example_and_an_upload():
    at = open_page(PAGE, inputs="adding")
    res = core.inspect(load_module(EXAMPLE.read_bytes())[0], np.load(EXAMPLE_INPUTS))
    assert figures(at)[0]["data"][0]["y"][0] == pytest.approx(res.layers[0].grad_norm[0])
    at = open_page(PAGE, inputs="upload")
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((20, 2, 3)))                      # D = 3, the example reads D = 2
    upload(at, buffer.getvalue(), "x.npy", key="network_inputs")
    assert len(at.error) == 1 and "inputs must be an array of shape (T, B, D) with D = 2" in at.error[0].value
    buffer = io.BytesIO()
    np.save(buffer, np.random.default_rng(0).standard_normal((20, 2, 2)))
    at.get("file_uploader")[0].set_value(("x.npy", buffer.getvalue(), "application/octet-stream")).run()
    assert not at.error and len(values(figures(at)[0]["data"][0]["x"])) == 20


def test_settings_go_into_the_link_and_bad_values_warn():
    at = open_page(PAGE, seq_len="40", loss_on="all", seed="3", batch="999")
    assert at.slider(key="network__seq_len").value == 40 and at.radio(key="network__loss_on").value == "all"
    assert any("batch must be an integer from 1 to 64" in w.value for w in at.warning)
    at.slider(key="network__seq_len").set_value(30).run()
    assert at.query_params["seq_len"] in ("30", ["30"])


def test_figure_builders_directly():
    module = torch.nn.GRU(3, 4, 2, bidirectional=True)
    res = core.inspect(module, seq_len=900, batch=2)
    fig = inspect_figs.heatmap_figure(res)
    assert fig.data[0].z.shape == (4, 300) and list(fig.data[0].y) == ["layer 0", "layer 0 reverse", "layer 1",
                                                                        "layer 1 reverse"]
    curves = inspect_figs.curves_figure(res)
    assert [t.line.dash for t in curves.data] == ["solid", "dash", "solid", "dash"]
    assert inspect_figs.curves_figure(res, cell_state=True).data == ()
    rows = inspect_figs.diagnosis_rows(res)
    assert [r["finding"] for r in rows] == [f.text for f in res.diagnosis]


def test_the_example_ships_in_the_image():
    from test_deploy import docker_ignores
    for path in (EXAMPLE, EXAMPLE_INPUTS):
        assert path.exists() and not docker_ignores(path.relative_to(EXAMPLE.parents[1]).as_posix())
    assert EXAMPLE.stat().st_size < 200_000


def test_replay_the_example_run_and_a_bad_watch_file():
    from ui.inspect_controls import EXAMPLE_RUN
    header, records = core.read_watch(EXAMPLE_RUN)
    at = open_page(PAGE, view="replay")
    figs = figures(at)
    assert len(figs) == 1 + 2                   # loss and gradient norm, one heatmap per layer
    assert values(figs[0]["data"][0]["x"]) == [r["step"] for r in records]
    heat = figs[2]["data"][0]
    assert heat["type"] == "heatmap" and values(heat["x"]) == [r["step"] for r in records]
    z0 = heat["z"][0][0] if isinstance(heat["z"], list) else None
    if z0 is not None:
        top = next(lf for lf in records[0]["layers"] if lf["layer"] == 1)
        assert z0 == pytest.approx(np.log10(top["grad_norm"][-1]))
    assert any(f"{len(records)} recorded steps" in m.value for m in at.markdown)
    at.radio(key="network__run").set_value("upload").run()
    upload(at, b'{"format": "other", "version": 3}\n', "run.gfl", key="network_watch")
    assert len(at.error) == 1 and "watch file must be a gfl-watch file of version 1" in at.error[0].value
    at.radio(key="network__view").set_value("inspect").run()
    assert not at.error and len(figures(at)) == 4
