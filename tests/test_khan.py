"""Khan et al.'s own findings: their released files, read safely, and every number they printed.

The reproduction tests read THEIR CSVs (../shared/data/khan, skipped when absent) and assert that
polface's numbers equal theirs; the reader tests write their own hostile files.
"""

from __future__ import annotations

import csv
import os
import pickle
import struct
import zipfile
from fractions import Fraction
from math import comb
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import torch
import yaml
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import cohen_kappa_score

from conftest import REPO, shared_path
from polface import metrics
from polface.data.khan import (
    CATEGORIES,
    ForbiddenGlobalError,
    KhanDataError,
    SgdModel,
    category_of,
    read_batch_preds,
    read_features,
    read_results_table,
    read_sgd_model,
    read_tensor_file,
)
from polface.io import FeatureRows, write_parquet
from polface.studies.khan import (
    LOG_FILES,
    PUBLISHED,
    TABLE2_VARIANTS,
    before_after_classifier,
    check_against_published,
    flip_summary,
    pair_folds,
    pairing_similarity,
    reproduction_tables,
    retest_audit,
    sgd_table2,
    table2_display,
    ulp_distance,
)

#: The numbers of their CSVs this file asserts (tests/test_claims.py checks that the claims ledger
#: quotes the same): per model (pairs, flips, liberal → conservative, conservative → liberal), the
#: exact McNemar p of the beard and of all pairs, and the lasso's 2 x 2 table without drag.
HEADLINE = {
    "lasso (SGD, L2)": (1292, 200, 92, 108),
    "network": (1292, 428, 231, 197),
}
MCNEMAR_P = {
    ("lasso (SGD, L2)", "beard"): 0.0033778479119064286,
    ("network", "beard"): 0.03975050512654258,
    ("lasso (SGD, L2)", "total"): 0.2888204971747663,
    ("network", "total"): 0.11057922806690416,
}
NO_DRAG = {"total": 1124, "blal": 900, "blac": 70, "bcac": 63, "bcal": 91}


@pytest.fixture(scope="module")
def khan_dir() -> Path:
    return shared_path("khan")


@pytest.fixture(scope="module")
def preds(khan_dir: Path) -> pd.DataFrame:
    return read_batch_preds(khan_dir / "results/batch_preds.csv")


# ---------------------------------------------------------------- E2 as they computed it


def test_every_published_number_is_reproduced(khan_dir: Path, preds: pd.DataFrame) -> None:
    theirs = {
        name: read_results_table(khan_dir / "results" / name) for name in [*PUBLISHED, *LOG_FILES]
    }
    check = check_against_published(reproduction_tables(preds), theirs)
    # 5 tables from batch_preds (4 × 7 rows × 7 numbers, 6 × 5) and the log model's 35 margins
    assert len(check) == 4 * 7 * 7 + 6 * 5 + 7 * 5
    assert check["equal"].all(), check[~check["equal"]]
    # all bit-identical but one p-value, 4 doubles away (scipy's binom.cdf changed in its last
    # bits; polface's is 1 double from the correctly rounded rational value)
    off = check[check["ulps"] > 0]
    assert len(off) == 1 and off.iloc[0][["file", "row", "column"]].tolist() == [
        "nn_mcnemar.csv",
        "haircut",
        "pvalue",
    ]
    exact = Fraction(2 * sum(comb(94, k) for k in range(44)), 2**94)
    assert ulp_distance(float(exact), off.iloc[0]["polface"]) <= 1


def test_a_changed_published_number_is_reported(khan_dir: Path, preds: pd.DataFrame) -> None:
    theirs = {"lasso_mcnemar.csv": read_results_table(khan_dir / "results/lasso_mcnemar.csv")}
    theirs["lasso_mcnemar.csv"].at["beard", "pvalue"] = 0.0033778479119065  # 5 digits off
    theirs["lasso_mcnemar.csv"].at["drag", "bcal"] = 18.0
    check = check_against_published(reproduction_tables(preds), theirs).set_index(["row", "column"])
    assert (
        not check.loc[("beard", "pvalue"), "equal"] and check.loc[("beard", "pvalue"), "ulps"] > 8
    )
    assert not check.loc[("drag", "bcal"), "equal"]
    assert check["equal"].sum() == 49 - 2


