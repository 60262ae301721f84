"""Which of the MLP's operations give other bits on another number of torch threads, with and
without Intel MKL's strict reproducibility mode (``MKL_CBWR``).

Run from the repository root (about a minute on 2 cores):

    python benchmarks/mlp_threads.py [--modes off AUTO,STRICT]

For each mode the script runs itself in a fresh interpreter with ``MKL_CBWR`` set so (``off``:
unset; MKL reads it at its first computation) and, on 1, 2 and 4 torch threads in turn
(``torch.set_num_threads``; 4 on a 2-core machine still splits MKL's work in four), computes

- the MLP's matrix products at its shapes: ``D x hidden`` layers (16 x 64, 64 x 256,
  2,048 x 2,048) on batches of 1-70, 127-129, 300, 1,000 and 8,192 rows: the first layer forward
  (``addmm``, MKL ``sgemm``), the second (``hidden -> 1``), and the backward products (the
  weights' gradients and the hidden layer's);
- torch's own sums: the bias gradient (a column sum) and the mean BCE loss over 8,192 to
  1,000,000 values (torch splits a sum of more than 32,768 values between its threads);
- fits with :func:`polface.models.mlp.fit_mlp` (seeded synthetic data, batches of 64 whose last
  has 5 or 6 rows, 3 epochs) and their predictions (:func:`polface.models.mlp.predict_mlp`);

and prints, per mode, the items whose bytes differ between thread counts (``=x=``: 2 threads
differ from 1, 4 agree with 1). Results go to benchmarks/out/mlp_threads.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
THREADS = (1, 2, 4)
LAYERS = ((16, 64), (64, 256), (2048, 2048))
ROWS = (*range(1, 71), 127, 128, 129, 300, 1000, 8192)


def digest(array) -> str:
    data = array.detach().contiguous().numpy() if hasattr(array, "detach") else array
    return hashlib.sha1(np.ascontiguousarray(data).tobytes()).hexdigest()[:12]


def products(torch) -> dict[str, str]:
    out = {}
    for d, hidden in LAYERS:
        for n in ROWS:
            if d * hidden * n > 2**31:
                continue
            gen = torch.Generator().manual_seed(n * 7919 + d)
            X = torch.randn(n, d, generator=gen)
            W1 = torch.randn(hidden, d, generator=gen) * 0.05
            b1 = torch.randn(hidden, generator=gen)
            W2 = torch.randn(1, hidden, generator=gen) * 0.05
            H = torch.randn(n, hidden, generator=gen)
            g1 = torch.randn(n, hidden, generator=gen)
            g2 = torch.randn(n, 1, generator=gen)
            key = f"{d}x{hidden} rows {n}"
            out[f"layer 1 forward {key}"] = digest(torch.addmm(b1, X, W1.t()))
            out[f"layer 2 forward {key}"] = digest(H @ W2.t())
            out[f"layer 1 weight gradient {key}"] = digest(g1.t() @ X)
            out[f"layer 2 weight gradient {key}"] = digest(g2.t() @ H)
            out[f"hidden gradient {key}"] = digest(g2 @ W2)
            out[f"bias gradient {key}"] = digest(g1.sum(0))
    for n in (8192, 32768, 32769, 40000, 90001, 1_000_000):
        gen = torch.Generator().manual_seed(n)
        z = 3 * torch.randn(n, generator=gen)
        y = (torch.rand(n, generator=gen) < 0.5).float()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
        out[f"mean BCE of {n} values"] = digest(loss)
    return out


def fits(torch) -> dict[str, str]:
    from polface.models.mlp import fit_mlp, predict_mlp

    out = {}
    cases = ((1285, 500, 16, 64), (1285, 500, 64, 256), (2565, 8197, 64, 256))
    for n_fit, n_val, d, hidden in cases:
        rng = np.random.default_rng(0)
        X = rng.standard_normal((n_fit + n_val, d), dtype=np.float32)
        y = np.zeros(n_fit + n_val)
        y[: len(y) // 2] = 1
        state, history = fit_mlp(
            X,
            y,
            seed=1,
            val_fraction=n_val / len(y),
            max_epochs=3,
            patience=3,
            batch_size=64,
            lr=1e-3,
            hidden=hidden,
            dropout=0.1,
            device="cpu",
        )
        key = f"fit {len(y)} x {d}, hidden {hidden} (last batch {history['n_train'] % 64} rows)"
        out[f"{key}: weights"] = digest(np.concatenate([v.numpy().ravel() for v in state.values()]))
        out[f"{key}: validation losses"] = repr(history["val_loss"])
        out[f"{key}: predictions"] = digest(predict_mlp(state, X[:1005], device="cpu"))
    return out


def child() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    import torch

    results = {}
    for threads in THREADS:
        torch.set_num_threads(threads)
        results[threads] = {**products(torch), **fits(torch)}
    print(json.dumps(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--modes", nargs="+", default=["off", "AUTO,STRICT"])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child()
        return
    report = {}
    for mode in args.modes:
        env = {k: v for k, v in os.environ.items() if k not in ("MKL_CBWR", "OMP_NUM_THREADS")}
        if mode != "off":
            env["MKL_CBWR"] = mode
        done = subprocess.run(
            [sys.executable, __file__, "--child"], env=env, capture_output=True, text=True
        )
        if done.returncode:
            raise SystemExit(done.stderr)
        results = {int(t): r for t, r in json.loads(done.stdout).items()}
        first = results[THREADS[0]]
        differ = {
            key: "".join("=" if results[t][key] == first[key] else "x" for t in THREADS)
            for key in first
            if len({results[t][key] for t in THREADS}) > 1
        }
        report[mode] = {"items": len(first), "differ": differ}
        print(f"MKL_CBWR={mode}: {len(differ)} of {len(first)} items differ (threads {THREADS})")
        for key, pattern in differ.items():
            print(f"  {pattern}  {key}")
    path = ROOT / "benchmarks" / "out" / "mlp_threads.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
