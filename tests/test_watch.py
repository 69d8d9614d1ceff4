"""core.watch in a real training loop: the recorded curves are the total derivatives of the user's own loss."""
import json

import numpy as np
import pytest
import torch
from test_inspect import H, reference_step

import core
from core.inspect import architecture_of


def user_loss(out, final, head, y):
    """A loss that reads both the last output and the final hidden state (both paths must be seeded)."""
    h_n = final[0] if isinstance(final, tuple) else final
    return ((head(out[-1]) - y) ** 2).mean() + 0.1 * (h_n ** 2).sum()


def reference(module, kind, x, head, y):
    """{(layer, direction): (‖∂loss/∂h_t‖ mean over batch, the same for c)}: the module's weights stepped cell by
    cell in float64 with retain_grad, the user's loss on top."""
    P = module.proj_size or H
    B = x.shape[1]
    inp, states, finals_h, finals_c = x, {}, [], []
    for layer in range(module.num_layers):
        outs = []
        for reverse in ([False, True] if module.bidirectional else [False]):
            sfx = f"_l{layer}" + ("_reverse" if reverse else "")
            w = {k: getattr(module, f"{name}{sfx}").detach().clone()
                 for k, name in (("ih", "weight_ih"), ("hh", "weight_hh"), ("bih", "bias_ih"), ("bhh", "bias_hh"))}
            if module.proj_size:
                w["hr"] = getattr(module, "weight_hr" + sfx).detach().clone()
            h = torch.zeros(B, P, dtype=torch.float64, requires_grad=True)
            c = torch.zeros(B, H, dtype=torch.float64, requires_grad=True)
            hs, cs = [None] * len(x), [None] * len(x)
            for t in (range(len(x) - 1, -1, -1) if reverse else range(len(x))):
                h, c = reference_step(module, kind, w, inp[t], h, c)
                h.retain_grad()
                hs[t] = h
                if c is not None:
                    c.retain_grad()
                    cs[t] = c
            finals_h.append(h)
            finals_c.append(c)
            states[(layer, "reverse" if reverse else "forward")] = (hs, cs)
            outs.append(torch.stack(hs))
        inp = torch.cat(outs, dim=-1)
    final = (torch.stack(finals_h), torch.stack(finals_c)) if kind.startswith("lstm") else torch.stack(finals_h)
    user_loss(inp, final, head, y).backward()
    curve = lambda ts: np.array([0.0 if s.grad is None else float(s.grad.norm(dim=-1).mean()) for s in ts])  # noqa
    return {k: (curve(hs), curve(cs) if cs[0] is not None else None) for k, (hs, cs) in states.items()}


@pytest.mark.parametrize("kind,make", [
    ("lstm_proj", lambda: torch.nn.LSTM(3, H, 2, proj_size=2, bidirectional=True)),
    ("gru", lambda: torch.nn.GRU(3, H, 2)),
    ("rnn_tanh", lambda: torch.nn.RNN(3, H, 1, bidirectional=True)),
])
def test_recorded_curves_are_the_total_derivatives_of_the_users_loss(tmp_path, kind, make):
    torch.manual_seed(0)
    module = make().double()
    width = (module.proj_size or H) * (2 if module.bidirectional else 1)
    head = torch.nn.Linear(width, 1).double()
    optimizer = torch.optim.SGD(list(module.parameters()) + list(head.parameters()), lr=0.1)
    gen = torch.Generator().manual_seed(1)
    expected, grad_norms, losses = {}, {}, {}
    with core.watch(module, every=3, path=tmp_path / "run.gfl") as w:
        for step in range(8):
            x = torch.randn(9, 2, 3, generator=gen, dtype=torch.float64)
            y = torch.randn(2, 1, generator=gen, dtype=torch.float64)
            if step % 3 == 0:
                expected[step] = reference(module, kind, x, head, y)
            out, final = module(x)
            loss = user_loss(out, final, head, y)
            optimizer.zero_grad()
            loss.backward()
            grad_norms[step] = float(torch.cat([p.grad.flatten() for p in module.parameters()]).norm())
            losses[step] = float(loss.detach())
            w.record_loss(loss)
            optimizer.step()
            with torch.no_grad():
                module.eval()
                module(x)                        # an evaluation pass: not a step
                module.train()
    header, records = core.read_watch(tmp_path / "run.gfl")
    assert header == {"format": "gfl-watch", "version": 1, "every": 3,
                      "architecture": architecture_of(module).to_dict()}
    assert [r["step"] for r in records] == [0, 3, 6]
    for r in records:
        assert r["loss"] == pytest.approx(losses[r["step"]]) and r["grad_norm"] == pytest.approx(grad_norms[r["step"]])
        for lf in r["layers"]:
            g, gc = expected[r["step"]][(lf["layer"], lf["direction"])]
            np.testing.assert_allclose(lf["grad_norm"], g, rtol=1e-6, atol=1e-300)
            if gc is not None:
                np.testing.assert_allclose(lf["cell_grad_norm"], gc, rtol=1e-6, atol=1e-300)
    assert all(p.grad is not None for p in module.parameters())        # the user's gradients are untouched


def test_the_file_is_strict_json_lines_and_hooks_are_removed(tmp_path):
    module = torch.nn.LSTM(2, 4, batch_first=True)
    w = core.watch(module, every=1, path=tmp_path / "run.gfl")
    out, _ = module(torch.randn(3, 6, 2))
    (out.sum() * float("inf")).backward()          # a blown-up seed: nulls in the file, not NaN
    w.close()
    text = (tmp_path / "run.gfl").read_text()
    for line in text.splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}"))
    _, records = core.read_watch(tmp_path / "run.gfl")
    assert len(records) == 1 and records[0]["seq_len"] == 6 and records[0]["batch"] == 3
    assert not module._forward_hooks
    module(torch.randn(3, 6, 2))[0].sum().backward()
    assert len(core.read_watch(tmp_path / "run.gfl")[1]) == 1


def test_bad_every_and_foreign_files(tmp_path):
    with pytest.raises(core.ConfigError, match="every must be an integer of at least 1"):
        core.watch(torch.nn.GRU(2, 3), every=0, path=tmp_path / "x.gfl")
    (tmp_path / "other.gfl").write_text('{"format": "something", "version": 9}\n')
    with pytest.raises(core.ConfigError, match="watch file must be a gfl-watch file of version 1"):
        core.read_watch(tmp_path / "other.gfl")
