"""The Facial Finetuning paper's further regressions against R (issue 21).

The R reference (``tests/r/finetuning_paper.R``: base ``lm`` and ``sandwich::vcovCL``) is pinned
in ``tests/data/r_finetuning_paper_{coefficients,levels}.csv``; where Rscript with sandwich is
installed, R is also run live and must give the pin. polface's estimates and both SEs must equal
R's to 1e-8: the 36 robustness models (with ``incumbent``), the 4 all-traits models, the 9
trait-as-outcome models, and the trait's effect at each moderator level of the 48 interaction
models (main + interaction, both covariances).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import REPO
from polface.data import finetuning as fd
from polface.studies import finetuning_paper as fp
from r_cohorts import run_r

PIN_COEFFICIENTS = REPO / "tests/data/r_finetuning_paper_coefficients.csv"
PIN_LEVELS = REPO / "tests/data/r_finetuning_paper_levels.csv"
COEFFICIENT_KEY = ["family", "trait", "outcome", "model", "term"]
LEVEL_KEY = ["family", "trait", "outcome", "model", "level"]


@pytest.fixture(scope="module")
def ours(finetuning_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    sample = fd.analysis_sample(fd.read_candidates(finetuning_dir / "Candidate_data.RData"))
    return fp.paper_models(sample)


def _rscript() -> str | None:
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    check = "quit(status = !requireNamespace('sandwich', quietly = TRUE))"
    return rscript if subprocess.run([rscript, "-e", check]).returncode == 0 else None


def _assert_equal(r: pd.DataFrame, polface: pd.DataFrame, key: list[str], columns) -> None:
    merged = r.merge(polface, on=key, how="outer", indicator=True, suffixes=("_r", "_py"))
    missing = merged.loc[merged["_merge"] != "both", [*key, "_merge"]]
    assert missing.empty, missing.to_string()
    for column in columns:
        gap = np.abs(merged[f"{column}_r"] - merged[f"{column}_py"]).to_numpy()
        worst = int(np.argmax(gap))
        assert gap[worst] < 1e-8, (column, merged.loc[worst, key].to_dict(), gap[worst])
    assert (merged["n_r"] == merged["n_py"]).all()


def test_the_49_models_and_48_level_effects_equal_r(ours) -> None:
    long, levels = ours
    assert long.groupby(["family", "trait", "outcome", "model"]).ngroups == 36 + 4 + 9
    assert len(levels) == 2 * 48
    _assert_equal(
        pd.read_csv(PIN_COEFFICIENTS),
        long,
        COEFFICIENT_KEY,
        ("estimate", "se_ols", "se_cluster", "r2"),
    )
    _assert_equal(pd.read_csv(PIN_LEVELS), levels, LEVEL_KEY, ("estimate", "se_ols", "se_cluster"))


def test_the_robustness_models_carry_incumbent_as_r_names_it(ours) -> None:
    long, _ = ours
    robust = long[long["family"] == "robustness"]
    per_model = robust.groupby(["trait", "outcome", "model"])["term"].agg(set)
    assert all("incumbent1" in terms for terms in per_model)
    # incumbent has 57 missing values: R's na.omit drops them in every model
    n = robust.groupby(["outcome", "model"])["n"].first()
    assert n.loc[("percentile_rank_std", 1)] < 7055


def test_the_level_effect_at_one_is_main_plus_interaction(ours) -> None:
    _, levels = ours
    for _, model in levels.groupby(["family", "trait", "outcome", "model"]):
        assert list(model["level"]) == [0, 1]
        assert model["combination"].iloc[0] in model["combination"].iloc[1]


def test_live_r_gives_the_pin(finetuning_dir: Path, tmp_path: Path) -> None:
    rscript = _rscript()
    if rscript is None:
        pytest.skip("Rscript with sandwich not found: the pinned R reference is used as it is")
    coefficients, levels = tmp_path / "coefficients.csv", tmp_path / "levels.csv"
    run_r(
        rscript,
        "finetuning_paper.R",
        [str(finetuning_dir / "Candidate_data.RData"), str(coefficients), str(levels)],
    )
    for live, pin, key in (
        (coefficients, PIN_COEFFICIENTS, COEFFICIENT_KEY),
        (levels, PIN_LEVELS, LEVEL_KEY),
    ):
        a, b = pd.read_csv(live), pd.read_csv(pin)
        assert list(a.columns) == list(b.columns)
        merged = a.merge(b, on=key, suffixes=("_live", "_pin"))
        assert len(merged) == len(a) == len(b)
        for column in ("estimate", "se_ols", "se_cluster"):
            assert np.abs(merged[f"{column}_live"] - merged[f"{column}_pin"]).max() < 1e-12


# ---------------------------------------------------------------- sensitivity (Sensemakr.R)

PIN_SENSITIVITY = REPO / "tests/data/r_finetuning_sensitivity.csv"
SENSITIVITY_COLUMNS = (
    "estimate",
    "se",
    "t",
    "r2yd_x",
    "rv_q",
    "rv_qa",
    "r2dxj_x",
    "r2yxj_dx",
    "r2dz_x",
    "r2yz_dx",
    "adjusted_estimate",
    "adjusted_se",
)


def test_the_robustness_value_removes_the_estimate_exactly() -> None:
    """A confounder with partial R² = RV_q with both treatment and outcome biases the estimate
    by q times itself (the definition of RV), and the published Darfur numbers come back."""
    from polface import sensitivity as cinelli

    estimate, se, dof = 0.09731582, 0.02325654, 783
    for q in (1.0, 0.5):
        rv = float(cinelli.robustness_value(estimate / se, dof, q))
        assert cinelli.bias(se, dof, rv, rv) == pytest.approx(q * estimate, rel=1e-12)
    # Cinelli & Hazlett (2020), section 5 (sensemakr's darfur example): R² 2.2%, RV 13.9%,
    # RV at alpha = 0.05 7.6%
    assert float(cinelli.partial_r2(4.18445, 783)) == pytest.approx(0.0219, abs=5e-5)
    assert float(cinelli.robustness_value(4.18445, 783)) == pytest.approx(0.139, abs=5e-4)
    assert float(cinelli.robustness_value(4.18445, 783, alpha=0.05)) == pytest.approx(
        0.076, abs=5e-4
    )
    assert float(cinelli.robustness_value(0.5, 783, alpha=0.05)) == 0.0
    with pytest.raises(cinelli.ImpossibleBound, match="kd = 3"):
        cinelli.benchmark_bounds(0.4, 0.01, 3)


def test_sensitivity_equals_the_closed_forms_in_r(finetuning_dir: Path) -> None:
    sample = fd.analysis_sample(fd.read_candidates(finetuning_dir / "Candidate_data.RData"))
    ours = fp.sensitivity(sample)
    pin = pd.read_csv(PIN_SENSITIVITY)
    merged = pin.merge(ours, on=["trait", "outcome", "kd"], suffixes=("_r", "_py"))
    assert len(merged) == len(pin) == len(ours) == 12
    for column in SENSITIVITY_COLUMNS:
        a, b = merged[f"{column}_r"].to_numpy(), merged[f"{column}_py"].to_numpy()
        assert (np.isnan(a) == np.isnan(b)).all(), column
        assert np.nanmax(np.abs(a - b)) < 1e-8, (column, np.nanmax(np.abs(a - b)))
    impossible = ours[ours["bound"] != "ok"]
    assert set(zip(impossible["trait"], impossible["kd"], strict=True)) == {("dominance", 2.0)}
    note = ours.set_index(["trait", "outcome"])["authors_script"]
    assert "attractiveness object" in note.loc[("trustworthiness", "personal_votes_std")].iloc[0]


def test_live_r_gives_the_sensitivity_pin(finetuning_dir: Path, tmp_path: Path) -> None:
    rscript = shutil.which("Rscript")
    if rscript is None:
        pytest.skip("Rscript not found: the pinned R reference is used as it is")
    out = tmp_path / "sensitivity.csv"
    run_r(
        rscript,
        "finetuning_sensitivity.R",
        [str(finetuning_dir / "Candidate_data.RData"), str(out)],
    )
    live, pin = pd.read_csv(out), pd.read_csv(PIN_SENSITIVITY)
    assert list(live.columns) == list(pin.columns)
    for column in SENSITIVITY_COLUMNS:
        gap = np.nanmax(np.abs(live[column].to_numpy() - pin[column].to_numpy()))
        assert gap < 1e-12 or np.isnan(gap), column
        assert (live[column].isna() == pin[column].isna()).all(), column


# ---------------------------------------------------------------- descriptives


def test_descriptive_tables_are_the_authors(finetuning_dir: Path) -> None:
    """Numbers from the authors' scripts run in R on the released file (pinned here)."""
    from polface.studies import finetuning_descriptives as de

    candidates = fd.read_candidates(finetuning_dir / "Candidate_data.RData")
    sample = fd.analysis_sample(candidates)
    summary = de.trait_summary(sample)
    assert (summary["N"] == 7080).all()
    assert summary.loc["attractiveness", "p25"] == pytest.approx(3.999942958, abs=1e-9)
    assert summary.loc["attractiveness", "p75"] == pytest.approx(5.123286366, abs=1e-9)
    r = de.trait_correlations(sample)
    assert r.loc["attractiveness", "trustworthiness"] == pytest.approx(0.6361293605, abs=1e-10)
    assert r.loc["trustworthiness", "dominance"] == pytest.approx(-0.4812305527, abs=1e-10)
    missing = de.missing_data(candidates)
    assert missing.loc["General", "major party candidates"] == 909
    assert missing.loc["General", "images collected"] == 815
    assert missing.loc["General", "images discarded"] == 23  # the script's count
    assert missing.loc["Pooled", "images discarded"] == 678
    assert missing.loc["Pooled", "images discarded (distinct)"] == 664
    assert missing.loc["Pooled", "complete data"] == 5499
    votes = missing.loc["Personal votes accounted for (%)"]
    assert round(votes["complete data"], 2) == 75.04
    assert round(votes["images discarded"], 2) == 3.45
