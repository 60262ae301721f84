"""Shared test fixtures: where the real data lives, and clear skips when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

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