def test_the_headline_numbers(preds: pd.DataFrame) -> None:
    flips = flip_summary(preds).set_index(["model", "pairs"])
    for model, expected in HEADLINE.items():
        row = flips.loc[(model, "pooled")]
        found = ("n", "flips", "liberal to conservative", "conservative to liberal")
        assert tuple(int(row[c]) for c in found) == expected, model
    tables = reproduction_tables(preds)
    for (model, category), p in MCNEMAR_P.items():
        name = {"lasso (SGD, L2)": "lasso_mcnemar", "network": "nn_mcnemar"}[model]
        assert tables[name].at[category, "pvalue"] == p, (model, category)
    no_drag = tables["lasso_mcnemar_without_drag"]
    assert no_drag.loc["total", list(NO_DRAG)].tolist() == list(NO_DRAG.values())
    assert preds["category"].value_counts()[list(CATEGORIES)].tolist() == [
        287,
        386,
        357,
        168,
        68,
        26,
    ]


def test_no_file_name_survives_reading(khan_dir: Path, preds: pd.DataFrame) -> None:
    stems = _stems(khan_dir / "results/batch_preds.csv")
    assert len(stems) == 1292
    text = preds.to_csv()
    assert not any(stem in text for stem in stems)
    assert list(preds.columns) == [
        "pair",
        "category",
        "lasso_before",
        "lasso_after",
        "nn_before",
        "nn_after",
    ]


def _stems(path: Path) -> set[str]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {Path(row["sample_paths"]).stem for row in rows}


@pytest.mark.parametrize(
    ("stem", "category"),
    [
        ("makeupe before after 6_3", "makeup"),
        ("hiardoo before after men 6_1", "hairdoo"),
        ("hairdoocut before after chinese 2_9", "haircut"),
        ("images 1 makeup before and after_39", "makeup"),
        ("drag queen face before after 1_96", "drag"),
        ("glasses before after 2_4", "glasses"),
    ],
)
def test_category_follows_their_rule(stem: str, category: str) -> None:
    assert category_of(stem) == category


def test_batch_preds_errors_name_the_line_and_column(tmp_path: Path) -> None:
    header = ",sample_paths,lasso_results_1,nn_results_1,lasso_results_2,nn_results_2\n"
    good = "0,data/new_crops/before/beard before after 1_1.jpg,1.0,0.0,1.0,1.0\n"
    path = tmp_path / "batch_preds.csv"
    path.write_text(header + good + "1,x/beard before after 1_2.jpg,1.0,0.5,1.0,1.0\n")
    with pytest.raises(KhanDataError, match=r"line 3, column nn_results_1: '0.5'"):
        read_batch_preds(path)
    path.write_text(header + good + "1,x/hat before after 1_2.jpg,1.0,0.0,1.0,1.0\n")
    with pytest.raises(KhanDataError, match=r"line 3, column sample_paths: category 'hat'"):
        read_batch_preds(path)
    path.write_text(header.replace("nn_results_2", "nn_results_3") + good)
    with pytest.raises(KhanDataError, match="columns"):
        read_batch_preds(path)


