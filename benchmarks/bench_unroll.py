"""The probe of every cell against a plain forward + backward of the same shape, same process, alternating.

Run: .venv/bin/python benchmarks/bench_unroll.py
"curves" is the cell's probe (every ∂L/∂h_t, and ∂L/∂c_t for the LSTM, plus the weight gradients); "whole
unroll" is core.unroll (the probe plus norms, theory line, Lyapunov exponents, spectrum, clipping).
Targets: vanilla RNN vs nn.RNN <= 1.1 (B32 H128 T1000) and <= 1.3 (B1 H64 T1000) (issue #2); LSTM vs the
fused nn.LSTM <= 1.3, GRU vs nn.GRU <= 1.0, LRU and minGRU vs a plain autograd loop <= 1.2 (issue #9).
For scale it also times the naive method (one backward pass per distance) on a shorter sequence.
"""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import core  # noqa: E402
from harness.timing import median_time, median_times  # noqa: E402


def naive_per_distance(batch, hidden, seq_len):
    """One backward pass per distance (quadratic in T): the approach the engine avoids."""
    torch.manual_seed(0)
    cell = torch.nn.RNNCell(hidden, hidden)
    x = torch.randn(seq_len, batch, hidden)
    v = torch.randn(hidden)

    def run():
        h = torch.zeros(batch, hidden)
        states = []
        for t in range(seq_len):
            h = cell(x[t], h)
            states.append(h)
        loss = (h @ v).sum()
        for s in states:
            torch.autograd.grad(loss, s, retain_graph=True)
    return run


def plain_module(kind, batch, hidden, seq_len):
    """torch's own layer (nn.LSTM runs oneDNN's fused kernel on CPU), forward with autograd, loss on the last
    step, backward: what the probe is measured against."""
    torch.manual_seed(0)
    layer = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](hidden, hidden)
    x = torch.randn(seq_len, batch, hidden)
    v = torch.randn(hidden)

    def run():
        out, _ = layer(x)
        (out[-1] @ v).sum().backward()
    return run


def plain_autograd(cell, batch, hidden, seq_len):
    """The same cell written the plain way: one autograd step per time step, loss on the last one, backward."""
    from core.cells import lru, mingru
    cfg = core.UnrollConfig(cell=cell, batch=batch, hidden=hidden, seq_len=seq_len)
    net, x, h0, v = core.probe.build(cfg)
    params = {k: t.clone().requires_grad_() for k, t in net.params.items()}

    def run():
        if cell == "lru":
            lam, gam = lru.eigenvalues(params), lru.gamma(params, net.options["normalize"])
            drive = gam * torch.einsum("hd,tbd->tbh", torch.complex(params["B_re"], params["B_im"]), x.to(lam.dtype))
            h = h0.to(lam.dtype)
            for t in range(seq_len):
                h = lam * h + drive[t]
            loss = (h.real @ v).sum()
        else:
            z, candidate = mingru.gates(params, x)
            h = h0
            for t in range(seq_len):
                h = (1 - z[t]) * h + z[t] * candidate[t]
            loss = (h @ v).sum()
        loss.backward()
    return run


def main():
    core.configure_threads()
    print(f"torch threads: {torch.get_num_threads()} (the app's policy); medians of alternating runs")
    shapes = [(8, 64, 100), (1, 64, 1000), (32, 128, 1000)]
    targets = {"rnn": {(32, 128, 1000): 1.1, (1, 64, 1000): 1.3}, "lstm": 1.3, "gru": 1.0, "lru": 1.2, "mingru": 1.2}
    for cell in ("rnn", "lstm", "gru", "lru", "mingru"):
        for batch, hidden, seq_len in shapes:
            cfg = core.UnrollConfig(cell=cell, batch=batch, hidden=hidden, seq_len=seq_len)
            net, x, h0, v = core.probe.build(cfg)
            spec = core.cells.CELLS[cell]
            baseline = (plain_module(cell, batch, hidden, seq_len) if cell in ("rnn", "lstm", "gru")
                        else plain_autograd(cell, batch, hidden, seq_len))
            name = {"rnn": "nn.RNN", "lstm": "nn.LSTM (fused)", "gru": "nn.GRU"}.get(cell, "plain autograd")
            slow_baseline = cell in ("lru", "mingru") and batch * seq_len >= 32_000    # 10-20 s per autograd loop
            repeats = 3 if slow_baseline else 15 if seq_len <= 100 or batch == 1 else 7
            probe, plain = median_times([lambda: spec.probe(net, x, h0, v, "last"), baseline], repeats)
            whole = median_time(lambda: core.unroll(cfg), max(3, repeats // 3))
            plain2 = plain
            target = targets[cell]
            target = target.get((batch, hidden, seq_len)) if isinstance(target, dict) else target
            ratio = probe / plain
            verdict = "" if target is None else (" ok" if ratio <= target else f" ABOVE TARGET {target}")
            print(f"{cell:6s} B{batch:<3d} H{hidden:<4d} T{seq_len:<5d} vs {name:16s} fwd+bwd {plain * 1e3:7.1f} ms: "
                  f"curves {probe * 1e3:7.1f} ms = {ratio:5.2f}x"
                  + (f" (target <= {target}){verdict}" if target else "")
                  + f"; whole unroll (theory, Lyapunov, clipping) {whole * 1e3:7.1f} ms = {whole / plain2:5.2f}x",
                  flush=True)
    naive = median_time(naive_per_distance(8, 64, 300), 1)
    engine = median_time(lambda: core.unroll(core.UnrollConfig(batch=8, hidden=64, seq_len=300)), 3)
    print(f"naive one-backward-per-distance at T 300: {naive * 1e3:.0f} ms, engine {engine * 1e3:.1f} ms, "
          f"naive/engine {naive / engine:.0f}x")


if __name__ == "__main__":
    main()
