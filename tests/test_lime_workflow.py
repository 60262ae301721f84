"""The LIME reports end to end: a real snakemake run on OMI faces with tiny settings.

One run builds the image branch of the first 24 OMI faces (dlib backend, 3 x 3 folds, the
liberal split and the trustworthy rating: one logit and one rating target) and explains two
faces with the rating models beside their controls (permuted labels, random readout, perceived
age), on the landmark regions (quickshift and the seed's arm are covered in memory by
tests/test_lime.py; every OMI target by the opt-in run of config/omi.yaml). The tests read the
tables, open the gallery in headless Chromium (every <img> must load, every page must carry the
stereotype statement), rerun the rule and compare every file byte for byte, and build
``snakemake --report``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from polface.models.artifacts import save_lasso_folds
from polface.studies.lime_report import STEREOTYPE_STATEMENT
from workflow_utils import copy_project, snakemake, write_config

pytestmark = pytest.mark.workflow

FACES = ["1", "2"]
LIME = {
    "enabled": True,
    "images": [int(i) for i in FACES],
    "segmentations": ["regions"],
    "n_samples": 12,
    "heldout_samples": 10,
    "repeats": 2,
    "bootstrap": 10,
    "deletion_orders": 1,
    "curve_steps": 3,
    "controls": {"demographics": ["age"]},
}
OUT = "results/images/omi/lime/dlib/ratings"
TARGETS = {"binary": ["liberal"], "continuous": ["trustworthy"]}
READOUTS = 2 * 3 + 1


@pytest.fixture(scope="module")
def run(omi_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = copy_project(tmp_path_factory.mktemp("lime"))
    config = {
        "run_cohorts": [],
        "run_image_sets": ["omi"],
        "image_sets": {
            "omi": {
                "omi": {"path": str(omi_dir), "ratings": {"outer": 3, "inner": 3, **TARGETS}},
                "limit": 24,
                "embed": {"backends": ["dlib"]},
                "lime": LIME,
            }
        },
        "baselines": {"permutations": 10},
    }
    write_config(workdir, "lime.yaml", config)
    result = snakemake(workdir, "--cores", "2", "--configfile", "config/lime.yaml")
    assert result.returncode == 0, result.stdout[-5000:]
    return workdir


def test_tables_hold_every_weight_and_score(run: Path) -> None:
    scores = pd.read_parquet(run / OUT / "scores.parquet")
    weights = pd.read_parquet(run / OUT / "weights.parquet")
    arms = {"model", "permuted labels", "random readout", "perceived demographics"}
    assert set(scores["arm"]) == arms
    targets = {"liberal", "trustworthy"}
    assert set(scores["target"]) == targets | {"perceived age"}
    # 2 targets x 3 arms + 1 demographics readout, per face
    assert len(scores) == READOUTS * len(FACES)
    assert set(scores["quantity"]) == {"logit", "rating"}
    assert (scores.loc[scores["target"] == "liberal", "quantity"] == "logit").all()
    assert scores["trustworthy"].dtype == bool
    assert (scores["failed"].eq("") == scores["trustworthy"]).all()
    regions = weights[weights["segmentation"] == "regions"]
    assert set(regions["segment_name"]) <= {
        "eyes", "brows", "nose", "mouth", "jaw and chin", "forehead", "cheeks", "outside"
    }  # fmt: skip
    assert (weights["lo"] <= weights["hi"]).all()
    assert weights["repeat_weights"].map(len).eq(LIME["repeats"]).all()
    # Row 0 of the samples is the unperturbed chip: the output there is the fold model's
    # prediction of the face, as fit_omi_ratings stored it out of fold.
    predictions = pd.read_parquet(run / "results/images/omi/ratings_dlib_predictions.parquet")
    # The liberal model is explained on its logit; the stored score is its probability.
    real = scores[scores["arm"] == "model"]
    stored = predictions[predictions["model"] == "embedding"].set_index(["target", "image_id"])
    expected = stored.loc[list(zip(real["target"], real["image_id"], strict=True)), "score"]
    output = real["model_output"].to_numpy()
    output = np.where(real["quantity"] == "logit", 1 / (1 + np.exp(-output)), output)
    assert np.allclose(output, expected.to_numpy(), rtol=1e-6, atol=1e-9)
    summary = pd.read_csv(run / OUT / "regions.csv")
    assert set(summary["arm"]) == arms
    assert (summary["n_faces"] == len(FACES)).all()


def test_the_gallery_loads_in_headless_chromium(run: Path, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (Debian package chromium)")
    gallery = run / OUT / "gallery"
    pages = sorted(gallery.glob("*.html"))
    assert {p.name for p in pages} == {"index.html"} | {f"face_{i}.html" for i in FACES}
    sources = set()
    for page in pages:
        text = page.read_text()
        assert STEREOTYPE_STATEMENT in text.replace("&#x27;", "'"), page.name
        sources |= set(re.findall(r"<img src='([^']+)'", text))
    assert len(sources) == 2 * READOUTS * len(FACES) + 1  # overlays, curves, region summary
    # A page beside the gallery's files that writes into the DOM whether each image decoded.
    copy = shutil.copytree(gallery, tmp_path / "gallery")
    tags = "".join(f"<img src='{s}'>" for s in sorted(sources))
    (copy / "_check.html").write_text(
        f"<!DOCTYPE html><html><body>{tags}<pre id='out'>pending</pre><script>"
        "window.addEventListener('load', function () {"
        " var bad = []; var imgs = document.images;"
        " for (var i = 0; i < imgs.length; i++) {"
        "  if (!(imgs[i].complete && imgs[i].naturalWidth > 0)) bad.push(imgs[i].src); }"
        " document.getElementById('out').textContent ="
        "  'loaded ' + (imgs.length - bad.length) + ' of ' + imgs.length + ' ' + bad.join(',');"
        "});</script></body></html>"
    )
    dom = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--allow-file-access-from-files",
            "--virtual-time-budget=20000",
            "--dump-dom",
            (copy / "_check.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    found = re.search(r"loaded (\d+) of (\d+) ?([^<]*)</pre>", dom)
    assert found, dom[-2000:]
    assert found.group(1) == found.group(2) == str(len(sources)), found.group(3)


def test_a_rerun_gives_identical_files(run: Path) -> None:
    plan = snakemake(run, "-n", "--configfile", "config/lime.yaml")
    assert "Nothing to be done" in plan.stdout, plan.stdout[-3000:]
    files = sorted(p for p in (run / OUT).rglob("*") if p.is_file())
    before = {p: p.read_bytes() for p in files}
    again = snakemake(
        run, "--cores", "2", "--configfile", "config/lime.yaml", "--forcerun", "explain_lime"
    )
    assert again.returncode == 0, again.stdout[-3000:]
    after = sorted(p for p in (run / OUT).rglob("*") if p.is_file())
    assert after == files
    changed = [p.name for p in files if p.read_bytes() != before[p]]
    assert changed == []


def test_the_gallery_is_in_the_snakemake_report(run: Path) -> None:
    result = snakemake(run, "--configfile", "config/lime.yaml", "--report", "report.zip")
    assert result.returncode == 0, result.stdout[-3000:]
    listing = subprocess.run(
        ["python3", "-m", "zipfile", "-l", str(run / "report.zip")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # the gallery folder goes into the report whole, under a hashed name
    folders = {}
    for line in listing.splitlines()[1:]:
        name = line.split()[0]
        folders.setdefault(name.rsplit("/", 1)[0], set()).add(name.rsplit("/", 1)[-1])
    gallery = [files for files in folders.values() if "index.html" in files]
    assert len(gallery) == 1
    assert {"regions.png", "face_1.html", "face_2.html"} <= gallery[0]


def test_real_photographs_are_explained_only_from_an_explicit_config(run: Path) -> None:
    photos = run / "photos"
    photos.mkdir(exist_ok=True)
    shutil.copy(run / "results/images/omi/crops/1.png", photos / "a.png")
    # a cohort model of dlib's width, in fit_lasso's layout (a folder set has no rating models)
    coef = np.random.default_rng(0).normal(size=(1, 128))
    info = {"outer_fold": 1, "lambda": 0.1, "step": 1, "a0": 0.0, "beta": coef[0]}
    info |= {"cv_lambda": [0.1], "cv_mean": [0.0], "cv_sd": [0.0]}
    save_lasso_folds([info], run / "cohort_models.npz")
    cohort = {"path": "cohort_models.npz", "backend": "dlib", "trained_on": "a test cohort"}
    lime = {"enabled": True, "cohort_models": {"cohort": cohort}}
    folder = {"folder": {"path": "photos", "pattern": "*.png"}, "lime": lime}
    config = {"run_image_sets": ["photos"], "image_sets": {"photos": folder}}
    write_config(run, "photos.yaml", config)
    refused = snakemake(run, "-n", "--configfile", "config/lime.yaml", "config/photos.yaml")
    assert refused.returncode != 0
    assert "explained only with lime.photographs: true" in refused.stdout
    folder["lime"]["photographs"] = True
    write_config(run, "photos.yaml", config)
    allowed = snakemake(run, "-n", "--configfile", "config/lime.yaml", "config/photos.yaml")
    assert allowed.returncode == 0, allowed.stdout[-3000:]
    assert "results/images/photos/lime/dlib/cohort/gallery" in allowed.stdout