def test_results_tables_parse_the_printed_tuples_without_evaluating(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(",total,\"('statistic', 'pvalue')\"\nbeard,357.0,\"(10.0, 0.5)\"\n")
    table = read_results_table(path)
    assert table.loc["beard"].tolist() == [357.0, 10.0, 0.5]
    path.write_text(",total,chi\nbeard,357.0,\"(__import__('os'), 1)\"\n")
    with pytest.raises(KhanDataError, match="row beard"):
        read_results_table(path)


# ---------------------------------------------------------------- the statistics


def test_mcnemar_exact_is_the_binomial_tail() -> None:
    for b, c in [(10, 29), (0, 5), (7, 7), (92, 108), (3, 0)]:
        n, k = b + c, min(b, c)
        exact = min(Fraction(1), Fraction(2 * sum(comb(n, i) for i in range(k + 1)), 2**n))
        assert metrics.mcnemar_exact(b, c) == pytest.approx(float(exact), rel=1e-13)
    assert metrics.mcnemar_exact(0, 0) == 1.0
    assert metrics.mcnemar_as_printed(26, 30) == (26.0, metrics.mcnemar_exact(30, 26))
    stat, p = metrics.mcnemar_chi2(10, 29, correction=False)
    assert stat == pytest.approx(19**2 / 39) and 0 < p < 0.01


def test_marginal_chi2_is_theirs_with_yates() -> None:
    assert metrics.marginal_chi2((60, 8), (59, 9)) == (0.0, 1.0)  # their hairdoo row
    assert metrics.marginal_chi2((320, 37), (339, 18))[1] == 0.011524688103102226
    corrected, plain = (
        metrics.marginal_chi2((320, 37), (339, 18), correction=c)[0] for c in (True, False)
    )
    assert plain > corrected


def test_cohen_kappa_matches_sklearn_and_its_se_a_bootstrap() -> None:
    rng = np.random.default_rng(3)
    before = (rng.random(800) < 0.4).astype(int)
    after = np.where(rng.random(800) < 0.7, before, (rng.random(800) < 0.5).astype(int))
    kappa = metrics.cohen_kappa(before, after)
    assert kappa.estimate == pytest.approx(cohen_kappa_score(before, after), abs=1e-12)
    boot = []
    for _ in range(1000):
        pick = rng.integers(0, 800, 800)
        boot.append(cohen_kappa_score(before[pick], after[pick]))
    assert kappa.se == pytest.approx(np.std(boot), rel=0.12)
    assert kappa.lo < kappa.estimate < kappa.hi


def test_unrelated_pair_rate_formula_and_permutation_agree() -> None:
    rng = np.random.default_rng(5)
    before = (rng.random(3000) < 0.3).astype(int)
    after = before.copy()  # perfectly stable: no flips at all
    after[rng.choice(3000, 300, replace=False)] = 1
    p1, p2 = before.mean(), after.mean()
    rates = metrics.permuted_flip_rates(before, after, 400, seed=1)
    assert rates.mean() == pytest.approx(metrics.unrelated_flip_rate(p1, p2), abs=0.003)
    assert np.array_equal(rates, metrics.permuted_flip_rates(before, after, 400, seed=1))
    assert np.mean(before != after) < rates.min()


def test_direction_odds_interval() -> None:
    odds, lo, hi = metrics.direction_odds(40, 40)
    assert odds == 1.0 and lo * hi == pytest.approx(1.0)
    odds, lo, hi = metrics.direction_odds(10, 29)
    assert odds == pytest.approx(10 / 29)
    assert lo < odds < hi < 1  # beard, lasso: more con → lib
    assert metrics.direction_odds(5, 0)[0] == float("inf")


def test_audit_reads_the_published_pairs(preds: pd.DataFrame) -> None:
    audit = retest_audit(preds, permutations=50, seed=1).set_index(["model", "category"])
    pooled = audit.loc[("network", "pooled")]
    assert pooled["flips"] == 428 and pooled["b"] == 231 and pooled["c"] == 197
    assert pooled["mcnemar_p"] == 0.11057922806690416
    # the network flips a third of the pairs, but two unrelated people would differ half the time
    assert 0.45 < pooled["unrelated_rate"] < 0.55 and pooled["flip_hi"] < pooled["permuted_lo"]
    assert 0.25 < pooled["kappa_lo"] < pooled["kappa"] < pooled["kappa_hi"] < 0.45


# ---------------------------------------------------------------- the torch zip reader


def test_real_feature_files_are_read_as_plain_arrays(khan_dir: Path) -> None:
    root = khan_dir / "features/resnet_18_imagenet"
    before, after = read_features(
        root / "before/list_of_tensors.pt", root / "after/list_of_tensors.pt"
    )
    assert before.shape == after.shape == (1292, 512) and before.dtype == np.float32
    assert type(before) is np.ndarray


def test_a_plain_torch_save_reads_back_equal(tmp_path: Path) -> None:
    tensor = torch.arange(24, dtype=torch.float32).reshape(4, 6)[:, 1:5]  # strided view
    torch.save(tensor, tmp_path / "t.pt")
    assert np.array_equal(read_tensor_file(tmp_path / "t.pt"), tensor.numpy())


class _Hostile:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _torch_zip(path: Path, payload: bytes, members: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", payload)
        archive.writestr("archive/version", b"3\n")
        for name, data in (members or {}).items():
            archive.writestr(f"archive/{name}", data)
    return path


def test_a_tensor_file_naming_another_global_is_refused_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = _torch_zip(tmp_path / "evil.pt", pickle.dumps(_Hostile(marker), protocol=2))
    with pytest.raises(ForbiddenGlobalError, match=r"(posix|os)\.system"):
        read_tensor_file(path)
    assert not marker.exists()


def test_a_storage_larger_than_its_member_is_refused(tmp_path: Path) -> None:
    torch.save(torch.zeros(3, 4), tmp_path / "t.pt")
    with zipfile.ZipFile(tmp_path / "t.pt") as archive:
        names = archive.namelist()
        prefix = names[0].split("/")[0]
        payload = archive.read(f"{prefix}/data.pkl")
    # the pickle declares 12 elements; the member holds 8 (32 bytes)
    path = _torch_zip(tmp_path / "short.pt", payload, {"data/0": bytes(32)})
    with pytest.raises(pickle.UnpicklingError, match="holds 32 bytes; the pickle declares 12"):
        read_tensor_file(path)


def _text(value: str) -> bytes:
    return b"X" + struct.pack("<I", len(value)) + value.encode()


def _tensor_pickle(numel: int, size: tuple[int, int], stride: tuple[int, int]) -> bytes:
    """A protocol-2 pickle of _rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict())."""
    storage = (
        b"("
        + _text("storage")
        + b"ctorch\nFloatStorage\n"
        + _text("0")
        + _text("cpu")
        + b"J"
        + struct.pack("<i", numel)
        + b"tQ"
    )
    pair = lambda v: b"J" + struct.pack("<i", v[0]) + b"J" + struct.pack("<i", v[1]) + b"\x86"  # noqa: E731
    return (
        b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n("
        + storage
        + b"K\x00"
        + pair(size)
        + pair(stride)
        + b"\x89ccollections\nOrderedDict\n)RtR."
    )


def test_a_hand_written_tensor_pickle_reads(tmp_path: Path) -> None:
    data = np.arange(6, dtype="<f4").tobytes()
    path = _torch_zip(tmp_path / "t.pt", _tensor_pickle(6, (2, 3), (3, 1)), {"data/0": data})
    assert read_tensor_file(path).tolist() == [[0, 1, 2], [3, 4, 5]]


def test_a_tensor_larger_than_its_storage_is_refused_before_allocating(tmp_path: Path) -> None:
    # 10^12 elements of stride 0 over a 4-element storage: as_strided would accept it
    payload = _tensor_pickle(4, (10**6, 10**6), (0, 0))
    path = _torch_zip(tmp_path / "huge.pt", payload, {"data/0": bytes(16)})
    with pytest.raises(pickle.UnpicklingError, match="more elements than its storage"):
        read_tensor_file(path)
    path = _torch_zip(tmp_path / "far.pt", _tensor_pickle(4, (2, 3), (3, 1)), {"data/0": bytes(16)})
    with pytest.raises(pickle.UnpicklingError, match="more elements than its storage"):
        read_tensor_file(path)


# ---------------------------------------------------------------- the joblib reader


def test_sgd_model_coefficients_equal_sklearns(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 9))
    model = SGDClassifier(loss="log_loss", random_state=0).fit(X, (X[:, 0] > 0).astype(int))
    joblib.dump(model, tmp_path / "m.joblib")
    read = read_sgd_model(tmp_path / "m.joblib")
    assert np.array_equal(read.coef, model.coef_)
    assert np.array_equal(read.intercept, model.intercept_)
    assert read.settings["penalty"] == "l2" and read.settings["alpha"] == 1e-4


def test_a_joblib_file_with_a_hostile_reduce_is_refused_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    joblib.dump({"coef_": np.zeros(3), "x": _Hostile(marker)}, tmp_path / "evil.joblib")
    with pytest.raises(ForbiddenGlobalError, match=r"(posix|os)\.system"):
        read_sgd_model(tmp_path / "evil.joblib")
    assert not marker.exists()
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(_Hostile(marker)))
    with pytest.raises(ForbiddenGlobalError):
        read_sgd_model(tmp_path / "evil.pkl")
    assert not marker.exists()


def test_a_truncated_joblib_array_is_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 400))
    model = SGDClassifier(loss="log_loss", random_state=0).fit(X, (X[:, 0] > 0).astype(int))
    joblib.dump(model, tmp_path / "m.joblib")
    data = (tmp_path / "m.joblib").read_bytes()
    start = data.index(b"coef_")
    (tmp_path / "cut.joblib").write_bytes(data[: start + 600])
    with pytest.raises(KhanDataError, match="needs 3200 bytes"):
        read_sgd_model(tmp_path / "cut.joblib")


