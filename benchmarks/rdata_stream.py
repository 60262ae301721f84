"""Benchmark: streaming RData → parquet conversion against pyreadr, on an R-written matrix.

Run from the repository root:

    python benchmarks/rdata_stream.py [--rows 100000 --cols 2048]

It makes an n × p matrix with R (``set.seed(1); vgg <- matrix(rnorm(n * p), n, p); save(vgg, ...)``)
in benchmarks/out/ (git-ignored; reused when it is already there), converts it to parquet (a) with
polface.data.rdata.numeric_rdata_to_parquet and (b) with pyreadr.read_r followed by the same parquet
layout, each in its own subprocess so that each peak RSS is measured alone (the child's own
``ru_maxrss``), then checks that the two parquet files are equal bit for bit and prints a table.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
ROWS_PER_BLOCK = 8192


def make_matrix(path: Path, rows: int, cols: int) -> float:
    """Write the R matrix with Rscript; return the seconds it took (0 when reused)."""
    if path.exists():
        return 0.0
    rscript = shutil.which("Rscript")
    if rscript is None:
        sys.exit("Rscript not found: install R (Debian: apt-get install r-base-core)")
    start = time.perf_counter()
    tmp = path.with_suffix(".tmp")
    code = (
        f"set.seed(1); n <- {rows}L; p <- {cols}L; vgg <- matrix(rnorm(n * p), n, p); "
        f'save(vgg, file = "{tmp}")'
    )
    subprocess.run([rscript, "--vanilla", "-e", code], check=True)
    tmp.rename(path)
    return time.perf_counter() - start


def child_stream(rdata_path: Path, parquet_path: Path) -> None:
    """(a) polface's streaming converter."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from polface.data.rdata import numeric_rdata_to_parquet

    numeric_rdata_to_parquet(
        rdata_path, "vgg", parquet_path, rows_per_block=ROWS_PER_BLOCK, progress=False,
        compression="zstd", spool_dir=parquet_path.parent,
    )  # fmt: skip


def child_pyreadr(rdata_path: Path, parquet_path: Path) -> None:
    """(b) pyreadr: read the whole matrix, then write the same parquet layout."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import pyreadr

    values = pyreadr.read_r(str(rdata_path))["vgg"].to_numpy(dtype=np.float32)
    rows, cols = values.shape
    schema = pa.schema(
        [
            pa.field("row", pa.int64(), nullable=False),
            pa.field("features", pa.list_(pa.float32(), cols)),
        ]
    )
    ids = pa.array(np.arange(rows, dtype=np.int64))
    with pq.ParquetWriter(parquet_path, schema, compression="zstd") as writer:
        for r0 in range(0, rows, ROWS_PER_BLOCK):
            block = values[r0 : r0 + ROWS_PER_BLOCK]
            features = pa.FixedSizeListArray.from_arrays(pa.array(block.reshape(-1)), cols)
            table = pa.Table.from_arrays([ids[r0 : r0 + len(block)], features], schema=schema)
            writer.write_table(table, row_group_size=len(block))


def run_child(kind: str, rdata_path: Path, parquet_path: Path) -> dict[str, float]:
    """Run one converter in a fresh interpreter; return its wall time and peak RSS."""
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--rdata", str(rdata_path),
         "--parquet", str(parquet_path)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    wall = time.perf_counter() - start
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return {"wall_s": wall, "peak_rss_mb": report["peak_rss_kb"] / 1024}


def parquet_equal(a: Path, b: Path) -> bool:
    """Both files hold the same ids and the same float32 bits, row group by row group."""
    import pyarrow.parquet as pq

    fa, fb = pq.ParquetFile(a), pq.ParquetFile(b)
    if fa.metadata.num_rows != fb.metadata.num_rows:
        return False
    ta_iter = fa.iter_batches(batch_size=ROWS_PER_BLOCK)
    tb_iter = fb.iter_batches(batch_size=ROWS_PER_BLOCK)
    for ba, bb in zip(ta_iter, tb_iter, strict=True):
        if not ba.column(0).equals(bb.column(0)):
            return False
        va = np.asarray(ba.column(1).values).view(np.uint32)
        vb = np.asarray(bb.column(1).values).view(np.uint32)
        if not np.array_equal(va, vb):
            return False
    return True


def main() -> None:
    """Parse arguments, run both converters, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--cols", type=int, default=2048)
    parser.add_argument("--child", choices=["stream", "pyreadr"], help=argparse.SUPPRESS)
    parser.add_argument("--rdata", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--parquet", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        {"stream": child_stream, "pyreadr": child_pyreadr}[args.child](args.rdata, args.parquet)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        print(json.dumps({"peak_rss_kb": peak}))
        return
    OUT.mkdir(parents=True, exist_ok=True)
    rdata_path = OUT / f"vgg_{args.rows}x{args.cols}.RData"
    made = make_matrix(rdata_path, args.rows, args.cols)
    if made:
        print(f"R wrote {rdata_path.name} in {made:.1f} s", file=sys.stderr)
    matrix_gb = args.rows * args.cols * 8 / 1e9
    results = {}
    for kind in ("stream", "pyreadr"):
        target = OUT / f"vgg_{kind}.parquet"
        results[kind] = run_child(kind, rdata_path, target)
    equal = parquet_equal(OUT / "vgg_stream.parquet", OUT / "vgg_pyreadr.parquet")
    s, p = results["stream"], results["pyreadr"]
    print(f"\nmatrix {args.rows:,} x {args.cols:,} float64 ({matrix_gb:.2f} GB in memory), "
          f"RData file {rdata_path.stat().st_size / 1e9:.2f} GB (gzip)")  # fmt: skip
    print(f"{'converter':<28}{'wall (s)':>10}{'peak RSS (MB)':>16}")
    print(f"{'polface streaming':<28}{s['wall_s']:>10.1f}{s['peak_rss_mb']:>16.0f}")
    print(f"{'pyreadr + same writer':<28}{p['wall_s']:>10.1f}{p['peak_rss_mb']:>16.0f}")
    print(f"peak RSS ratio pyreadr / streaming: {p['peak_rss_mb'] / s['peak_rss_mb']:.1f}x")
    print(f"parquet outputs equal bit for bit: {equal}")
    if not equal:
        sys.exit(1)


if __name__ == "__main__":
    main()
