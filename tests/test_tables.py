"""Tests of polface.report.tables: Table 1, Table 2 / S1 and the Markdown / LaTeX / CSV writers."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from polface.data.osf import SAMPLES, interpretable_features
from polface.io import write_atomic
from polface.metrics import (
    child_seed,
    delong_ci,
    demographic_strata,
    majority_accuracy,
    paired_accuracy,
    permutation_auc,
)
from polface.report.figures import figure2, figure_feature_sets, save_figure, write_figure2
from polface.report.render import (
    escape_latex,
    escape_markdown,
    format_ci,
    to_latex,
    to_markdown,
    wide_display,
    write_table,
)
from polface.report.tables import figure2_table, table1, table2, table_s1

#: The OSF cohorts' column names, passed explicitly as the workflow does.
COLUMNS = {"target_column": "sample", "id_column": "userid"}


def _tiny_faces() -> pd.DataFrame:
    """Six people in two samples with known counts, sexes, ethnicities and ages."""
    return pd.DataFrame(
        {
            "userid": [f"u{i}" for i in range(8)],
            "gender": pd.array([1, 0, 1, 1, 0, None, 0, 1], dtype="Int32"),
            "age": [20.0, 30.0, 40.0, 50.0, np.nan, 33.0, 25.0, 60.0],
            "country": ["united states"] * 6 + ["canada"] * 2,
            "database": ["dating"] * 8,
            "ethnicity.value": [
                "white",
                "black",
                "white",
                "asian",
                "white",
                "white",
                "white",
                None,
            ],
            "pol": pd.Categorical(
                ["liberal"] * 4 + ["conservative"] * 2 + ["liberal", "conservative"],
                categories=["liberal", "conservative"],
            ),
            "pol_dat_us": pd.array([0, 0, 0, 0, 1, 1, None, None], dtype="Int32"),
            "pol_dat_ca": pd.array([None] * 6 + [0, 1], dtype="Int32"),
        }
    )


def test_table1_known_values() -> None:
    t = table1(_tiny_faces(), samples=["pol_dat_us", "pol_dat_ca"], id_column="userid")
    assert t[["sample", "orientation"]].values.tolist() == [
        ["pol_dat_us", "liberal"],
        ["pol_dat_us", "conservative"],
        ["pol_dat_ca", "liberal"],
        ["pol_dat_ca", "conservative"],
    ]
    lib = t.iloc[0]
    assert (lib["country"], lib["platform"], lib["n"]) == ("united states", "dating", 4)
    assert lib["pct_female"] == 75.0
    assert lib["pct_white"] == 50.0
    # Type-7 quartiles of 20, 30, 40, 50.
    assert (lib["age_q1"], lib["age_median"], lib["age_q3"]) == (27.5, 35.0, 42.5)
    assert lib["age_mean"] == 35.0
    con = t.iloc[1]
    assert con["n"] == 2 and con["n_age"] == 1
    assert con["pct_female"] == 0.0  # the NA gender is ignored
    assert con["age_median"] == 33.0
    assert t.iloc[3]["pct_white"] != t.iloc[3]["pct_white"]  # no known ethnicity: NaN
    assert t.iloc[2]["country"] == "canada"


def test_table1_rejects_inconsistent_pol() -> None:
    faces = _tiny_faces()
    faces.loc[2, "pol"] = "conservative"
    with pytest.raises(ValueError, match=r"row 3 \(userid 'u2'\): pol_dat_us = 0 but pol"):
        table1(faces, samples=["pol_dat_us"], id_column="userid")


def test_table1_on_fixture(osf_fixture: Path) -> None:
    pyreadr = pytest.importorskip("pyreadr")
    faces = pyreadr.read_r(str(osf_fixture / "faces.RData"))["d"]
    # The release codes gender 1 = female: facial hair is far more common where gender is 0.
    hair = faces.groupby("gender")["facial_hair"].mean()
    assert hair[0] > 2 * hair[1]
    t = table1(faces, samples=SAMPLES, id_column="userid")
    assert len(t) == 8
    for sample in ["pol_dat_us", "pol_dat_ca", "pol_dat_uk", "pol_fb_us"]:
        counts = faces[sample].dropna().astype(int).value_counts()
        rows = t[t["sample"] == sample].set_index("orientation")
        assert rows.loc["liberal", "n"] == counts[0]
        assert rows.loc["conservative", "n"] == counts[1]
    assert t.set_index("sample").loc["pol_fb_us", "platform"].unique().tolist() == ["fb"]
    assert t["pct_female"].between(0, 100).all() and t["pct_white"].between(0, 100).all()
    assert (t["age_q1"] <= t["age_median"]).all() and (t["age_median"] <= t["age_q3"]).all()


def _predictions(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    for model, shift in [("pol_dat_us", 1.0), ("pol_fb_us", 0.3)]:
        for sample, n in [("pol_dat_us", 80), ("pol_fb_us", 50)]:
            y = rng.integers(0, 2, size=n)
            y[:2] = [0, 1]
            parts.append(
                pd.DataFrame(
                    {
                        "model": model,
                        "sample": sample,
                        "userid": [f"{sample}-{i}" for i in range(n)],
                        "y": y,
                        "score": rng.normal(size=n) + shift * y,
                    }
                )
            )
    return pd.concat(parts, ignore_index=True)


def test_table2_matches_delong_per_cell() -> None:
    preds = _predictions(1)
    t = table2(preds, **COLUMNS)
    assert t[["model", "sample"]].values.tolist() == [
        ["pol_dat_us", "pol_dat_us"],
        ["pol_dat_us", "pol_fb_us"],
        ["pol_fb_us", "pol_dat_us"],
        ["pol_fb_us", "pol_fb_us"],
    ]
    for row in t.itertuples():
        cell = preds[(preds["model"] == row.model) & (preds["sample"] == row.sample)]
        assert (row.auc, row.lo, row.hi, row.se) == delong_ci(cell["y"], cell["score"])
        assert row.n == len(cell) and row.n_positive == int(cell["y"].sum())
        assert row.n_negative == row.n - row.n_positive
    wide = wide_display(t, target_column="sample")
    assert wide.index.tolist() == ["pol_dat_us", "pol_fb_us", "n"]
    assert wide.columns.tolist() == ["pol_dat_us", "pol_fb_us"]
    first = t.iloc[0]
    assert wide.iloc[0, 0] == f"{first.auc:.2f} [{first.lo:.2f}, {first.hi:.2f}]"
    assert wide.loc["n"].tolist() == ["80", "50"]


def test_table2_errors_and_missing_cells() -> None:
    preds = _predictions(2)
    with pytest.raises(ValueError, match=r"userid 'pol_dat_us-0' appears"):
        table2(pd.concat([preds, preds.iloc[[0]]], ignore_index=True), **COLUMNS)
    one_class = preds.copy()
    one_class.loc[one_class["sample"] == "pol_fb_us", "y"] = 1
    with pytest.raises(ValueError, match=r"model 'pol_dat_us' on sample 'pol_fb_us'.*both"):
        table2(one_class, **COLUMNS)
    with pytest.raises(KeyError, match="score"):
        table2(preds.drop(columns="score"), **COLUMNS)


def test_table_s1_feature_sets(osf_fixture: Path) -> None:
    pyreadr = pytest.importorskip("pyreadr")
    faces = pyreadr.read_r(str(osf_fixture / "faces.RData"))["d"]
    pose = interpretable_features(faces, "head_pose")
    assert (pose.ge(0) | pose.isna()).all().all() and pose.notna().any().all()
    assert pose.iloc[0, 0] == abs(faces["headpose.yaw_angle"].iloc[0])
    parts = []
    for feature_set, samples in [
        ("head_pose", ["pol_dat_us", "pol_fb_us"]),
        ("personality", ["pol_fb_us"]),
    ]:
        x = interpretable_features(faces, feature_set)
        for sample in samples:
            rows = faces[sample].notna() & x.notna().all(axis=1)
            parts.append(
                pd.DataFrame(
                    {
                        "feature_set": feature_set,
                        "sample": sample,
                        "userid": faces.loc[rows, "userid"],
                        "y": faces.loc[rows, sample].astype(int),
                        "score": x.loc[rows].sum(axis=1),
                    }
                )
            )
    t = table_s1(pd.concat(parts, ignore_index=True), **COLUMNS)
    assert t["feature_set"].tolist() == ["head_pose", "head_pose", "personality"]
    wide = wide_display(t, target_column="sample")
    assert wide.loc["personality", "pol_dat_us"] == ""
    assert wide.loc["personality", "pol_fb_us"].count("[") == 1
    with pytest.raises(KeyError, match="unknown feature set"):
        interpretable_features(faces, "hair")


def test_format_ci() -> None:
    assert format_ci(0.7249, 0.7012, 0.7488) == "0.72 [0.70, 0.75]"
    assert format_ci(0.5, float("nan"), float("nan"), digits=3) == "0.500"


def test_escaping() -> None:
    assert escape_latex(r"a_b 5% R&D #1 $x$ {y} ~ ^ \z") == (
        r"a\_b 5\% R\&D \#1 \$x\$ \{y\} \textasciitilde{} \textasciicircum{} \textbackslash{}z"
    )
    assert escape_markdown("a|b_c*d`e<f&g\nh") == r"a\|b\_c\*d\`e&lt;f&amp;g h"


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sample": ["pol_dat_us", "a|b"],
            "n": [10, 2],
            "auc": [0.71234, np.nan],
            "pct": ["5%", "R&D #1"],
        }
    )


def test_to_markdown_exact() -> None:
    assert to_markdown(_frame(), digits=2) == (
        "| sample | n | auc | pct |\n"
        "|:---|---:|---:|:---|\n"
        "| pol\\_dat\\_us | 10 | 0.71 | 5% |\n"
        "| a\\|b | 2 |  | R&amp;D \\#1 |\n"
    )
    indexed = pd.DataFrame({"x": [1.5]}, index=pd.Index(["m_1"], name="model"))
    assert to_markdown(indexed, digits=1) == "| model | x |\n|:---|---:|\n| m\\_1 | 1.5 |\n"


def test_to_latex_exact() -> None:
    assert to_latex(_frame(), digits=3) == (
        "\\begin{tabular}{lrrl}\n"
        "\\hline\n"
        "sample & n & auc & pct \\\\\n"
        "\\hline\n"
        "pol\\_dat\\_us & 10 & 0.712 & 5\\% \\\\\n"
        "a|b & 2 &  & R\\&D \\#1 \\\\\n"
        "\\hline\n"
        "\\end{tabular}\n"
    )


def _paths(stem: Path) -> dict[str, Path]:
    return {ext: stem.with_name(f"{stem.name}.{ext}") for ext in ("csv", "md", "tex")}


def test_write_table(tmp_path: Path) -> None:
    wide = wide_display(table2(_predictions(3), **COLUMNS), target_column="sample")
    paths = write_table(wide, **_paths(tmp_path / "table2"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table2.csv", "table2.md", "table2.tex"]
    back = pd.read_csv(paths["csv"], index_col=0, dtype=str, keep_default_na=False)
    assert back.index.tolist() == wide.index.tolist()
    assert back.values.tolist() == wide.values.tolist()
    assert paths["md"].read_text() == to_markdown(wide)
    assert paths["tex"].read_text() == to_latex(wide)
    long = table2(_predictions(3), **COLUMNS)
    write_table(long, **_paths(tmp_path / "long"))
    assert pd.read_csv(tmp_path / "long.csv")["auc"].tolist() == long["auc"].tolist()


def test_write_atomic_keeps_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "t.md"
    write_atomic(target, "old\n")
    with pytest.raises(UnicodeEncodeError):
        write_atomic(target, "new \ud800")
    assert target.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["t.md"]


# Figures (polface.report.figures) are tested here too: they draw the same tables.


def _figure2_summary() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sample": ["pol_dat_us", "pol_dat_ca", "pol_dat_uk", "pol_fb_us"],
            "auc": [0.72, 0.71, 0.70, np.nan],
            "lo": [0.70, 0.68, 0.66, np.nan],
            "hi": [0.74, 0.74, 0.74, np.nan],
            "paired_accuracy": [0.69, 0.68, 0.67, 0.70],
            "perm_lo": [0.49, 0.47, 0.47, 0.46],
            "perm_hi": [0.51, 0.53, 0.53, 0.54],
        }
    )


@pytest.mark.parametrize("suffix", ["png", "svg"])
def test_figure2_written_and_reproducible(tmp_path: Path, suffix: str) -> None:
    first = write_figure2(_figure2_summary(), tmp_path / f"a.{suffix}", title="Figure 2")
    second = write_figure2(_figure2_summary(), tmp_path / f"b.{suffix}", title="Figure 2")
    data = first.read_bytes()
    assert len(data) > 1000
    assert data == second.read_bytes()
    if suffix == "png":
        assert data.startswith(b"\x89PNG") and b"Software" not in data
    else:
        assert b"<svg" in data and b"<dc:date>" not in data
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"a.{suffix}", f"b.{suffix}"]
    changed = _figure2_summary()
    changed.loc[0, "paired_accuracy"] = 0.6
    third = write_figure2(changed, tmp_path / f"c.{suffix}", title="Figure 2")
    assert third.read_bytes() != data


def test_figure2_errors(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="paired_accuracy"):
        figure2(_figure2_summary().drop(columns="paired_accuracy"))
    with pytest.raises(ValueError, match="unsupported figure format"):
        save_figure(figure2(_figure2_summary()), tmp_path / "f.jpg")
    with pytest.raises(ValueError, match="no rows"):
        write_figure2(_figure2_summary().iloc[:0], tmp_path / "f.png")


def test_figure_feature_sets(tmp_path: Path) -> None:
    preds = _predictions(4).rename(columns={"model": "feature_set"})
    long = table_s1(preds.iloc[:-10], **COLUMNS)
    a = save_figure(figure_feature_sets(long), tmp_path / "f3.png").read_bytes()
    b = save_figure(figure_feature_sets(long), tmp_path / "f3b.png").read_bytes()
    assert a == b and a.startswith(b"\x89PNG")


def test_figure2_table_on_fixture(osf_fixture: Path, tmp_path: Path) -> None:
    pyreadr = pytest.importorskip("pyreadr")
    faces = pyreadr.read_r(str(osf_fixture / "faces.RData"))["d"]
    rng = np.random.default_rng(9)
    parts = []
    for model in ["pol_dat_us", "pol_fb_us"]:
        for sample in ["pol_dat_us", "pol_fb_us"]:
            rows = faces[sample].notna()
            y = faces.loc[rows, sample].astype(int).to_numpy()
            parts.append(
                pd.DataFrame(
                    {
                        "model": model,
                        "sample": sample,
                        "userid": faces.loc[rows, "userid"],
                        "y": y,
                        "score": rng.normal(size=len(y)) + 0.8 * y,
                    }
                )
            )
    preds = pd.concat(parts, ignore_index=True).sample(frac=1.0, random_state=1)
    t = figure2_table(preds, faces, **COLUMNS, n_permutations=200, seed=4)
    own = preds[preds["model"] == preds["sample"]]
    assert t["sample"].tolist() == list(pd.unique(own["sample"]))  # order of first appearance
    strata = demographic_strata(faces)
    strata.index = faces["userid"]
    for k, row in enumerate(t.itertuples()):
        cell = preds[(preds["model"] == row.sample) & (preds["sample"] == row.sample)]
        assert (row.auc, row.lo, row.hi, row.se) == delong_ci(cell["y"], cell["score"])
        acc, n_pairs = paired_accuracy(
            cell["y"], cell["score"], strata.loc[cell["userid"]].reset_index(drop=True)
        )
        assert (row.paired_accuracy, row.n_pairs) == (acc, n_pairs)
        base = permutation_auc(cell["y"], cell["score"], 200, child_seed(4, k))
        assert (row.perm_mean, row.perm_lo, row.perm_hi) == (base.mean, base.lo, base.hi)
        assert row.majority_accuracy == majority_accuracy(cell["y"])
        assert row.perm_lo < 0.5 < row.perm_hi < row.auc
    write_figure2(t, tmp_path / "figure2.png")
    bad = preds.copy()
    bad.loc[bad.index[0], "userid"] = "nobody"
    bad.loc[bad.index[0], "model"] = bad.loc[bad.index[0], "sample"]
    with pytest.raises(KeyError, match="'nobody'"):
        figure2_table(bad, faces, **COLUMNS, n_permutations=10, seed=0)


def test_auc_tables_use_the_column_names_they_are_given(tmp_path: Path) -> None:
    """The same numbers under other names (an image set's target and id columns)."""
    from polface.report.render import write_display_table
    from polface.report.tables import auc_with_baselines

    preds = _predictions(5)
    renamed = preds.rename(columns={"sample": "target", "userid": "image_id"})
    osf = table2(preds, **COLUMNS)
    other = table2(renamed, target_column="target", id_column="image_id")
    assert list(other.columns[:2]) == ["model", "target"]
    pd.testing.assert_frame_equal(other.rename(columns={"target": "sample"}), osf)
    with pytest.raises(KeyError, match=r"predictions: missing column\(s\) \['sample', 'userid'\]"):
        table2(renamed, **COLUMNS)
    long = auc_with_baselines(
        renamed, ["model"], target_column="target", id_column="image_id", n_permutations=20, seed=1
    )
    paths = write_display_table(long, ["model"], target_column="target", **_paths(tmp_path / "t"))
    assert "target" in paths["csv"].read_text().splitlines()[0]
    assert paths["md"].read_text().startswith("| model |")


def test_column_contracts_and_their_checker() -> None:
    from polface.frames import (
        MissingColumnsError,
        auc_columns,
        fold_columns,
        prediction_columns,
        require_columns,
    )

    assert fold_columns(id_column="image_id") == ("image_id", "outer_fold", "inner_fold")
    assert prediction_columns(model_column="model", target_column="sample", id_column="userid") == (
        "model",
        "sample",
        "userid",
        "outer_fold",
        "y",
        "score",
    )
    long = table2(_predictions(6), **COLUMNS)
    assert tuple(long.columns) == auc_columns(by="model", target_column="sample")
    frame = pd.DataFrame({"userid": ["a"], "outer_fold": [1]})
    with pytest.raises(MissingColumnsError) as info:
        require_columns(frame, fold_columns(id_column="userid"), table="results/x/folds.parquet")
    assert str(info.value) == (
        "results/x/folds.parquet: missing column(s) ['inner_fold']; expected columns"
        " ['userid', 'outer_fold', 'inner_fold'], found ['userid', 'outer_fold']"
    )
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)