def test_their_released_models(khan_dir: Path) -> None:
    model = read_sgd_model(khan_dir / "saved_model/lasso_pol_dat_us.joblib")
    assert model.coef.shape == (1, 2048) and np.isfinite(model.coef).all()
    assert (model.settings["loss"], model.settings["penalty"], model.settings["alpha"]) == (
        "log",
        "l2",
        1e-4,
    )


# ---------------------------------------------------------------- E3


def test_the_released_feature_rows_are_aligned_by_pair(khan_dir: Path) -> None:
    root = khan_dir / "features/resnet_18_imagenet"
    before, after = read_features(
        root / "before/list_of_tensors.pt", root / "after/list_of_tensors.pt"
    )
    matched, unmatched = pairing_similarity(before, after)
    assert matched > 0.15 > 0.05 > unmatched
    shuffled = after[np.random.default_rng(0).permutation(len(after))]
    assert pairing_similarity(before, shuffled)[0] < 0.05


def test_pair_folds_are_balanced_and_seeded() -> None:
    folds = pair_folds(103, 5, seed=4)
    assert np.array_equal(folds, pair_folds(103, 5, seed=4))
    assert sorted(np.bincount(folds).tolist()) == [20, 20, 21, 21, 21]


def test_before_after_classifier_finds_a_planted_shift_and_not_noise() -> None:
    rng = np.random.default_rng(1)
    person = rng.normal(size=(150, 20))  # a pair shares its person
    before = person + 0.3 * rng.normal(size=person.shape)
    after = person + 0.3 * rng.normal(size=person.shape)
    settings = dict(outer_folds=3, inner_folds=3, Cs=[0.1, 1.0], seed=2, bootstrap=100)
    null = before_after_classifier(before, after, permutations=3, **settings).set_index("model")
    after[:, 0] += 2.0  # d ≈ 2 on one feature: AUC ≈ .92
    found = before_after_classifier(before, after, permutations=3, **settings).set_index("model")
    assert found.loc["classifier (head only)", "auc"] > 0.8
    assert found.loc["classifier (head only)", "auc_p_permutation"] == 0.25  # 1 / (1 + 3)
    assert 0.35 < null.loc["classifier (head only)", "auc"] < 0.65
    assert found.loc["majority", "accuracy"] == 0.5


