"""Nanoseconds per row of the LASSO's coordinate steps over X's columns, and of a fused variant.

The coordinate descent's inner pass reads, for each active column in turn, the column for its
gradient (``kernels._dot_centred``) and again for the residual update (``kernels._coordinate``).
This times those two real kernels cycling over ``cols`` columns of ``rows`` rows (every column
updated, as a pass early in a lambda does), against a variant that fuses each column's residual
update with the next column's gradient in one pass over the rows (the same arithmetic in the
same order, so the same bits: the script checks the residuals), and against the gradient alone.
It prints CPU nanoseconds per row and column, and the column bytes against the machine's last-level
cache, so that it shows whether the passes stream from memory:

    python benchmarks/column_stream.py                       # 10,000 x 1,024 float64, and more
    python benchmarks/column_stream.py --sizes 833963x64:float32 --cycles 5
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import sys
from pathlib import Path

import numpy as np
from numba import njit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from polface.models.lasso import kernels  # noqa: E402

NSUM = kernels.NSUM


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@njit(nogil=True, fastmath={"contract"})
def gradients_only(X, r, c, cycles, acc):  # pragma: no cover - compiled
    n, p = X.shape
    total = 0.0
    for _ in range(cycles):
        for j in range(p):
            total += kernels._dot_centred(r, X[:, j], c[j], n, n, acc)
    return total


@njit(nogil=True, fastmath={"contract"})
def separate(X, r, v, c, xv, beta, cycles, acc):  # pragma: no cover - compiled
    """Each column's gradient, then its Newton step and update (lambda 0: every one moves)."""
    n, p = X.shape
    for _ in range(cycles):
        for j in range(p):
            g = kernels._dot_centred(r, X[:, j], c[j], n, n, acc)
            kernels._coordinate(X, j, c[j], 1.0, r, v, beta, xv[j], 0.0, g, n, n)


@njit(nogil=True, fastmath={"contract"})
def _update_then_dot(r, v, x, c, f, x2, c2, acc):  # pragma: no cover - compiled
    """r -= f v (x - c), then sum r (x2 - c2) with the kernels' partial sums, in one pass."""
    for t in range(NSUM):
        acc[t] = 0.0
    n = r.shape[0]
    m = n - n % NSUM
    for o in range(0, m, NSUM):
        for t in range(NSUM):
            ri = r[o + t] - f * v[o + t] * (x[o + t] - c)
            r[o + t] = ri
            acc[t] += ri * (x2[o + t] - c2)
    for t in range(n - m):
        ri = r[m + t] - f * v[m + t] * (x[m + t] - c)
        r[m + t] = ri
        acc[t] += ri * (x2[m + t] - c2)
    return kernels._combine(acc)


@njit(nogil=True, fastmath={"contract"})
def fused(X, r, v, c, xv, beta, cycles, acc):  # pragma: no cover - compiled
    """The same steps as :func:`separate`, each update fused with the next column's gradient."""
    n, p = X.shape
    for _ in range(cycles):
        g = kernels._dot_centred(r, X[:, 0], c[0], n, n, acc)
        for j in range(p):
            bk = beta[j]  # _coordinate at lambda 0 and sd 1
            u = g + xv[j] * bk
            bn = math.copysign(abs(u), u) / xv[j]
            d = bn - bk
            beta[j] = bn
            if j + 1 < p:
                g = _update_then_dot(r, v, X[:, j], c[j], d, X[:, j + 1], c[j + 1], acc)
            else:
                for i in range(n):
                    r[i] -= d * v[i] * (X[i, j] - c[j])


def cache_sizes() -> str:
    """The first CPU's cache sizes as the kernel lists them (``L2 1024K, L3 32768K``)."""
    found = []
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            level = (index / "level").read_text().strip()
            size = (index / "size").read_text().strip()
        except OSError:
            continue
        if level in ("2", "3"):
            found.append(f"L{level} {size}")
    return ", ".join(found) or "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--sizes",
        nargs="+",
        default=[
            "10000x1024:float64",
            "10000x64:float64",
            "100000x256:float32",
            "833963x64:float32",
        ],
        help="ROWSxCOLS:DTYPE",
    )
    ap.add_argument("--cycles", type=int, default=10, help="passes over the columns per timing")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(f"caches of one core: {cache_sizes()}")
    warm = np.asfortranarray(np.ones((64, 2)))
    for fn in (separate, fused):
        fn(warm, np.ones(64), np.ones(64), np.zeros(2), np.ones(2), np.zeros(2), 1, np.empty(NSUM))
    gradients_only(warm, np.ones(64), np.zeros(2), 1, np.empty(NSUM))
    for size in args.sizes:
        shape, dtype = size.split(":")
        rows, cols = (int(part) for part in shape.split("x"))
        rng = np.random.default_rng(1)
        X = np.asfortranarray(rng.standard_normal((rows, cols)).astype(dtype))
        c = X.mean(axis=0, dtype=np.float64)
        v = rng.uniform(0.05, 0.25, rows)
        r0 = rng.standard_normal(rows) * 1e-3
        xv = np.einsum("i,ij->j", v, (X - c) ** 2)  # the weighted sums of squares
        column_mb = rows * X.itemsize / 1e6
        best: dict[str, float] = {}
        ends = {}
        for _ in range(args.repeats):
            for name, fn in (("gradient only", None), ("separate", separate), ("fused", fused)):
                r, beta, acc = r0.copy(), np.zeros(cols), np.empty(NSUM)
                start = cpu_seconds()
                if fn is None:
                    gradients_only(X, r, c, args.cycles, acc)
                else:
                    fn(X, r, v, c, xv, beta, args.cycles, acc)
                ns = (cpu_seconds() - start) / (args.cycles * rows * cols) * 1e9
                best[name] = min(best.get(name, float("inf")), ns)
                if fn is not None:
                    ends[name] = r
        same = np.array_equal(ends["separate"], ends["fused"])
        print(
            f"{rows:,} x {cols:,} {dtype}: column {column_mb:.2f} MB, all {column_mb * cols:,.0f}"
            f" MB, load {os.getloadavg()[0]:.2f}; best of {args.repeats}, ns per row and column:"
            f" gradient only {best['gradient only']:.3f}, gradient + update"
            f" {best['separate']:.3f}, fused {best['fused']:.3f}"
            f" ({best['fused'] / best['separate']:.2f}x); the same residual bits: {same}",
            flush=True,
        )
        if not same:
            raise SystemExit("the fused pass changed the residuals' bits")


if __name__ == "__main__":
    main()