def test_the_feature_sets_the_paper_names(osf_fixture: Path) -> None:
    """Facial hair, eyewear, smile, the Face++ demographics and all but personality together."""
    pyreadr = pytest.importorskip("pyreadr")
    from polface.data.osf import FEATURE_SETS

    faces = pyreadr.read_r(str(osf_fixture / "faces.RData"))["d"]
    assert set(FEATURE_SETS) >= {"facial_hair", "eyewear", "smile", "demographics", "all"}
    eyewear = interpretable_features(faces, "eyewear")
    assert all("glass" in c for c in eyewear.columns) and len(eyewear.columns) == 10
    demographics = interpretable_features(faces, "demographics")
    levels = sorted(faces["ethnicity.value"].dropna().unique())
    assert list(demographics.columns[2:]) == [f"ethnicity.value={v}" for v in levels[1:]]
    known = faces["ethnicity.value"].notna().to_numpy()
    dummies = demographics.iloc[:, 2:]
    assert dummies[known].isin([0.0, 1.0]).all().all() and dummies[~known].isna().all().all()
    first = (faces["ethnicity.value"] == levels[0]).to_numpy()
    assert (dummies[first].sum(axis=1) == 0).all()
    combined = interpretable_features(faces, "all")
    assert "ext" not in combined.columns and "headpose.pitch_angle" in combined.columns
    assert (combined["headpose.pitch_angle"].dropna() >= 0).all()
    assert len(combined.columns) == sum(
        interpretable_features(faces, name).shape[1]
        for name in FEATURE_SETS
        if name not in ("personality", "all")
    )


