"""Outputs are written atomically: an interrupted write never leaves a complete-looking file."""

from __future__ import annotations

import pyarrow as pa
import pytest

from polface.io import atomic_output, read_metadata, write_parquet


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
