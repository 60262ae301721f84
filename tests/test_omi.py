"""polface.data.omi: OMI's mean ratings and the rating targets, on the shared OMI copy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from polface.data.omi import rating_targets, read_omi_ratings


def test_rating_targets_split_binary_ratings_at_the_median(omi_dir: Path) -> None:
    ratings = read_omi_ratings(omi_dir / "attribute_means.csv")
    assert len(ratings) == 1004 and ratings.index[0] == "1"
    ids = [str(i) for i in range(1, 101)]
    targets, medians = rating_targets(ratings, ids, ["liberal"], ["trustworthy"])
    assert medians["liberal"] == pytest.approx(ratings.loc[ids, "liberal"].median())
    above = ratings.loc[ids, "liberal"].to_numpy() > medians["liberal"]
    assert np.array_equal(targets["liberal"].to_numpy(), above.astype(float))
    assert targets["liberal"].sum() == 50
    assert np.array_equal(targets["trustworthy"], ratings.loc[ids, "trustworthy"])
    with pytest.raises(ValueError, match=r"attribute_means.csv: 1 face\(s\) of the image set"):
        rating_targets(ratings, ["1", "9999"], ["liberal"], [])
    with pytest.raises(KeyError, match="honest"):
        rating_targets(ratings, ids, ["honest"], [])