def test_figure2_ties_the_matched_pair_interval_and_the_human_line(osf_fixture: Path) -> None:
    """Ties count 0 in the published code; the paired accuracy's interval is a seeded bootstrap
    over faces within strata; Figure 2 marks the human accuracy the paper compares with."""
    from polface.metrics import paired_accuracy_interval
    from polface.report.figures import HUMAN_ACCURACY

    pyreadr = pytest.importorskip("pyreadr")
    faces = pyreadr.read_r(str(osf_fixture / "faces.RData"))["d"]
    rows = faces["pol_dat_us"].notna()
    y = faces.loc[rows, "pol_dat_us"].astype(int).to_numpy()
    rng = np.random.default_rng(5)
    score = np.round(rng.normal(size=len(y)) + 0.8 * y, 0)  # coarse: many ties
    preds = pd.DataFrame(
        {"model": "pol_dat_us", "sample": "pol_dat_us", "userid": faces.loc[rows, "userid"]}
    ).assign(y=y, score=score)
    t = figure2_table(preds, faces, **COLUMNS, n_permutations=20, seed=4, n_bootstrap=100)
    row = t.iloc[0]
    strata = demographic_strata(faces.loc[rows]).reset_index(drop=True)
    assert row.paired_accuracy == paired_accuracy(y, score, strata)[0]
    assert row.paired_accuracy_published == paired_accuracy(y, score, strata, tie_weight=0)[0]
    assert row.paired_accuracy_published < row.paired_accuracy  # ties cost the published code
    assert row.paired_lo < row.paired_accuracy < row.paired_hi
    again = paired_accuracy_interval(y, score, strata, n_bootstrap=100, seed=child_seed(4, 1000))
    assert again == (row.paired_lo, row.paired_hi)
    assert np.isnan(paired_accuracy_interval(y, score, strata, n_bootstrap=0, seed=1)).all()
    # a constant score (an empty LASSO): one half with ties split, 0 as the published code counts
    flat = figure2_table(preds.assign(score=0.0), faces, **COLUMNS, n_permutations=20, seed=4)
    assert flat.loc[0, "paired_accuracy"] == 0.5
    assert flat.loc[0, "paired_accuracy_published"] == 0.0
    assert np.isnan(flat.loc[0, "paired_lo"])  # n_bootstrap 0: no interval
    fig = figure2(t)
    human = [line for line in fig.axes[0].lines if "human" in str(line.get_label())]
    assert len(human) == 1 and human[0].get_ydata()[0] == HUMAN_ACCURACY[0]
