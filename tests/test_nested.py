"""polface.models.nested: the nested CV on a continuous target, and its alignment check."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from polface.models.fitters import mean_fitter
from polface.models.nested import nested_predictions


def test_nested_predictions_of_a_continuous_target_with_the_mean_guess() -> None:
    ids = [f"f{i}" for i in range(12)]
    faces = pd.DataFrame({"image_id": ids, "rating": np.arange(12, dtype=float) * 1.5})
    folds = pd.DataFrame(
        {"image_id": ids, "outer_fold": np.arange(12) % 3 + 1, "inner_fold": np.arange(12) % 4 + 1}
    )
    predictions, infos = nested_predictions(
        np.zeros((12, 1)),
        faces,
        folds,
        "rating",
        mean_fitter(),
        samples=["rating"],
        own_sample_only=True,
        continuous=True,
        id_column="image_id",
        target_column="target",
        model_column="model",
        progress=False,
    )
    assert list(predictions.columns[:3]) == ["model", "target", "image_id"]
    assert predictions["y"].dtype == np.float64
    assert sorted(predictions["image_id"]) == sorted(ids)
    for row in predictions.itertuples():
        training = faces["rating"][folds["outer_fold"] != row.outer_fold]
        assert row.score == pytest.approx(training.mean())
    assert [i["mean"] for i in infos] == pytest.approx(
        [faces["rating"][folds["outer_fold"] != k].mean() for k in (1, 2, 3)]
    )
    swapped = folds.iloc[[1, 0, *range(2, 12)]].reset_index(drop=True)
    with pytest.raises(
        ValueError, match=r"folds are not aligned with the targets: first difference at row 1"
    ):
        nested_predictions(
            np.zeros((12, 1)),
            faces,
            swapped,
            "rating",
            mean_fitter(),
            samples=["rating"],
            continuous=True,
            id_column="image_id",
            target_column="target",
            model_column="model",
            progress=False,
        )
