"""Tests of polface.data.rdata: R serialization read against R-written files, and written back."""

from __future__ import annotations

import bz2
import gzip
import lzma
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyreadr
import pytest

from polface.data import rdata
from polface.io import atomic_output, file_sha256, read_metadata

RSCRIPT = shutil.which("Rscript")
needs_r = pytest.mark.skipif(RSCRIPT is None, reason="Rscript not found: R cross-checks skipped")

STRING_COLUMNS = ["userid", "country", "database", "ethnicity.value"]
INT_COLUMNS = ["gender", "pol_dat_us", "pol_dat_ca", "pol_dat_uk", "pol_fb_us"]
BIG_FIVE = ["ext", "neu", "ope", "agr", "con"]


def run_r(code: str) -> str:
    """Run R code with Rscript and return its standard output."""
    result = subprocess.run(
        [RSCRIPT, "--vanilla", "-e", code], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def faces(osf_fixture: Path) -> pd.DataFrame:
    """The fixture's data.frame d, read by read_data_frame."""
    return rdata.read_data_frame(osf_fixture / "faces.RData", "d")


@pytest.fixture(scope="module")
def faces_pyreadr(osf_fixture: Path) -> pd.DataFrame:
    """The same data.frame as pyreadr reads it."""
    return pyreadr.read_r(str(osf_fixture / "faces.RData"))["d"]


@pytest.fixture(scope="module")
def vgg_pyreadr(osf_fixture: Path) -> np.ndarray:
    """The fixture's matrix vgg as pyreadr reads it."""
    return pyreadr.read_r(str(osf_fixture / "vgg.RData"))["vgg"].to_numpy()


# --- faces.RData (written by R 4.2) ---------------------------------------------------------------


def test_faces_column_types(faces: pd.DataFrame, faces_pyreadr: pd.DataFrame) -> None:
    """Every column of the R-written d gets the pandas dtype of its R type."""
    assert faces.shape == (800, 42)
    assert list(faces.columns) == list(faces_pyreadr.columns)
    for name in faces.columns:
        dtype = faces[name].dtype
        if name in STRING_COLUMNS:
            assert pd.api.types.is_string_dtype(dtype) and dtype != np.dtype(object), name
        elif name in INT_COLUMNS:
            assert dtype == "Int32", name
        elif name == "pol":
            assert isinstance(dtype, pd.CategoricalDtype)
        else:
            assert dtype == np.float64, name


def test_faces_values_and_missing_match_pyreadr(
    faces: pd.DataFrame, faces_pyreadr: pd.DataFrame
) -> None:
    """Values and NA positions equal pyreadr's, column by column."""
    for name in faces.columns:
        ours, theirs = faces[name], faces_pyreadr[name]
        np.testing.assert_array_equal(ours.isna().to_numpy(), theirs.isna().to_numpy(), name)
        present = ~theirs.isna().to_numpy()
        a = ours.to_numpy(dtype=object)[present]
        b = theirs.to_numpy(dtype=object)[present]
        if name == "pol" or name in STRING_COLUMNS:
            assert [str(v) for v in a] == [str(v) for v in b], name
        else:  # exact equality of numbers, including the doubles
            np.testing.assert_array_equal(a.astype(np.float64), b.astype(np.float64), name)


def test_faces_spot_values_and_samples(faces: pd.DataFrame) -> None:
    """Known values, NA counts of the samples, Big Five only for Facebook rows."""
    first = faces.iloc[0]
    assert first["userid"] == "u0000001"
    assert first["gender"] == 0 and first["age"] == 30.0
    assert first["country"] == "united states"
    assert first["facial_hair"] == 0.6499
    assert first["pol"] == "liberal" and first["pol_fb_us"] == 0
    assert pd.isna(first["pol_dat_us"])
    assert first["ext"] == -0.768 and first["database"] == "fb"
    assert first["ethnicity.value"] == "white"
    last = faces.iloc[-1]
    assert last["userid"] == "u0000800" and last["country"] == "united kingdom"
    assert last["pol_dat_uk"] == 0 and pd.isna(last["ext"]) and last["age"] == 48.0
    assert faces["userid"].tolist() == [f"u{i:07d}" for i in range(1, 801)]  # row order
    assert faces["gender"].isna().sum() == 0
    assert faces["age"].isna().sum() == 163
    nas = {c: int(faces[c].isna().sum()) for c in ["pol_dat_us", "pol_dat_ca", "pol_dat_uk"]}
    assert nas == {"pol_dat_us": 400, "pol_dat_ca": 650, "pol_dat_uk": 650}
    assert faces["pol_fb_us"].isna().sum() == 700
    for c in INT_COLUMNS[1:]:
        assert set(faces[c].dropna().tolist()) == {0, 1}, c
    facebook = (faces["database"] == "fb").to_numpy()
    assert facebook.sum() == 100 and facebook[:100].all()  # Facebook rows first
    for c in BIG_FIVE:
        np.testing.assert_array_equal(faces[c].isna().to_numpy(), ~facebook, c)


def test_faces_factor_levels(faces: pd.DataFrame, osf_fixture: Path) -> None:
    """pol keeps R's levels in R's order; the 0/1 samples code conservative as 1."""
    pol = faces["pol"]
    assert list(pol.cat.categories) == ["liberal", "conservative"]
    assert pol.cat.ordered is False
    # samples code 1 = conservative, as the factor does
    for c in ["pol_dat_us", "pol_dat_ca", "pol_dat_uk", "pol_fb_us"]:
        rows = faces[c].notna().to_numpy()
        codes = faces.loc[rows, c].astype(int).to_numpy()
        np.testing.assert_array_equal(codes, pol[rows].cat.codes.to_numpy(), c)
    columns = {c.name: c for c in rdata.inspect_data_frame(osf_fixture / "faces.RData", "d")}
    assert columns["pol"].levels == ("liberal", "conservative")
    assert columns["pol"].r_class == ("factor",) and columns["pol"].typeof == "integer"
    assert columns["userid"].typeof == "character" and columns["age"].typeof == "double"


@needs_r
def test_faces_every_column_against_r(faces: pd.DataFrame, osf_fixture: Path) -> None:
    """Every value, NA and type of every column against what R itself prints."""
    code = f"""
    load("{osf_fixture / "faces.RData"}")
    for (n in names(d)) {{
      x <- d[[n]]
      v <- if (is.factor(x)) as.character(x) else if (is.double(x)) sprintf("%.17g", x)
           else as.character(x)
      v[is.na(x)] <- NA
      cat(paste0(n, "\\t", typeof(x), "\\t", paste(class(x), collapse = "/"),
          "\\t", paste(levels(x), collapse = "/"), "\\t", paste(ifelse(is.na(v), "<NA>", v),
          collapse = "|"), "\\n"))
    }}
    """
    lines = run_r(code).strip().split("\n")
    assert len(lines) == 42
    dtype_for = {"character": "str", "integer": "Int32", "double": "float64"}
    for line, name in zip(lines, faces.columns, strict=True):
        r_name, r_type, r_class, r_levels, r_values = line.split("\t")
        assert r_name == name
        col = faces[name]
        if r_class == "factor":
            assert list(col.cat.categories) == r_levels.split("/")
        else:
            assert str(col.dtype) == dtype_for[r_type], name
        values = r_values.split("|")
        ours = col.astype(object).where(col.notna(), None).tolist()
        for r_value, value in zip(values, ours, strict=True):
            if r_value == "<NA>":
                assert value is None, name
            elif r_type == "double":
                assert value == float(r_value), name
            elif r_type == "integer" and r_class != "factor":
                assert value == int(r_value), name
            else:
                assert value == r_value, name


def test_read_data_frame_errors(osf_fixture: Path) -> None:
    """A missing object lists what the file holds; a matrix is not a data.frame."""
    with pytest.raises(rdata.RDataError, match=r"no object named 'nope'.*\['d'\]"):
        rdata.read_data_frame(osf_fixture / "faces.RData", "nope")
    with pytest.raises(rdata.RDataError, match=r"vgg.RData.*'vgg' is not a data.frame"):
        rdata.read_data_frame(osf_fixture / "vgg.RData", "vgg")


# --- vgg.RData: streaming -------------------------------------------------------------------------


def test_matrix_columns_bit_exact(osf_fixture: Path, vgg_pyreadr: np.ndarray) -> None:
    """The column iterator returns pyreadr's doubles bit for bit."""
    columns = list(rdata.iter_matrix_columns(osf_fixture / "vgg.RData", "vgg"))
    assert len(columns) == 2048
    matrix = np.column_stack(columns)
    assert matrix.dtype == np.float64 and matrix.shape == (800, 2048)
    np.testing.assert_array_equal(matrix.view(np.uint64), vgg_pyreadr.view(np.uint64))


def test_row_blocks_bounded_and_exact(
    osf_fixture: Path, vgg_pyreadr: np.ndarray, tmp_path: Path
) -> None:
    """Row blocks have the asked size, equal the float32 cast, leave no spool."""
    fds = Path("/proc/self/fd")
    open_before = len(list(fds.iterdir())) if fds.exists() else None
    blocks = list(
        rdata.iter_row_blocks(
            osf_fixture / "vgg.RData", "vgg", rows_per_block=300, spool_dir=tmp_path
        )
    )
    assert [b.shape for b in blocks] == [(300, 2048), (300, 2048), (200, 2048)]
    assert all(b.dtype == np.float32 and b.flags.c_contiguous for b in blocks)
    np.testing.assert_array_equal(np.vstack(blocks), vgg_pyreadr.astype(np.float32))
    assert list(tmp_path.iterdir()) == []  # the spool is gone
    if open_before is not None:  # and its descriptor is closed
        assert len(list(fds.iterdir())) == open_before


def test_numeric_rdata_to_parquet(
    osf_fixture: Path, faces: pd.DataFrame, vgg_pyreadr: np.ndarray, tmp_path: Path
) -> None:
    """The parquet output: ids, fixed-size float32 lists, row groups, metadata."""
    out = tmp_path / "vgg.parquet"
    info = rdata.numeric_rdata_to_parquet(
        osf_fixture / "vgg.RData", "vgg", out, row_ids=faces["userid"], id_column="userid",
        rows_per_block=256, progress=False, metadata={"extractor": "test"}, checksum=True,
    )  # fmt: skip
    table = pq.read_table(out)
    assert table.column_names == ["userid", "features"]
    features = table.schema.field("features").type
    assert pa.types.is_fixed_size_list(features) and features.list_size == 2048
    assert features.value_type == pa.float32()
    assert table.column("userid").to_pylist() == faces["userid"].tolist()
    values = np.asarray(table.column("features").combine_chunks().values).reshape(800, 2048)
    expected = vgg_pyreadr.astype(np.float32)
    np.testing.assert_array_equal(values.view(np.uint32), expected.view(np.uint32))
    assert pq.ParquetFile(out).metadata.num_row_groups == 4  # 256 + 256 + 256 + 32
    meta = read_metadata(out)
    assert meta["object"] == "vgg" and meta["extractor"] == "test"
    assert meta["shape"] == [800, 2048] and meta["source_file"] == "vgg.RData"
    assert meta["r_type"] == "double matrix" and meta["dtype"] == "float32"
    assert meta["source_sha256"] == file_sha256(osf_fixture / "vgg.RData")
    assert info == meta
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vgg.parquet"]  # no spool, no temp


def test_numeric_rdata_to_parquet_float64_default_ids(
    osf_fixture: Path, vgg_pyreadr: np.ndarray, tmp_path: Path
) -> None:
    """float64 output keeps every bit; default ids are 0..n-1."""
    out = tmp_path / "vgg64.parquet"
    rdata.numeric_rdata_to_parquet(
        osf_fixture / "vgg.RData", "vgg", out, dtype="float64", progress=False
    )
    table = pq.read_table(out)
    assert table.column("row").to_pylist() == list(range(800))
    values = np.asarray(table.column("features").combine_chunks().values).reshape(800, 2048)
    np.testing.assert_array_equal(values.view(np.uint64), vgg_pyreadr.view(np.uint64))


def test_row_count_mismatch_is_a_clear_error(osf_fixture: Path, tmp_path: Path) -> None:
    """Wrong id count, missing object, non-numeric column: clear errors, no debris."""
    out = tmp_path / "vgg.parquet"
    with pytest.raises(rdata.RDataError, match=r"vgg.RData: object 'vgg' has 800 rows but 799 row"):
        rdata.numeric_rdata_to_parquet(
            osf_fixture / "vgg.RData", "vgg", out, row_ids=np.arange(799), progress=False
        )
    assert list(tmp_path.iterdir()) == []  # neither output nor spool left behind
    ids = [f"u{i}" for i in range(800)]
    ids[10] = "u3"
    with pytest.raises(rdata.RDataError, match=r"row ids for 'vgg' repeat 'u3' \(row 11\)"):
        rdata.numeric_rdata_to_parquet(osf_fixture / "vgg.RData", "vgg", out, row_ids=ids)
    with pytest.raises(rdata.RDataError, match=r"no object named 'd'.*\['vgg'\]"):
        rdata.numeric_rdata_to_parquet(osf_fixture / "vgg.RData", "d", out, progress=False)
    with pytest.raises(rdata.RDataError, match=r"column 'userid' is character, not numeric"):
        rdata.numeric_rdata_to_parquet(osf_fixture / "faces.RData", "d", out, progress=False)
    assert list(tmp_path.iterdir()) == []


# --- hand-made streams: long lengths, corruption, formats ----------------------------------------


def xdr(*ints: int) -> bytes:
    """Big-endian 32-bit integers (negative ones as two's complement)."""
    return b"".join(struct.pack(">I", v & 0xFFFFFFFF) for v in ints)


def rdx3(body: bytes) -> bytes:
    """An RDX3 header (version 3, UTF-8) in front of ``body``."""
    return b"RDX3\nX\n" + xdr(3, 0x040202, 0x030500, 5) + b"UTF-8" + body


def one_object(name: str, item: bytes) -> bytes:
    """The top-level pairlist of save() holding one object."""
    tag = xdr(rdata.SYMSXP, rdata.CHARSXP | (64 << 12), len(name)) + name.encode()
    return xdr(rdata.LISTSXP | rdata.HAS_TAG_BIT) + tag + item + xdr(rdata.NILVALUE_SXP)


def test_long_length_form(tmp_path: Path) -> None:
    """Lengths written as -1, upper, lower (unsigned) are read right, and checked."""
    values = np.array([1.5, -2.25, 3.0, np.pi])
    long_vector = xdr(rdata.REALSXP, -1, 0, 4) + values.astype(">f8").tobytes()
    path = tmp_path / "long.RData"
    path.write_bytes(gzip.compress(rdx3(one_object("x", long_vector))))
    x = rdata.read_rdata(path)["x"]
    assert x.typeof == "double" and len(x) == 4
    np.testing.assert_array_equal(x.value, values)
    column = next(rdata.iter_matrix_columns(path, "x"))  # a plain vector is one column
    np.testing.assert_array_equal(column, values)
    # the lower half is unsigned: 2^31 + 1 elements, of which the file holds only four
    huge = xdr(rdata.REALSXP, -1, 0, 2**31 + 1) + values.astype(">f8").tobytes()
    path.write_bytes(rdx3(one_object("x", huge)))
    with pytest.raises(
        rdata.RDataError,
        match=r"long.RData: object 'x' claims 2,147,483,649 double values \(17,179,869,192 bytes\) "
        r"but the file has room for at most 36 bytes after them \(97 bytes in all\): it is "
        r"truncated or corrupt",
    ):
        rdata.read_rdata(path)
    # an upper half: 2^32 + 3 elements
    huge = xdr(rdata.INTSXP, -1, 1, 3) + xdr(1, 2, 3)
    path.write_bytes(rdx3(one_object("x", huge)))
    with pytest.raises(
        rdata.RDataError, match=rf"claims 4,294,967,299 integer values \({(2**32 + 3) * 4:,} bytes"
    ):
        rdata.read_rdata(path)
    path.write_bytes(gzip.compress(rdx3(one_object("x", huge))))  # the most gzip can hold
    with pytest.raises(rdata.RDataError, match=r"bytes of gzip data inflate to at most"):
        rdata.read_rdata(path)
    path.write_bytes(rdx3(one_object("x", xdr(rdata.INTSXP, -1, 70_000, 3))))
    with pytest.raises(rdata.RDataError, match=r"long.RData: invalid upper part 70000"):
        rdata.read_rdata(path)
    path.write_bytes(rdx3(one_object("x", xdr(rdata.INTSXP, -2))))
    with pytest.raises(rdata.RDataError, match=r"long.RData: negative serialized vector length -2"):
        rdata.read_rdata(path)


def test_writer_symbol_references(tmp_path: Path) -> None:
    """The writer enters symbols in the reference table and points back to them."""
    path = tmp_path / "w.RData"
    frame = pd.DataFrame({"a": [1.0, 2.0]})
    rdata.write_rdata(path, {"f": frame, "g": frame}, compress=None)
    raw = path.read_bytes()
    assert raw.startswith(b"RDX3\nX\n")
    # 'names' is written once as a symbol, then as a reference
    assert raw.count(xdr(5) + b"names") == 1 and raw.count(xdr(9) + b"row.names") == 1
    objs = rdata.read_rdata(path)
    assert objs["g"].attr("names").value == ["a"]


def test_truncated_and_corrupt_files(osf_fixture: Path, tmp_path: Path) -> None:
    """Truncated or corrupt input: an RDataError naming the file, no spool left."""
    compressed = (osf_fixture / "vgg.RData").read_bytes()
    cut = tmp_path / "cut.RData"
    cut.write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(rdata.RDataError, match=r"cut.RData: .*(truncated|corrupt)"):
        list(rdata.iter_matrix_columns(cut, "vgg"))
    raw = gzip.decompress(compressed)
    cut.write_bytes(raw[:-20])  # uncompressed, the dim attribute cut off
    with pytest.raises(rdata.RDataError, match=r"cut.RData: file is truncated"):
        rdata.open_numeric(cut, "vgg")
    bad = bytearray(compressed)
    bad[len(bad) // 2 : len(bad) // 2 + 64] = bytes(64)
    corrupt = tmp_path / "corrupt.RData"
    corrupt.write_bytes(bytes(bad))
    with pytest.raises(rdata.RDataError, match=r"corrupt.RData: .*(corrupt|truncated)"):
        rdata.list_objects(corrupt)
    corrupt.write_bytes(rdx3(one_object("x", xdr(99, 1, 2))))
    with pytest.raises(
        rdata.RDataError, match=r"corrupt.RData: unsupported or corrupt item type 99"
    ):
        rdata.read_rdata(corrupt)
    corrupt.write_bytes(rdx3(one_object("x", xdr(rdata.REFSXP | (7 << 8)))))
    with pytest.raises(rdata.RDataError, match=r"reference 7 outside the table of 1"):
        rdata.read_rdata(corrupt)
    assert list(p for p in tmp_path.iterdir() if p.suffix == ".spool") == []


def test_unsupported_formats_are_named(tmp_path: Path) -> None:
    """ASCII, other versions, saveRDS streams, non-R files: clear errors."""
    path = tmp_path / "ascii.RData"
    path.write_bytes(gzip.compress(b"RDA3\nA\n3\n262658\n197888\n"))
    with pytest.raises(rdata.RDataError, match=r"ascii.RData: ASCII RData format"):
        rdata.read_rdata(path)
    path.write_bytes(b"RDX3\nA\n" + xdr(3))
    with pytest.raises(rdata.RDataError, match=r"ascii.RData: serialization format ASCII"):
        rdata.read_rdata(path)
    path.write_bytes(rdx3(b"")[:7] + xdr(4, 0, 0))
    with pytest.raises(rdata.RDataError, match=r"serialization version 4 is not supported"):
        rdata.read_rdata(path)
    path.write_bytes(b"X\n" + xdr(3))
    with pytest.raises(rdata.RDataError, match=r"saveRDS"):
        rdata.read_rdata(path)
    path.write_bytes(b"\x28\xb5\x2f\xfd" + bytes(20))
    with pytest.raises(rdata.RDataError, match=r"ascii.RData: zstd-compressed RData"):
        rdata.read_rdata(path)
    path.write_bytes(b"hello world, not R")
    with pytest.raises(rdata.RDataError, match=r"ascii.RData: not an RData file"):
        rdata.read_rdata(path)
    with pytest.raises(rdata.RDataError, match=r"missing.RData: cannot open"):
        rdata.read_rdata(tmp_path / "missing.RData")


# --- the writer -----------------------------------------------------------------------------------


def sample_frame() -> pd.DataFrame:
    """A data frame with every column kind the writer supports, NA included."""
    return pd.DataFrame(
        {
            "id": pd.array(["a", None, "ü-ß", "d"], dtype="str"),
            "count": pd.array([1, None, -3, 2_000_000_000], dtype="Int32"),
            "plain_int": np.array([4, 5, 6, 7], dtype=np.int64),
            "flag": pd.array([True, None, False, True], dtype="boolean"),
            "plain_bool": np.array([True, False, False, True]),
            "x": [0.1, np.nan, -1e300, 2.5],
            "pol": pd.Categorical(
                ["liberal", "conservative", None, "liberal"], categories=["liberal", "conservative"]
            ),  # fmt: skip
            "size": pd.Categorical(
                ["small", "large", "medium", None],
                categories=["small", "medium", "large"],
                ordered=True,
            ),  # fmt: skip
        }
    )


def check_frame(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """read_data_frame's result against the frame that was written."""
    assert list(got.columns) == list(want.columns)
    assert str(got["id"].dtype) == "str" and got["id"].isna().tolist() == [
        False,
        True,
        False,
        False,
    ]
    assert got["id"].dropna().tolist() == ["a", "ü-ß", "d"]
    assert got["count"].dtype == "Int32" and got["plain_int"].dtype == "Int32"
    assert got["count"].tolist()[0] == 1 and got["count"].isna().tolist()[1]
    assert got["count"].tolist()[2:] == [-3, 2_000_000_000]
    assert got["plain_int"].tolist() == [4, 5, 6, 7]
    assert got["flag"].dtype == "boolean" and got["plain_bool"].dtype == "boolean"
    assert got["flag"].isna().tolist() == [False, True, False, False]
    assert got["flag"].dropna().tolist() == [True, False, True]
    np.testing.assert_array_equal(got["x"].to_numpy(), want["x"].to_numpy())
    assert list(got["pol"].cat.categories) == ["liberal", "conservative"]
    assert not got["pol"].cat.ordered
    assert got["pol"].cat.codes.tolist() == [0, 1, -1, 0]
    assert list(got["size"].cat.categories) == ["small", "medium", "large"]
    assert got["size"].cat.ordered
    assert got["size"].cat.codes.tolist() == [0, 2, 1, -1]


@pytest.mark.parametrize("compress", ["gzip", "bzip2", "xz", None])
def test_writer_round_trip_every_compression(tmp_path: Path, compress: str | None) -> None:
    """Written with each compression, read back by pyreadr and by this reader."""
    path = tmp_path / "d.RData"
    frame = sample_frame()
    matrix = np.arange(12, dtype=np.float64).reshape(3, 4) / 7
    rdata.write_rdata(path, {"d": frame, "vgg": matrix}, compress=compress)
    magic = path.read_bytes()[:6]
    expected_magic = {"gzip": b"\x1f\x8b", "bzip2": b"BZh", "xz": b"\xfd7zXZ", None: b"RDX3\nX"}
    assert magic.startswith(expected_magic[compress])
    check_frame(rdata.read_data_frame(path, "d"), frame)
    back = pyreadr.read_r(str(path))
    np.testing.assert_array_equal(back["vgg"].to_numpy(), matrix)
    assert back["d"]["pol"].astype(object).where(back["d"]["pol"].notna(), None).tolist() == [
        "liberal", "conservative", None, "liberal",
    ]  # fmt: skip
    ours = np.column_stack(list(rdata.iter_matrix_columns(path, "vgg")))
    np.testing.assert_array_equal(ours.view(np.uint64), matrix.view(np.uint64))
    objs = rdata.read_rdata(path)
    assert list(objs) == ["d", "vgg"]
    row_names = objs["d"].attr("row.names").value
    np.testing.assert_array_equal(row_names, [rdata.NA_INTEGER, -4])  # R's compact form


def test_writer_version_2_and_dimnames(tmp_path: Path) -> None:
    """Version-2 files and matrix dimnames round-trip."""
    path = tmp_path / "v2.RData"
    values = np.array([[1.0, 2.0], [3.0, np.nan]])
    matrix = rdata.RMatrix(values, row_names=["r1", "r2"], col_names=["c1", "c2"])
    rdata.write_rdata(path, {"m": matrix}, version=2)
    assert gzip.decompress(path.read_bytes()).startswith(b"RDX2\nX\n" + xdr(2))
    with rdata.open_numeric(path, "m", dtype="float64") as obj:
        assert obj.shape == (2, 2) and obj.row_names == ["r1", "r2"]
        assert obj.col_names == ["c1", "c2"]
        np.testing.assert_array_equal(next(obj.iter_row_blocks()), values)
    back = pyreadr.read_r(str(path))["m"]
    assert list(back.columns) == ["c1", "c2"]
    np.testing.assert_array_equal(back.to_numpy(), values)


def test_writer_rejects_what_r_cannot_hold(tmp_path: Path) -> None:
    """Values R cannot hold are refused with the column and row named."""
    path = tmp_path / "bad.RData"
    with pytest.raises(rdata.RDataError, match=r"column 'big': value 3000000000 at row 2"):
        rdata.write_rdata(path, {"d": pd.DataFrame({"big": [1, 3_000_000_000]})})
    with pytest.raises(rdata.RDataError, match=r"column 'when': pandas dtype datetime64"):
        rdata.write_rdata(path, {"d": pd.DataFrame({"when": pd.to_datetime(["2021-01-01"])})})
    with pytest.raises(rdata.RDataError, match=r"column 'o': row 2 holds int 5"):
        rdata.write_rdata(path, {"d": pd.DataFrame({"o": pd.Series(["a", 5], dtype=object)})})
    with pytest.raises(rdata.RDataError, match=r"object 'x': cannot write list"):
        rdata.write_rdata(path, {"x": [1, 2]})
    assert not path.exists()


def test_data_frame_spool_row_names_and_na(tmp_path: Path) -> None:
    """A numeric data.frame streams with NA as NaN; row names must match the ids."""
    path = tmp_path / "f.RData"
    frame = pd.DataFrame(
        {"a": pd.array([1, None, 3], dtype="Int32"), "b": [0.5, 1.5, np.nan]},
        index=pd.Index(["x", "y", "z"]),
    )
    rdata.write_rdata(path, {"f": frame})
    with rdata.open_numeric(path, "f", dtype="float64") as obj:
        assert obj.kind == "data.frame" and obj.col_names == ["a", "b"]
        assert obj.row_names == ["x", "y", "z"]
        block = next(obj.iter_row_blocks())
    np.testing.assert_array_equal(block, [[1.0, 0.5], [np.nan, 1.5], [3.0, np.nan]])
    out = tmp_path / "f.parquet"
    rdata.numeric_rdata_to_parquet(path, "f", out, row_ids=["x", "y", "z"], progress=False)
    assert pq.read_table(out).column("row").to_pylist() == ["x", "y", "z"]
    with pytest.raises(rdata.RDataError, match=r"row 2 is named 'y' in R but the row id is 'q'"):
        rdata.numeric_rdata_to_parquet(path, "f", out, row_ids=["x", "q", "z"], progress=False)
    factor = pd.DataFrame({"a": [1.0], "g": pd.Categorical(["u"])})
    rdata.write_rdata(path, {"f": factor})
    with pytest.raises(rdata.RDataError, match=r"column 'g' is integer \['factor'\], not numeric"):
        rdata.open_numeric(path, "f")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.RData", "f.parquet"]


# --- real R ---------------------------------------------------------------------------------------


@needs_r
def test_r_loads_what_we_write(tmp_path: Path) -> None:
    """R's load() sees the classes, types, levels, NA and values that were written."""
    path = tmp_path / "w.RData"
    matrix = rdata.RMatrix(
        np.array([[1.0, 2.0, 3.0], [4.0, 5.0, np.nan]]), row_names=["a", "b"], col_names=None
    )
    rdata.write_rdata(path, {"d": sample_frame(), "vgg": matrix})
    out = (
        run_r(
            f"""
        e <- new.env(); load("{path}", envir = e); d <- e$d; vgg <- e$vgg
        cat(ls(e), "\\n")
        cat(class(d), nrow(d), paste(sapply(d, typeof), collapse = ","), "\\n")
        cat(paste(sapply(d, function(x) paste(class(x), collapse = "/")), collapse = ","), "\\n")
        cat(levels(d$pol), "|", levels(d$size), is.ordered(d$size), is.ordered(d$pol), "\\n")
        cat(paste(sapply(d, function(x) paste(which(is.na(x)), collapse = "/")), collapse = ","),
            "\\n")
        cat(d$id[3], d$count[4], d$x[3], as.character(d$size[2]), d$flag[1], "\\n")
        cat(Encoding(d$id[3]), identical(attr(d, "row.names"), 1:4), "\\n")
        cat(class(vgg), typeof(vgg), dim(vgg), rownames(vgg), is.null(colnames(vgg)), "\\n")
        cat(vgg[2, 1], is.na(vgg[2, 3]), sum(vgg, na.rm = TRUE), "\\n")
        """
        )
        .strip()
        .split("\n")
    )
    assert lines_equal(out[0], "d vgg")
    assert lines_equal(
        out[1], "data.frame 4 character,integer,integer,logical,logical,double,integer,integer"
    )
    assert lines_equal(
        out[2], "character,integer,integer,logical,logical,numeric,factor,ordered/factor"
    )
    assert lines_equal(out[3], "liberal conservative | small medium large TRUE FALSE")
    assert lines_equal(out[4], "2,2,,2,,2,3,4")
    assert lines_equal(out[5], "ü-ß 2000000000 -1e+300 large TRUE")
    assert lines_equal(out[6], "UTF-8 TRUE")
    assert lines_equal(out[7], "matrix array double 2 3 a b TRUE")
    assert lines_equal(out[8], "4 TRUE 15")


def lines_equal(got: str, want: str) -> bool:
    """Compare one line of R output, ignoring surrounding spaces."""
    return got.strip() == want.strip()


@needs_r
def test_we_read_what_r_writes(tmp_path: Path) -> None:
    """Objects R writes (ALTREP, lists, closures, environments, ...) are read."""
    path = tmp_path / "r.RData"
    run_r(
        f"""
        seq_col <- 1:5                      # ALTREP compact integer sequence
        big_seq <- 1:100000
        real_seq <- as.numeric(10:14)
        f <- data.frame(a = 1:5, b = c(0.5, NA, 2, 3, 4))
        o <- factor(c("lo", "hi", NA), levels = c("lo", "mid", "hi"), ordered = TRUE)
        l <- list(x = 1L, y = "z", z = list(TRUE, NULL), w = quote(a + b))
        fn <- compiler::cmpfun(function(x, y = 2) x + y * 3)
        cx <- complex(real = 1, imaginary = -2)
        raw_v <- as.raw(c(1, 255))
        e <- new.env(); assign("k", 42L, envir = e)
        m <- matrix(as.integer(c(1, NA, 3, 4)), 2, 2, dimnames = list(c("r1", "r2"), NULL))
        save(seq_col, big_seq, real_seq, f, o, l, fn, cx, raw_v, e, m, file = "{path}")
        """
    )
    objs = rdata.read_rdata(path)
    np.testing.assert_array_equal(objs["seq_col"].value, [1, 2, 3, 4, 5])
    assert objs["seq_col"].typeof == "integer"
    np.testing.assert_array_equal(objs["big_seq"].value, np.arange(1, 100001))
    np.testing.assert_array_equal(objs["real_seq"].value, [10.0, 11.0, 12.0, 13.0, 14.0])
    assert objs["o"].r_class == ("ordered", "factor")
    assert objs["o"].attr("levels").value == ["lo", "mid", "hi"]
    np.testing.assert_array_equal(objs["o"].value, [1, 3, rdata.NA_INTEGER])
    lst = objs["l"]
    assert lst.attr("names").value == ["x", "y", "z", "w"]
    assert lst.value[1].value == ["z"] and lst.value[2].value[1] is rdata.NULL
    assert lst.value[3].typeof == "language"
    assert objs["fn"].typeof == "closure"
    assert objs["cx"].value.tolist() == [1 - 2j]
    assert objs["raw_v"].value.tolist() == [1, 255]
    frame = objs["e"].value["frame"]
    hashtab = objs["e"].value["hashtab"]
    found = [v for _, v in frame.value] if frame.typeof == "pairlist" else [
        v for bucket in hashtab.value if bucket.typeof == "pairlist" for _, v in bucket.value
    ]  # fmt: skip
    assert [v.value.tolist() for v in found] == [[42]]
    with rdata.open_numeric(path, "f", dtype="float64") as obj:
        assert obj.shape == (5, 2) and obj.row_names is None
        np.testing.assert_array_equal(
            next(obj.iter_row_blocks()), [[1, 0.5], [2, np.nan], [3, 2], [4, 3], [5, 4]]
        )
    with rdata.open_numeric(path, "m", dtype="float64") as obj:
        assert obj.typeof == "integer" and obj.row_names == ["r1", "r2"] and obj.col_names is None
        np.testing.assert_array_equal(obj.column(0), [1.0, np.nan])
    df = rdata.read_data_frame(path, "f")
    assert df["a"].dtype == "Int32" and df["a"].tolist() == [1, 2, 3, 4, 5]
    assert rdata.list_objects(path)["m"] == "integer [2 x 2]"


@needs_r
def test_r_written_compressions(tmp_path: Path) -> None:
    """R's gzip, bzip2, xz, uncompressed and version-2 files are read; NA bits kept."""
    for method in ["gzip", "bzip2", "xz"]:
        run_r(
            f'x <- c(1.5, NA, -3); save(x, file = "{tmp_path / method}.RData", '
            f'compress = "{method}")'
        )
    run_r(f'x <- c(1.5, NA, -3); save(x, file = "{tmp_path}/none.RData", compress = FALSE)')
    run_r(f'x <- c(1.5, NA, -3); save(x, file = "{tmp_path}/v2.RData", version = 2)')
    for name in ["gzip", "bzip2", "xz", "none", "v2"]:
        x = rdata.read_rdata(tmp_path / f"{name}.RData")["x"].value
        assert x[0] == 1.5 and np.isnan(x[1]) and x[2] == -3, name
        assert x.view(np.uint64)[1] == np.float64(rdata.NA_REAL).view(np.uint64), name


# --- recompressed fixture and atomic writing ------------------------------------------------------


def test_recompressed_fixture_reads_alike(osf_fixture: Path, tmp_path: Path) -> None:
    """The fixture recompressed (none, bzip2, xz) reads the same."""
    raw = gzip.decompress((osf_fixture / "faces.RData").read_bytes())
    reference = rdata.inspect_data_frame(osf_fixture / "faces.RData", "d")
    for name, data in [("plain", raw), ("bz", bz2.compress(raw)), ("xz", lzma.compress(raw))]:
        path = tmp_path / f"{name}.RData"
        path.write_bytes(data)
        assert rdata.inspect_data_frame(path, "d") == reference, name


def test_atomic_output(tmp_path: Path) -> None:
    """atomic_output renames on success and leaves nothing (and the old file) on failure."""
    target = tmp_path / "sub" / "out.txt"
    with atomic_output(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        tmp.write_text("done")
        assert not target.exists()
    assert target.read_text() == "done"
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "done"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]


@needs_r
def test_deferred_strings_expand_like_r(tmp_path: Path) -> None:
    """Deferred-string ALTREP vectors expand to the strings R makes."""
    path = tmp_path / "ds.RData"
    numbers = "c(0.1, 1e5, 123456.5, 1/3, -2.5e-10, 100, NA, NaN, Inf, -7, 2^60, 1234567)"
    expected = run_r(
        f"""
        ds <- as.character({numbers}); di <- as.character(c(5L, NA, -12L))
        save(ds, di, file = "{path}")
        cat(ifelse(is.na(ds), "<NA>", ds), ifelse(is.na(di), "<NA>", di), sep = "\\n")
        """
    ).split("\n")[:15]
    raw = gzip.decompress(path.read_bytes())
    assert raw.count(b"deferred_string") == 1  # the ALTREP branch is what this test exercises
    objs = rdata.read_rdata(path)
    got = ["<NA>" if v is None else v for v in objs["ds"].value + objs["di"].value]
    assert got == expected


@needs_r
def test_altrep_wrappers_and_sequences_stream(tmp_path: Path) -> None:
    """ALTREP wrappers and compact sequences are read in full and through the spool."""
    path = tmp_path / "wrap.RData"
    run_r(
        f"""
        x <- .Internal(wrap_meta(c(3.5, 1, 2), 0, 0))
        f <- data.frame(a = .Internal(wrap_meta(as.numeric(1:4), 0, 0)), b = 5:8)
        m <- .Internal(wrap_meta(matrix(as.numeric(1:6), 2, 3), 0, 0))
        save(x, f, m, file = "{path}")
        """
    )
    raw = gzip.decompress(path.read_bytes())
    for cls in (b"wrap_real", b"compact_intseq", b"compact_realseq"):
        assert cls in raw  # the branches this test is about
    objs = rdata.read_rdata(path)
    np.testing.assert_array_equal(objs["x"].value, [3.5, 1.0, 2.0])
    np.testing.assert_array_equal(objs["m"].attr("dim").value, [2, 3])
    with rdata.open_numeric(path, "f", dtype="float64") as obj:
        np.testing.assert_array_equal(next(obj.iter_row_blocks()), [[1, 5], [2, 6], [3, 7], [4, 8]])
    with rdata.open_numeric(path, "m", dtype="float64") as obj:
        assert obj.shape == (2, 3)
        np.testing.assert_array_equal(next(obj.iter_row_blocks()), [[1, 3, 5], [2, 4, 6]])


def test_streaming_memory_does_not_hold_the_matrix(tmp_path: Path) -> None:
    """Python-side allocations while converting (and checking that every value is finite) stay
    far below the size of the matrix."""
    import tracemalloc

    rows, cols = 131_072, 64  # 64 MiB of doubles (measured peak: about 16 MiB)
    values = np.random.default_rng(7).normal(size=(rows, cols))
    path = tmp_path / "big.RData"
    rdata.write_rdata(path, {"vgg": values}, compress=None)
    expected_head = values[:1000].astype(np.float32)
    del values
    out = tmp_path / "big.parquet"
    tracemalloc.start()
    try:
        rdata.numeric_rdata_to_parquet(
            path,
            "vgg",
            out,
            rows_per_block=4096,
            progress=False,
            compression="none",
            finite=True,  # the check of every value adds a block's worth at most
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 * 2**20, f"peak {peak / 2**20:.0f} MiB for a 64 MiB matrix"
    first = pq.ParquetFile(out).read_row_group(0)
    head = np.asarray(first.column("features").combine_chunks().values).reshape(-1, cols)
    np.testing.assert_array_equal(head[:1000], expected_head)


def test_fixture_read_and_rewritten_is_identical(osf_fixture: Path, tmp_path: Path) -> None:
    """faces.RData read as RObject trees and written back holds the same d (R: identical())."""
    source = osf_fixture / "faces.RData"
    copy = tmp_path / "faces_copy.RData"
    rdata.write_rdata(copy, rdata.read_rdata(source))
    assert pyreadr.read_r(str(copy))["d"].equals(pyreadr.read_r(str(source))["d"])
    if RSCRIPT is not None:
        out = run_r(
            f'load("{copy}"); e <- new.env(); load("{source}", envir = e); cat(identical(d, e$d))'
        )
        assert out.strip() == "TRUE"
    skimmed = rdata.RObject(rdata.STRSXP, rdata.OmittedData(3))  # as a light pass leaves it
    with pytest.raises(rdata.RDataError, match=r"character vector whose data were not kept"):
        rdata.write_rdata(copy, {"s": skimmed})


# --- legal but hostile inputs: compact sequences, repeated names, deep nesting --------------------


def symbol(name: str) -> bytes:
    """A SYMSXP item (not a reference)."""
    return xdr(rdata.SYMSXP, rdata.CHARSXP | (64 << 12), len(name)) + name.encode()


def compact_sequence(
    n: float, start: float = 1, integer: bool = False, attrs: bytes = b""
) -> bytes:
    """R's ALTREP compact sequence as save() writes it: class info, state (n, start, step = 1),
    attributes (a pairlist, or NULL)."""
    cls, sexptype = (
        ("compact_intseq", rdata.INTSXP) if integer else ("compact_realseq", rdata.REALSXP)
    )
    info = (
        xdr(rdata.LISTSXP) + symbol(cls) + xdr(rdata.LISTSXP) + symbol("base")
        + xdr(rdata.LISTSXP) + xdr(rdata.INTSXP, 1, sexptype) + xdr(rdata.NILVALUE_SXP)
    )  # fmt: skip
    state = xdr(rdata.REALSXP, 3) + np.array([n, start, 1], ">f8").tobytes()
    return xdr(rdata.ALTREP_SXP) + info + state + (attrs or xdr(rdata.NILVALUE_SXP))


def dim_attribute(n_rows: int, n_cols: int) -> bytes:
    """The attributes pairlist holding dim = c(n_rows, n_cols)."""
    return (
        xdr(rdata.LISTSXP | rdata.HAS_TAG_BIT) + symbol("dim")
        + xdr(rdata.INTSXP, 2, n_rows, n_cols) + xdr(rdata.NILVALUE_SXP)
    )  # fmt: skip


def nested_list(depth: int) -> bytes:
    """list(list(list(... 1 ...))) nested ``depth`` lists deep."""
    return xdr(rdata.VECSXP, 1) * depth + xdr(rdata.INTSXP, 1, 1)


def with_objects(path: Path, objects: dict, extra: list[tuple[str, bytes]]) -> None:
    """Write ``objects`` with the project's writer, then the serialized ``extra`` objects after
    them (names may repeat), gzip-compressed as R saves."""
    plain = path.with_suffix(".plain")
    rdata.write_rdata(plain, objects, compress=None)
    raw = plain.read_bytes()
    plain.unlink()
    assert raw.endswith(xdr(rdata.NILVALUE_SXP))
    tail = b"".join(xdr(rdata.LISTSXP | rdata.HAS_TAG_BIT) + symbol(n) + item for n, item in extra)
    path.write_bytes(gzip.compress(raw[:-4] + tail + xdr(rdata.NILVALUE_SXP)))


def item_bytes(path: Path, value: object) -> bytes:
    """The serialized item of ``value`` as the project's writer writes it (in a scratch file at
    ``path``): what follows the tag of the one object saved."""
    rdata.write_rdata(path, {"x": value}, compress=None)
    raw = path.read_bytes()
    path.unlink()
    head = rdx3(b"") + xdr(rdata.LISTSXP | rdata.HAS_TAG_BIT) + symbol("x")
    assert raw.startswith(head) and raw.endswith(xdr(rdata.NILVALUE_SXP))
    return raw[len(head) : -4]


def small_faces() -> pd.DataFrame:
    return pd.DataFrame({"userid": ["u1", "u2", "u3"], "age": [20.0, 30.0, 40.0]})


def test_compact_sequences_beside_the_data_are_never_expanded(tmp_path: Path) -> None:
    """idx <- 1:1e10 (a compact sequence: 100 bytes in the file) saved beside d: skipping it
    allocates nothing (it used to be expanded: a 74.5 GiB MemoryError); keeping it whole is a
    clear error naming the file, the object and the size; pyreadr, which expands every compact
    sequence of the file, is not let near it."""
    path = tmp_path / "faces.RData"
    with_objects(path, {"d": small_faces()}, [("idx", compact_sequence(1e10))])
    assert rdata.list_objects(path) == {
        "d": "list of length 2, class ['data.frame']",
        "idx": "double of length 10000000000",
    }
    assert [c.name for c in rdata.inspect_data_frame(path, "d")] == ["userid", "age"]
    assert list(rdata.read_rdata(path, names=["d"])) == ["d"]
    with pytest.raises(
        rdata.RDataError,
        match=r"faces.RData: object 'idx': a compact sequence \(R's 1:n or seq_len\(n\)\) of "
        r"10,000,000,000 values \(80.0 GB as doubles\) is more than the 16,777,216",
    ):
        rdata.read_rdata(path)
    with pytest.raises(
        rdata.RDataError,
        match=r"faces.RData: object 'idx' holds a compact sequence .* of 10,000,000,000 values, "
        r"which pyreadr would expand in memory \(80.0 GB\) although only 'd' is read",
    ):
        rdata.read_data_frame(path, "d")
    # a short one is read as R reads it, by both readers
    with_objects(path, {"d": small_faces()}, [("idx", compact_sequence(5, start=3, integer=True))])
    np.testing.assert_array_equal(rdata.read_rdata(path)["idx"].value, [3, 4, 5, 6, 7])
    assert rdata.read_data_frame(path, "d")["userid"].tolist() == ["u1", "u2", "u3"]


def test_a_compact_sequence_that_is_converted_is_computed_block_by_block(tmp_path: Path) -> None:
    """A compact sequence as the object converted takes no spool and no memory beyond a block;
    one that cannot have the expected rows is refused before anything is made."""
    path = tmp_path / "vgg.RData"
    with_objects(
        path, {"d": small_faces()}, [("vgg", compact_sequence(12, attrs=dim_attribute(3, 4)))]
    )
    with rdata.open_numeric(path, "vgg", dtype="float64") as obj:
        assert obj.shape == (3, 4) and obj._spool.length == 0
        np.testing.assert_array_equal(next(obj.iter_row_blocks()), np.arange(1, 13).reshape(4, 3).T)
    out = tmp_path / "f.parquet"
    rdata.numeric_rdata_to_parquet(path, "vgg", out, row_ids=["a", "b", "c"], progress=False)
    assert pq.read_table(out).column("features").to_pylist()[2] == [3, 6, 9, 12]
    # 1:1e10 as the descriptors of three faces
    with_objects(path, {"d": small_faces()}, [("vgg", compact_sequence(1e10))])
    with pytest.raises(
        rdata.RDataError,
        match=r"vgg.RData: object 'vgg' has 10000000000 rows but 3 row ids were given",
    ):
        rdata.numeric_rdata_to_parquet(path, "vgg", out, row_ids=["a", "b", "c"], progress=False)
    # ... or as a matrix of three rows, whose one row would not fit in a block
    huge = compact_sequence(3 * 2**31, attrs=dim_attribute(3, 2**31 - 1))
    with_objects(path, {"d": small_faces()}, [("vgg", huge)])
    with pytest.raises(rdata.RDataError, match=r"object 'vgg': dim \[3, 2147483647\] does not"):
        rdata.open_numeric(path, "vgg")
    huge = compact_sequence(3 * (2**31 - 1), attrs=dim_attribute(3, 2**31 - 1))
    with_objects(path, {"d": small_faces()}, [("vgg", huge)])
    with pytest.raises(
        rdata.RDataError,
        match=r"object 'vgg' has 2,147,483,647 columns: one row would take 8,192 MiB, more than",
    ):
        rdata.open_numeric(path, "vgg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.parquet", "vgg.RData"]


def test_the_last_of_two_objects_with_one_name_wins_as_in_r(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """R's load() keeps the last object of a name saved twice; every reader here does too, and
    says so in a warning naming the file and the object."""
    first, last = small_faces(), pd.DataFrame({"userid": ["v1", "v2"], "age": [1.0, 2.0]})
    path = tmp_path / "twice.RData"
    rdata.write_rdata(path, {"d": first, "vgg": np.ones((3, 2))}, compress=None)
    raw = path.read_bytes()
    tail = xdr(rdata.LISTSXP | rdata.HAS_TAG_BIT) + symbol("d")
    second = tmp_path / "second.RData"
    rdata.write_rdata(second, {"d": last, "vgg": np.full((2, 2), 7.0)}, compress=None)
    # the second file's objects follow the first's, with their symbols written out again
    body = second.read_bytes()[len(rdx3(b"")) :]
    body = body.replace(xdr(rdata.REFSXP | (1 << 8)), symbol("d"), 1)  # no references across
    path.write_bytes(raw[:-4] + body)
    second.unlink()
    with caplog.at_level("WARNING"):
        assert rdata.read_rdata(path)["d"].value[0].value == ["v1", "v2"]
        assert rdata.read_data_frame(path, "d")["userid"].tolist() == ["v1", "v2"]
        with rdata.open_numeric(path, "vgg", dtype="float64") as obj:
            np.testing.assert_array_equal(next(obj.iter_row_blocks()), np.full((2, 2), 7.0))
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert (
        f"{path}: object 'd' is saved more than once; R's load() keeps the last one"
        in (warnings[0])
    )
    assert any("object 'vgg' is saved more than once" in w for w in warnings)
    assert tail in path.read_bytes()


def test_deep_nesting_is_read_or_refused_in_one_line(tmp_path: Path) -> None:
    """A list nested 3,000 deep (R saves and loads it) is read and skipped; nesting beyond the
    reader's limit is one RDataError naming the file, the object and the limit (it used to be a
    RecursionError with thousands of lines and no file name)."""
    path = tmp_path / "deep.RData"
    with_objects(path, {"d": small_faces()}, [("deep", nested_list(3000))])
    deep = rdata.read_rdata(path)["deep"]
    for _ in range(3000):
        deep = deep.value[0]
    np.testing.assert_array_equal(deep.value, [1])
    assert rdata.read_data_frame(path, "d")["userid"].tolist() == ["u1", "u2", "u3"]
    with_objects(path, {"d": small_faces()}, [("deep", nested_list(rdata.MAX_DEPTH + 5))])
    with pytest.raises(rdata.RDataError) as error:
        rdata.list_objects(path)
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{path}: object 'deep': nested more than")
    assert "10,000 levels deep" in message
    assert len(error.traceback) < 10  # not a few frames per level
    with pytest.raises(rdata.RDataError, match=r"object 'deep': nested more than 10,000"):
        rdata.inspect_data_frame(path, "d")
    # pyreadr recurses on the C stack (a list 7,000 deep crashed it): refused before it starts
    with_objects(path, {"d": small_faces()}, [("deep", nested_list(8000))])
    assert rdata.list_objects(path)["deep"] == "list of length 1"
    with pytest.raises(
        rdata.RDataError,
        match=r"deep.RData: object 'deep' is nested 8,001 levels deep; pyreadr, which reads 'd', "
        r"recurses on the C stack and would crash beyond about",
    ):
        rdata.read_data_frame(path, "d")


# --- the conversion of a cohort: descriptors that cannot be what is expected ----------------------


def convert(folder: Path) -> None:
    """convert_cohort on folder/faces.RData (d) and folder/vgg.RData (vgg), writing folder/out."""
    from polface.data.convert import convert_cohort

    out = folder / "out"
    convert_cohort(
        faces_rdata=str(folder / "faces.RData"), features_rdata=str(folder / "vgg.RData"),
        faces_object="d", features_object="vgg", id_column="userid", block_rows=2,
        precision="float64", faces_parquet=str(out / "faces.parquet"),
        features_parquet=str(out / "features.parquet"), columns_csv=str(out / "columns.csv"),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("bad", "row", "column", "kind"),
    [(np.inf, 3, 2, "Inf"), (-np.inf, 1, 4, "-Inf"), (rdata.NA_REAL, 4, 1, "NA or NaN")],
)
def test_descriptors_must_be_finite(
    tmp_path: Path, bad: float, row: int, column: int, kind: str
) -> None:
    """NA, NaN or infinite descriptors (the models cannot fit them; they used to pass the
    conversion) are an error naming the file, the row (number and id) and the column; nothing is
    written."""
    faces = pd.DataFrame({"userid": [f"u{i}" for i in range(1, 6)], "age": np.arange(5.0)})
    rdata.write_rdata(tmp_path / "faces.RData", {"d": faces})
    values = np.arange(20.0).reshape(5, 4)
    values[row - 1, column - 1] = bad
    values[4, 3] = np.nan  # a later one is not the one named
    rdata.write_rdata(
        tmp_path / "vgg.RData", {"vgg": rdata.RMatrix(values, col_names=list("abcd"))}
    )
    with pytest.raises(rdata.RDataError) as error:
        convert(tmp_path)
    assert str(error.value) == (
        f"{tmp_path / 'vgg.RData'}: object 'vgg': row {row} (id 'u{row}'), column {column} "
        f"({'abcd'[column - 1]!r}) is {kind}; every value must be finite"
    )
    assert list((tmp_path / "out").iterdir()) == []


def test_a_descriptor_file_claiming_more_than_it_holds(tmp_path: Path) -> None:
    """A truncated file claiming 2^40 values is said to be one (it used to be reported as
    needing 17,592 GB free), uncompressed or gzip-compressed."""
    rdata.write_rdata(tmp_path / "faces.RData", {"d": small_faces()})
    claim = xdr(rdata.REALSXP | rdata.HAS_ATTR_BIT, -1, 256, 0) + bytes(8000)
    vgg = tmp_path / "vgg.RData"
    vgg.write_bytes(rdx3(one_object("vgg", claim)))
    size = vgg.stat().st_size
    with pytest.raises(
        rdata.RDataError,
        match=rf"vgg.RData: object 'vgg' claims 1,099,511,627,776 double values "
        rf"\(8,796,093,022,208 bytes\) but the file has room for at most {size - 63:,} bytes "
        rf"after them \({size:,} bytes in all\): it is truncated or corrupt",
    ):
        convert(tmp_path)
    vgg.write_bytes(gzip.compress(rdx3(one_object("vgg", claim))))
    with pytest.raises(rdata.RDataError, match=r"claims .* bytes of gzip data inflate to at most"):
        convert(tmp_path)


def test_a_cohort_of_no_rows_is_a_clear_error(tmp_path: Path) -> None:
    """A data.frame of no rows is an error naming the file (it used to be a pyarrow-internal
    one)."""
    vgg = tmp_path / "vgg.RData"
    rdata.write_rdata(tmp_path / "faces.RData", {"d": small_faces().iloc[:0]})
    rdata.write_rdata(vgg, {"vgg": np.zeros((0, 4))})
    with pytest.raises(
        rdata.RDataError,
        match=r"faces.RData: data.frame 'd' has 0 rows; expected at least 1 \(a row per face\)",
    ):
        convert(tmp_path)
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_the_conversion_skips_a_compact_sequence_beside_the_descriptors(tmp_path: Path) -> None:
    """idx <- 1:1e10 saved before vgg: the conversion holds nothing of it (Python allocations
    stay under 32 MiB; it used to expand it, 74.5 GiB)."""
    import tracemalloc

    rdata.write_rdata(tmp_path / "faces.RData", {"d": small_faces()})
    vgg = np.arange(12.0).reshape(3, 4)
    matrix = item_bytes(tmp_path / "scratch.RData", vgg)
    with_objects(tmp_path / "vgg.RData", {}, [("idx", compact_sequence(1e10)), ("vgg", matrix)])
    tracemalloc.start()
    try:
        convert(tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    features = pq.read_table(tmp_path / "out" / "features.parquet")
    assert features.column("userid").to_pylist() == ["u1", "u2", "u3"]
    np.testing.assert_array_equal(features.column("features").to_pylist(), vgg)


def test_objects_that_are_skipped_hold_nothing(tmp_path: Path) -> None:
    """A list of 50,000 empty vectors and a pairlist as long (a few KB compressed; R loads them)
    saved before and after the data: the readers that skip them keep no node of them (the old
    reader built an object per element: tens of MiB here, any amount from a small file)."""
    import tracemalloc

    n = 50_000
    junk = xdr(rdata.VECSXP, n) + xdr(rdata.INTSXP, 0) * n
    chain = (xdr(rdata.LISTSXP) + xdr(rdata.INTSXP, 0)) * n + xdr(rdata.NILVALUE_SXP)
    matrix = item_bytes(tmp_path / "scratch.RData", np.ones((3, 2)))
    path = tmp_path / "junk.RData"
    with_objects(path, {}, [("junk", junk), ("vgg", matrix), ("chain", chain)])
    tracemalloc.start()
    try:
        listed = rdata.list_objects(path)
        kept = rdata.read_rdata(path, names=["vgg"])
        with rdata.open_numeric(path, "vgg", dtype="float64") as obj:
            block = next(obj.iter_row_blocks())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    assert listed == {
        "junk": f"list of length {n}",
        "vgg": "double [3 x 2]",
        "chain": f"pairlist of length {n}",
    }
    np.testing.assert_array_equal(kept["vgg"].attr("dim").value, [3, 2])
    np.testing.assert_array_equal(block, np.ones((3, 2)))


def test_attributes_that_do_not_describe_the_object_are_not_held(tmp_path: Path) -> None:
    """attr(vgg, "junk") <- numeric(2e6) (16 MB, compressible to almost nothing): streaming vgg
    keeps its dim, not the junk (the old reader held every attribute in full)."""
    import tracemalloc

    values = np.arange(6.0).reshape(3, 2)
    dim = rdata.RObject(rdata.INTSXP, np.array([3, 2], dtype=np.int32))
    junk = rdata.RObject(rdata.REALSXP, np.zeros(2_000_000))
    vgg = rdata.RObject(rdata.REALSXP, values.T.reshape(-1), {"dim": dim, "junk": junk})
    path = tmp_path / "vgg.RData"
    rdata.write_rdata(path, {"vgg": vgg})
    tracemalloc.start()
    try:
        with rdata.open_numeric(path, "vgg", dtype="float64") as obj:
            block = next(obj.iter_row_blocks())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    np.testing.assert_array_equal(block, values)
    assert len(rdata.read_rdata(path)["vgg"].attr("junk")) == 2_000_000  # kept when asked for


def test_a_compressed_file_claiming_more_than_the_disk_holds_writes_nothing(tmp_path: Path) -> None:
    """bzip2 has no useful bound on what a file inflates to: a vector claiming more than the
    spool's disk holds is refused before the spool grows, naming the file and the size, and the
    conversion names the values claimed."""
    claim = xdr(rdata.REALSXP, -1, 65536, 0) + bytes(800)
    vgg = tmp_path / "vgg.RData"
    vgg.write_bytes(bz2.compress(rdx3(one_object("vgg", claim))))
    with pytest.raises(OSError, match=r"vgg.RData: a vector of 281,474,976,710,656 values needs"):
        rdata.open_numeric(vgg, "vgg", spool_dir=tmp_path)
    rdata.write_rdata(tmp_path / "faces.RData", {"d": small_faces()})
    with pytest.raises(OSError, match=r"parquet of the 281,474,976,710,656 descriptor values that"):
        convert(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["faces.RData", "out", "vgg.RData"]
    assert list((tmp_path / "out").iterdir()) == []
