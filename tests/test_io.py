"""Outputs are written atomically: an interrupted write never leaves a complete-looking file."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pytest

from polface.io import atomic_output, file_sha256, read_metadata, write_json, write_parquet


def test_atomic_output_renames_only_on_success(tmp_path):
    target = tmp_path / "sub" / "out.csv"
    with atomic_output(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".csv"
        tmp.write_text("a,b\n")
        assert not target.exists()
    assert target.read_text() == "a,b\n"
    assert list(target.parent.iterdir()) == [target]


def test_atomic_output_leaves_nothing_behind_on_error(tmp_path):
    target = tmp_path / "out.parquet"
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_write_table_records_metadata(tmp_path):
    path = tmp_path / "t.parquet"
    write_parquet(pa.table({"x": [1, 2]}), path, metadata={"seed": 3, "source": "a.RData"})
    assert read_metadata(path) == {"seed": 3, "source": "a.RData"}


def test_file_sha256_matches_hashlib(tmp_path):
    path = tmp_path / "blob.bin"
    data = bytes(range(256)) * 10_000
    path.write_bytes(data)
    assert file_sha256(path, chunk=1000) == hashlib.sha256(data).hexdigest()


def test_write_json_writes_nan_as_null_sorted_or_in_order(tmp_path):
    doc = {"b": float("nan"), "a": [np.float32(1.5), np.int64(2), (float("inf"), None)]}
    path = write_json(tmp_path / "sorted.json", doc)
    assert path.read_text() == (
        '{\n  "a": [\n    1.5,\n    2,\n    [\n      null,\n      null\n    ]\n  ],\n'
        '  "b": null\n}\n'
    )
    kept = write_json(
        tmp_path / "kept.json", {"b": 1, "a": float("nan")}, indent=1, sort_keys=False
    )
    assert kept.read_text() == '{\n "b": 1,\n "a": null\n}\n'
