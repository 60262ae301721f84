"""The Facial Finetuning study through the real workflow, on the authors' released data.

One snakemake run in a scratch copy of the project with config/facial_finetuning.yaml's layout
and small settings (few bootstrap resamples and split halves); then every output is scanned for
any value of ``name2``, the candidates' personal identifier.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from polface.data.omi import read_omi_ratings
from polface.data.rdata import read_data_frame
from polface.io import read_metadata
from polface.models.artifacts import load_trait_models

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def run(finetuning_study: Path) -> Path:
    """The study's run (tests/conftest.py), which tests/test_claims.py reads as well."""
    return finetuning_study


def test_the_study_writes_its_tables_and_figure(run: Path) -> None:
    base = run / "results/facial_finetuning"
    evaluation = pd.read_csv(base / "evaluation.csv")
    authors = evaluation[evaluation["column"] == "authors"].set_index("trait")
    assert [f"{v:.3f}" for v in authors["mae"]] == ["0.732", "0.576", "0.602"]
    assert authors["noise_ceiling"].between(0.9, 1.0).all()
    markdown = (base / "evaluation.md").read_text().splitlines()
    line = next(row for row in markdown if "attractiveness · noise ceiling of r" in row)
    ceiling = f"{authors.loc['attractiveness', 'noise_ceiling']:.3f}"
    models = set(evaluation["column"]) - {"train set", "test set", "mean guessing"}
    assert line.count(ceiling) == len(models), line  # beside every r
    regressions = pd.read_csv(base / "regressions.csv")
    assert regressions.groupby(["sample", "trait", "outcome", "model"]).ngroups == 72
    for name in ("regressions_table", "regressions_same_sample"):
        assert (base / f"{name}.md").read_text().count("\n") > 40
        assert (base / f"{name}.tex").read_text().startswith("\\begin{tabular}")
    assert (base / "figures/coefficients.png").read_bytes()[:4] == b"\x89PNG"


def test_the_rest_of_the_paper_is_written(run: Path) -> None:
    base = run / "results/facial_finetuning"
    models = pd.read_csv(base / "paper/models.csv")
    per_family = models.groupby("family")[["trait", "outcome", "model"]].apply(
        lambda g: len(g.drop_duplicates())
    )
    assert per_family.to_dict() == {"all traits": 4, "robustness": 36, "trait as outcome": 9}
    levels = pd.read_csv(base / "paper/moderator_levels.csv")
    assert len(levels) == 96 and levels["se_cluster"].gt(0).all()
    right = levels[
        (levels["family"] == "main")
        & (levels["trait"] == "dominance")
        & (levels["outcome"] == "personal_votes_std")
        & (levels["model"] == 4)
        & (levels["level"] == 1)
    ]
    assert right["estimate"].round(3).tolist() == [0.096]  # right bloc, with controls
    for name in ("robustness", "all_traits", "traits_as_outcome", "moderator_levels"):
        assert (base / f"paper/{name}.tex").read_text().startswith("\\begin{tabular}")
        assert (base / f"paper/{name}.md").read_text().count("\n") > 8
    sensitivity = pd.read_csv(base / "paper/sensitivity.csv")
    assert len(sensitivity) == 12 and sensitivity["rv_q"].between(0, 1).all()
    assert "attractiveness object" in (base / "paper/sensitivity.md").read_text()
    missing = pd.read_csv(base / "paper/missing_data.csv", index_col=0)
    assert missing.loc["Pooled", "complete data"] == 5499
    summary = pd.read_csv(base / "paper/trait_summary.csv", index_col=0)
    assert (summary["N"] == 7080).all()
    correlations = pd.read_csv(base / "paper/trait_correlations.csv", index_col=0)
    assert correlations.shape == (3, 3)
    figures = ("interactions", "sensitivity", "lowess", "annotated_predicted")
    for figure in (*figures, "training_annotations"):
        assert (base / f"figures/{figure}.png").read_bytes()[:4] == b"\x89PNG"


def test_the_network_trains_saves_its_history_and_scores_an_image_set(run: Path) -> None:
    base = run / "results/facial_finetuning"
    history = pd.read_csv(base / "regressor/history.csv")
    assert set(history["trait"]) == {"attractiveness", "trustworthiness", "dominance"}
    assert history.groupby("trait")["epoch"].max().le(2).all()
    evaluation = pd.read_csv(base / "evaluation.csv")
    network = evaluation[evaluation["column"] == "network (polface)"]
    assert len(network) == 3 and (network["n"] == 172).all()
    traits = pd.read_parquet(base / "traits/photos/network.parquet")
    assert len(traits) == 12
    ok = traits[traits["status"] == "ok"]
    assert set(ok["image_id"]) == {"5", "17", "600"} and ok["prediction"].notna().all()
    broken = traits[traits["image_id"] == "broken"]
    assert (broken["status"] == "unreadable").all() and broken["prediction"].isna().all()
    assert (base / "regressor/heads.safetensors").stat().st_size > 0


def test_the_demographic_model_is_saved_and_scores_an_omi_set(run: Path, omi_dir: Path) -> None:
    base = run / "results/facial_finetuning"
    models = load_trait_models(base / "models/baselines.npz")
    assert set(models) == {"demographics"}  # no embedding baselines in this run
    scores = pd.read_parquet(base / "traits/omi_few/demographics.parquet")
    assert set(scores["image_id"]) == {"1", "2", "3"} and len(scores) == 9
    assert (scores["status"] == "ok").all() and scores["prediction"].notna().all()
    # the same faces' perceived gender and age through the loaded model
    means = read_omi_ratings(omi_dir / "attribute_means.csv").loc[["1", "2", "3"]]
    expected = models["demographics"].predict(means[["gender", "age"]].to_numpy())
    for trait, values in expected.items():
        got = scores[scores["trait"] == trait].set_index("image_id").loc[["1", "2", "3"]]
        assert got["prediction"].to_numpy() == pytest.approx(values, abs=1e-12)
    meta = read_metadata(base / "traits/omi_few/demographics.parquet")
    assert meta["model"] == "perceived gender + age" and "not a fact" in meta["meaning"]
    # the network and a baseline share the layout of a scores file
    network = pd.read_parquet(base / "traits/photos/network.parquet")
    assert list(network.columns) == list(scores.columns)


def _texts(path: Path) -> list[bytes]:
    """What a file says: its bytes, and for parquet every value and its metadata as text."""
    out = [path.read_bytes()]
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        out.append(table.to_pandas().to_csv(index=False).encode())
        out.append(repr(table.schema.metadata).encode())
    return out


def test_no_output_holds_any_name2_value(run: Path, finetuning_dir: Path) -> None:
    names = set(read_data_frame(finetuning_dir / "Candidate_data.RData", "df")["name2"])
    names = {name.encode() for name in names}
    shortest = min(map(len, names))
    files = [
        p
        for folder in ("results", ".snakemake/log")
        for p in (run / folder).rglob("*")
        if p.is_file()
    ]
    assert len(files) > 20
    hits = 0
    for path in files:
        for text in _texts(path):
            tokens = set(re.findall(rb"[A-Za-z0-9+/=]{%d,}" % shortest, text))
            hits += len(tokens & names)
            long = [t for t in tokens if len(t) > shortest]
            hits += sum(1 for t in long for name in names if name in t)
    # the count only: the values themselves are never printed
    assert hits == 0, f"{hits} occurrences of name2 values in the study's outputs"