# ---------------------------------------------------------------- Table 2 their way


def test_table2_their_way_shows_the_in_sample_diagonal(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n, width = 480, 60
    ids = [f"u{i}" for i in range(n)]
    X = rng.normal(size=(n, width))  # pure noise: nothing to learn
    values = pa.FixedSizeListArray.from_arrays(pa.array(X.ravel()), width)
    write_parquet(pa.table({"userid": ids, "features": values}), tmp_path / "f.parquet")
    rows = FeatureRows(tmp_path / "f.parquet", "userid")
    sample = np.where(np.arange(n) < 100, "a", "b")  # a: under a quarter of the rows -> fit()
    y = rng.integers(0, 2, n).astype(float)
    faces = pd.DataFrame(
        {
            "userid": ids,
            "a": np.where(sample == "a", y, np.nan),
            "b": np.where(sample == "b", y, np.nan),
        }
    )
    folds = pd.DataFrame({"userid": ids, "outer_fold": np.arange(n) % 4, "inner_fold": 0})
    coef = rng.normal(size=(1, width))
    released = {"lasso_a": SgdModel(coef, np.array([0.3]), np.array([0, 1]), {})}
    long = sgd_table2(faces, rows, folds, samples=["a", "b"], seed=1, released=released)
    table = long.set_index(["variant", "train", "test"])
    their, oof, theirs = TABLE2_VARIANTS
    assert table["in_sample"].sum() == 2
    # 60 noise descriptors, 100 rows: the in-sample diagonal looks like a finding, out of fold not
    assert table.loc[(their, "a", "a"), "accuracy"] > 0.9
    assert table.loc[(oof, "a", "a"), "accuracy"] < 0.65
    expected = np.mean(((X[sample == "b"] @ coef[0] + 0.3) > 0) == (y[sample == "b"] == 1))
    assert table.loc[(theirs, "a", "b"), "accuracy"] == pytest.approx(expected)
    assert (theirs, "b", "a") not in table.index  # no released model for b
    assert table2_display(long).shape == (5, 2)


# ---------------------------------------------------------------- the rules, end to end


@pytest.fixture(scope="module")
def run(khan_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from workflow_utils import build, copy_project, quick_khan_study, write_config

    workdir = copy_project(tmp_path_factory.mktemp("khan"))
    configured = yaml.safe_load((REPO / "config/khan2022.yaml").read_text())["khan2022"]["release"]
    assert (REPO / configured).resolve() == khan_dir.resolve()
    study = quick_khan_study(khan_dir)
    # Table 2 their way on the synthetic demo cohort, with their released models scored on it
    study["khan2022"]["table2"] = {"cohorts": ["demo"], "released_models": True}
    config = write_config(workdir, "khan_test.yaml", study)
    build(workdir, "--cores", "2", "--configfile", str(config))
    return workdir


@pytest.mark.workflow
def test_the_rules_reproduce_their_numbers_and_write_every_output(run: Path) -> None:
    base = run / "results/khan2022"
    check = pd.read_csv(base / "retest/check.csv")
    assert len(check) == 261 and check["equal"].all()
    flips = pd.read_csv(base / "retest/flips.csv")
    assert flips["flips"].tolist() == [200, 161, 428, 361]
    audit = pd.read_csv(base / "retest/audit.csv")
    assert len(audit) == 2 * 8 and (audit["flip_rate"] < audit["unrelated_rate"]).sum() >= 14
    assert (base / "figures/flip_rates.png").read_bytes()[:4] == b"\x89PNG"
    e3 = pd.read_csv(base / "before_after/classifier.csv").set_index("model")
    assert e3.loc["classifier (head only)", "n_pairs"] == 1292
    assert 0.5 < e3.loc["classifier (head only)", "accuracy"] < 1
    coefficients = np.load(base / "sgd_models/coefficients.npz")
    assert coefficients["lasso_pol_dat_us/coef"].shape == (1, 2048)
    table2 = pd.read_csv(run / "results/demo/khan2022/table2_sgd.csv")
    assert table2.groupby("variant").size().tolist() == [16, 16, 16]
    assert table2["in_sample"].sum() == 4
    # the claims ledger reads their Table 2 on the demo cohort: values, and no verdict
    claims = pd.read_csv(run / "results/claims.csv").set_index("id")
    diagonal = claims[claims.index.str.startswith("khan-table2-")]
    assert len(diagonal) == 4 and (diagonal["verdict"] == "synthetic data").all()
    assert diagonal["polface"].between(0, 1).all() and diagonal["corrected"].between(0, 1).all()
    for name in ("retest/audit", "retest/flips", "before_after/classifier", "sgd_models/models"):
        assert (base / f"{name}.tex").read_text().startswith("\\begin{tabular}")
        assert (base / f"{name}.md").read_text().startswith("|")


@pytest.mark.workflow
def test_an_enabled_study_without_its_release_names_the_key(tmp_path: Path) -> None:
    from workflow_utils import copy_project, snakemake, write_config

    workdir = copy_project(tmp_path / "project")
    config = write_config(
        workdir,
        "khan_unset.yaml",
        {"run_cohorts": [], "run_image_sets": [], "khan2022": {"enabled": True}},
    )
    dry = snakemake(workdir, "-n", "--configfile", str(config))
    assert dry.returncode != 0 and "khan2022.release is not set" in dry.stdout, dry.stdout[-2000:]


@pytest.mark.workflow
def test_no_output_carries_a_file_name(run: Path, khan_dir: Path) -> None:
    stems = _stems(khan_dir / "results/batch_preds.csv")
    # the distinctive part of each stem (its collection name and number), lower case
    needles = {stem.lower() for stem in stems}
    # Every stem holds "after", so a file without it holds none of them: only those with it are
    # searched for each of the 1,292 stems (searching all 90 MB of outputs took minutes).
    assert all("after" in needle for needle in needles)
    scanned = 0
    for path in (run / "results").rglob("*"):
        if path.is_file():
            text = path.read_bytes().decode("utf-8", errors="replace").lower()
            found = [n for n in needles if n in text] if "after" in text else []
            assert not found, f"{path} carries {found[:3]}"
            scanned += 1
    assert scanned >= 20
