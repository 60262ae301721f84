"""polface.models.folds: balanced seeded folds and validation of user-supplied fold files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from polface.models.folds import make_folds, read_folds


def _ids(n: int) -> list[str]:
    return [f"u{i:05d}" for i in range(n)]


def test_make_folds_balanced_and_complete() -> None:
    ids = _ids(103)
    folds = make_folds(ids, id_column="userid", n_outer=5, n_inner=4, seed=7)
    assert list(folds.columns) == ["userid", "outer_fold", "inner_fold"]
    assert folds["userid"].tolist() == ids
    outer_sizes = folds["outer_fold"].value_counts()
    assert sorted(outer_sizes.index) == [1, 2, 3, 4, 5]
    assert outer_sizes.max() - outer_sizes.min() <= 1
    for k in range(1, 6):
        within = folds.loc[folds["outer_fold"] == k, "inner_fold"].value_counts()
        assert within.max() - within.min() <= 1
        training = folds.loc[folds["outer_fold"] != k, "inner_fold"].value_counts()
        assert sorted(training.index) == [1, 2, 3, 4]
        assert training.max() - training.min() <= 2


def test_make_folds_seeded_and_order_free() -> None:
    ids = _ids(60)
    a = make_folds(ids, id_column="userid", n_outer=4, n_inner=3, seed=1)
    b = make_folds(ids, id_column="userid", n_outer=4, n_inner=3, seed=1)
    c = make_folds(ids, id_column="userid", n_outer=4, n_inner=3, seed=2)
    pd.testing.assert_frame_equal(a, b)
    assert not a["outer_fold"].equals(c["outer_fold"])
    shuffled = list(np.random.default_rng(0).permutation(ids))
    d = (
        make_folds(shuffled, id_column="userid", n_outer=4, n_inner=3, seed=1)
        .set_index("userid")
        .loc[ids]
        .reset_index()
    )
    pd.testing.assert_frame_equal(a, d)


def test_make_folds_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="share a userid"):
        make_folds(["a", "b", "a"], id_column="userid", n_outer=2, n_inner=2, seed=0)
    with pytest.raises(ValueError, match="n_outer"):
        make_folds(_ids(5), id_column="userid", n_outer=6, n_inner=2, seed=0)
    with pytest.raises(ValueError, match="n_inner"):
        make_folds(_ids(6), id_column="userid", n_outer=3, n_inner=5, seed=0)


def _write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_read_folds_fixture(osf_fixture: Path) -> None:
    pyreadr = pytest.importorskip("pyreadr")
    raw = pd.read_csv(osf_fixture / "folds.csv", dtype={"userid": str})
    faces = pyreadr.read_r(str(osf_fixture / "faces.RData"))["d"]
    ids = faces["userid"].astype(str).tolist()[::-1]  # the cohort, in another order
    folds = read_folds(osf_fixture / "folds.csv", ids, id_column="userid")
    assert folds["userid"].tolist() == ids
    merged = folds.merge(raw, on="userid", suffixes=("", "_raw"))
    assert (merged["outer_fold"] == merged["outer_fold_raw"]).all()
    assert (merged["inner_fold"] == merged["inner_fold_raw"]).all()
    assert folds["outer_fold"].dtype == np.int64


def test_read_folds_parquet_roundtrip(tmp_path: Path) -> None:
    made = make_folds(_ids(20), id_column="userid", n_outer=4, n_inner=3, seed=3)
    made.to_parquet(tmp_path / "f.parquet")
    pd.testing.assert_frame_equal(
        read_folds(tmp_path / "f.parquet", _ids(20), id_column="userid"), made
    )


@pytest.mark.parametrize(
    ("body", "ids", "message"),
    [
        ("userid,outer_fold\na,1\n", ["a"], r"missing column\(s\) \['inner_fold'\]"),
        (
            "userid,outer_fold,inner_fold\na,1,1\nb,2,1\na,2,2\n",
            ["a", "b"],
            r"userid 'a' appears more than once \(row 1, line 2, row 3, line 4\)",
        ),
        (
            "userid,outer_fold,inner_fold\na,1,1\nb,0,1\n",
            ["a", "b"],
            r"row 2, line 3 \(userid 'b'\): outer_fold = '0', expected an integer >= 1",
        ),
        (
            "userid,outer_fold,inner_fold\na,1,1\nb,2,1.5\n",
            ["a", "b"],
            r"row 2, line 3 \(userid 'b'\): inner_fold = '1.5'",
        ),
        ("userid,outer_fold,inner_fold\na,1,1\nb,2,\n", ["a", "b"], r"inner_fold = ''"),
        ("userid,outer_fold,inner_fold\na,1,1\nb,x,1\n", ["a", "b"], r"outer_fold = 'x'"),
        (
            "userid,outer_fold,inner_fold\na,1,1\nc,2,1\n",
            ["a", "c", "b"],
            r"1 userid\(s\) of the cohort have no folds, e.g. 'b'",
        ),
        (
            "userid,outer_fold,inner_fold\na,1,1\nz,2,1\nb,2,2\n",
            ["a", "b"],
            r"row 2, line 3: userid 'z' is not in the cohort",
        ),
        ("userid,outer_fold,inner_fold\na,1,1\n,2,1\n", ["a"], r"row 2, line 3: empty"),
        ("userid,outer_fold,inner_fold\na,1,1\nb,1,2\n", ["a", "b"], r"single value"),
    ],
)
def test_read_folds_errors(tmp_path: Path, body: str, ids: list[str], message: str) -> None:
    path = _write_csv(tmp_path / "folds.csv", body)
    with pytest.raises(ValueError, match=message) as info:
        read_folds(path, ids, id_column="userid")
    assert str(path) in str(info.value)


def test_read_folds_keeps_na_like_userids(tmp_path: Path) -> None:
    rows = "NA,1,1\nb,2,2\nc,1,2\nd,2,3\ne,1,3\nf,2,1\n"
    path = _write_csv(tmp_path / "folds.csv", "userid,outer_fold,inner_fold\n" + rows)
    folds = read_folds(path, ["b", "NA", "c", "d", "e", "f"], id_column="userid")
    assert folds["userid"].tolist() == ["b", "NA", "c", "d", "e", "f"]
    assert folds["outer_fold"].tolist() == [2, 1, 1, 2, 1, 2]


def test_folds_name_their_id_column(tmp_path: Path) -> None:
    """The caller names the id column: an image set's folds are keyed by image_id."""
    ids = _ids(30)
    by_user = make_folds(ids, id_column="userid", n_outer=3, n_inner=3, seed=5)
    by_image = make_folds(ids, id_column="image_id", n_outer=3, n_inner=3, seed=5)
    assert list(by_image.columns) == ["image_id", "outer_fold", "inner_fold"]
    pd.testing.assert_frame_equal(by_image.rename(columns={"image_id": "userid"}), by_user)
    by_image.to_csv(tmp_path / "folds.csv", index=False)
    back = read_folds(tmp_path / "folds.csv", ids, id_column="image_id")
    pd.testing.assert_frame_equal(back, by_image)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['userid'\]") as info:
        read_folds(tmp_path / "folds.csv", ids, id_column="userid")
    assert str(tmp_path / "folds.csv") in str(info.value)
    with pytest.raises(ValueError, match="image_id 'u00001' appears more than once"):
        pd.concat([by_image, by_image.iloc[[1]]]).to_csv(tmp_path / "dup.csv", index=False)
        read_folds(tmp_path / "dup.csv", ids, id_column="image_id")
