"""Shared test fixtures: where the real data lives, and clear skips when it is absent; the Facial
Finetuning study's workflow run, which two test files read."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_path(*parts: str) -> Path:
    """Return a path under ../shared/data, skipping the test with a clear message if absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"real test data not found: {path} (expected ../shared/data beside the checkout)"
        )
    return path


@pytest.fixture(scope="session")
def osf_fixture() -> Path:
    """The R-written fixture in the exact Kosinski (2021) OSF layout."""
    return shared_path("osf-fixture")


@pytest.fixture(scope="session")
def omi_dir() -> Path:
    """One Million Impressions images and ratings."""
    return shared_path("omi")


@pytest.fixture(scope="session")
def finetuning_dir() -> Path:
    """The Facial Finetuning RData files."""
    return shared_path("facial-finetuning")


@pytest.fixture(scope="session")
def finetuning_study(
    finetuning_dir: Path, omi_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The Facial Finetuning study through the workflow (its default targets, results/claims.md
    among them), once per session: tests/test_finetuning_workflow.py checks its outputs and
    tests/test_claims.py its claims."""
    from workflow_utils import build, copy_project, write_config

    workdir = copy_project(tmp_path_factory.mktemp("finetuning"))
    study = yaml.safe_load((REPO / "config/facial_finetuning.yaml").read_text())
    data = study["facial_finetuning"]["data"]
    for key, value in data.items():
        data[key] = str((REPO / value).resolve())
    assert Path(data["training"]).parent == finetuning_dir.resolve()
    assert Path(data["omi"]) == omi_dir.resolve()
    study["facial_finetuning"]["evaluation"] = {"bootstrap": 200}
    study["facial_finetuning"]["noise_ceiling"] = {"splits": 4}
    # no embedding baselines here (embedding the 856 faces takes minutes): tests/test_facial_
    # finetuning.py checks them on planted embeddings; tests/test_trait_scoring_workflow.py
    # scores photographs with them); the perceived gender + age model scores three OMI faces
    study["facial_finetuning"]["baseline_models"] = {"image_set": None, "apply_to": ["omi_few"]}
    study.pop("image_sets")
    # the whole training procedure, augmentation included, on the tiny random backbone
    study["facial_finetuning"]["regressor"] = {
        "enabled": True,
        "backbone": "tiny",
        "apply_to": ["photos"],
        "training": {"hidden": 8, "max_epochs": 2, "patience": 1},
    }
    photos = workdir / "photos"
    photos.mkdir()
    # Copies: a symlink out of an image folder is refused (a row, never read).
    for name in ("5.jpg", "17.jpg", "600.jpg"):
        shutil.copyfile(omi_dir / "images" / name, photos / name)
    (photos / "broken.jpg").write_bytes(b"not a jpeg")
    study["image_sets"] = {
        "photos": {"folder": {"path": "photos"}},
        "omi_few": {"omi": {"path": str(omi_dir.resolve())}, "limit": 3},
    }
    config = write_config(workdir, "finetuning_test.yaml", study)
    build(workdir, "--cores", "2", "--configfile", str(config))
    return workdir
