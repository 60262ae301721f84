"""The Facial Finetuning data (Lindholm, Hjorth & Schuessler, PSRM 2024): vocabulary and readers.

Three RData files from the authors' repository (asbjoernlindholm/facial-finetuning):

* ``OMI_training_data.RData``, data.frame ``omi_df``: the 856 adult One Million Impressions faces
  with the three traits (OMI means / 10), perceived ``gender`` and ``age`` (OMI means, 0-100) and
  ``image_folder`` = train / validation / test, the split R's ``set.seed(123); sample()`` drew
  (numpy cannot redraw it, so it is read, never redrawn).
* ``Annotated.and.predicted.test.data.RData``, data.frame ``df``: the 172 test faces with the
  authors' own predictions (``predicted_*``) beside the annotations (``annotated_*``).
* ``Candidate_data.RData``, data.frame ``df``: 9,020 Danish candidates with the traits the
  authors' networks predicted from their photographs and the two outcomes. Its ``name2`` column
  (base64 of a name and a party) identifies a person: :func:`read_candidates` replaces it by
  integer codes the moment it is read, and it is never decoded, printed, logged or written.

The counts above (856 faces split 513 / 171 / 172, 9,020 candidates, the 7,080 rows of the
analysis sample) are checked on the released files by ``tests/test_facial_finetuning.py``.

Beside them, OMI's individual ratings (``attribute_ratings.zip``, :func:`read_individual_ratings`)
for the noise ceiling, and the paper's analysis sample of the candidates
(:func:`analysis_sample`).
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from polface.data.rdata import RDataError, list_objects, read_data_frame
from polface.errors import InputError
from polface.frames import IMAGE_ID, require_columns
from polface.images.load import ImageRejected, checked_photograph

TRAITS: tuple[str, ...] = ("attractiveness", "trustworthiness", "dominance")
#: The OMI attribute behind each trait (columns of attribute_means.csv / attribute_ratings.csv).
OMI_ATTRIBUTES: dict[str, str] = {
    "attractiveness": "attractive",
    "trustworthiness": "trustworthy",
    "dominance": "dominant",
}
SPLITS: tuple[str, ...] = ("train", "validation", "test")
TRAINING_OBJECT = "omi_df"
TEST_OBJECT = "df"
CANDIDATES_OBJECT = "df"
#: The integer code that replaces ``name2``; ``name2`` itself never leaves :func:`read_candidates`.
CANDIDATE_CODE = "candidate"
PERSONAL_COLUMN = "name2"
#: Columns of the candidates data not used at all (``ethnicity``: the issue forbids it).
UNUSED_CANDIDATE_COLUMNS = ("ethnicity",)
IMAGE_FLAGS = ("image_missing", "image_bad", "image_text")
OUTCOMES: dict[str, str] = {
    "percentile_rank_std": "ballot position (z, 1 = top)",
    "personal_votes_std": "log personal votes (z)",
}


class FacialFinetuningDataError(InputError):
    """An input file of the study does not hold what the study expects."""


# ---------------------------------------------------------------- reading the three RData files


def read_frame(path: str | Path, object_name: str, columns: Sequence[str]) -> pd.DataFrame:
    """Read data.frame ``object_name`` from an RData file and check that it has ``columns``."""
    path = Path(path)
    if not path.is_file():
        raise FacialFinetuningDataError(f"{path}: file not found")
    try:
        objects = list_objects(path)
    except RDataError as exc:
        raise FacialFinetuningDataError(f"{path}: not a readable RData file ({exc})") from exc
    if object_name not in objects:
        found = ", ".join(f"{k} ({v})" for k, v in objects.items()) or "nothing"
        raise FacialFinetuningDataError(
            f"{path}: expected a data.frame named {object_name!r}; the file holds {found}"
        )
    if "data.frame" not in objects[object_name]:
        raise FacialFinetuningDataError(
            f"{path}: {object_name!r} is {objects[object_name]}, expected a data.frame"
        )
    frame = read_data_frame(path, object_name)
    try:
        require_columns(frame, columns, table=f"{path}: data.frame {object_name!r}")
    except KeyError as exc:
        raise FacialFinetuningDataError(str(exc.args[0])) from None
    return frame


def image_id_of(filename: str) -> str:
    """``'17.jpg'`` → ``'17'``: the OMI image number, the ``image_id`` of the image branch."""
    return Path(str(filename)).stem


def unusable_images(names: Sequence[str], folder: str | Path) -> list[str]:
    """The file names (``Filename``) of faces without a usable image in ``folder``, with why.

    Each must name a regular file inside ``folder`` (the OMI images folder), not one reached
    through ``..`` or a symlink out of it (:func:`polface.images.load.checked_photograph`, the
    check of every photograph polface reads); ``"name (reason)"`` for each that does not.
    """
    refused = []
    for name in names:
        try:
            checked_photograph(Path(folder) / name, folder=folder)
        except ImageRejected as err:
            refused.append(f"{name} ({err.detail})")
    return refused


def read_training_split(
    path: str | Path,
    *,
    expected_counts: Mapping[str, int],
    image_folder: str | Path | None,
) -> pd.DataFrame:
    """The authors' split of the adult OMI faces, checked.

    Returns one row per face in file order: ``image_id``, ``Filename``, ``split`` (train /
    validation / test), the three traits (OMI means / 10), perceived ``gender`` and ``age``.

    Raises:
        FacialFinetuningDataError: no ``omi_df``, a missing column, duplicate or empty file
            names, split labels other than train / validation / test, counts other than
            ``expected_counts``, or (with ``image_folder``) faces of the split without a usable
            image file in it (:func:`unusable_images`; the message names them and why).
    """
    columns = ["Filename", *TRAITS, "gender", "age", "image_folder"]
    frame = read_frame(path, TRAINING_OBJECT, columns)
    names = frame["Filename"].astype(str)
    if frame["Filename"].isna().any() or names.duplicated().any():
        bad = names[names.duplicated() | frame["Filename"].isna()].tolist()[:5]
        raise FacialFinetuningDataError(
            f"{path}: column 'Filename' must be unique and complete; repeated or missing: {bad}"
        )
    split = frame["image_folder"].astype(str)
    unknown = sorted(set(split) - set(SPLITS))
    if unknown:
        raise FacialFinetuningDataError(
            f"{path}: column 'image_folder' has {unknown}; expected only {list(SPLITS)}"
        )
    counts = {name: int((split == name).sum()) for name in SPLITS}
    expected = {name: int(expected_counts[name]) for name in SPLITS}
    if counts != expected:
        raise FacialFinetuningDataError(
            f"{path}: the split has {counts} faces per part; expected {expected} "
            "(the authors' set.seed(123) split)"
        )
    for column in (*TRAITS, "gender", "age"):
        if frame[column].isna().any():
            rows = (np.flatnonzero(frame[column].isna().to_numpy()) + 1).tolist()[:5]
            raise FacialFinetuningDataError(f"{path}: column {column!r} is NA in rows {rows}")
    if image_folder is not None:
        refused = unusable_images(names, image_folder)
        if refused:
            raise FacialFinetuningDataError(
                f"{path}: column 'Filename': {len(refused)} faces of the split have no usable"
                f" image file in {image_folder}: {refused[:10]}"
            )
    out = pd.DataFrame(
        {
            IMAGE_ID: names.map(image_id_of),
            "Filename": names,
            "split": pd.Categorical(split, categories=list(SPLITS)),
        }
    )
    for column in (*TRAITS, "gender", "age"):
        out[column] = frame[column].to_numpy(dtype=np.float64)
    return out


def read_test_predictions(path: str | Path, split: pd.DataFrame) -> pd.DataFrame:
    """The authors' own test-set predictions, long: ``image_id``, ``trait``, ``prediction``.

    Checks that the faces are exactly the test part of ``split`` and that every ``annotated_*``
    value equals the split's trait (the file and the split describe the same faces).
    """
    columns = ["Filename"] + [f"{kind}_{t}" for t in TRAITS for kind in ("annotated", "predicted")]
    frame = read_frame(path, TEST_OBJECT, columns)
    ids = frame["Filename"].astype(str).map(image_id_of)
    test = split[split["split"] == "test"].set_index(IMAGE_ID)
    if sorted(ids) != sorted(test.index) or ids.duplicated().any():
        extra = sorted(set(ids) - set(test.index))[:5]
        lacking = sorted(set(test.index) - set(ids))[:5]
        raise FacialFinetuningDataError(
            f"{path}: its {len(ids)} faces are not the {len(test)} test faces of the split "
            f"(not in the test split: {extra}; test faces missing: {lacking})"
        )
    parts = []
    for trait in TRAITS:
        annotated = frame[f"annotated_{trait}"].to_numpy(dtype=np.float64)
        expected = test.loc[ids, trait].to_numpy()
        worst = float(np.max(np.abs(annotated - expected)))
        if not worst <= 1e-9:
            raise FacialFinetuningDataError(
                f"{path}: annotated_{trait} differs from the split's {trait} by up to {worst}"
            )
        parts.append(
            pd.DataFrame(
                {
                    IMAGE_ID: ids.to_numpy(),
                    "trait": trait,
                    "prediction": frame[f"predicted_{trait}"].to_numpy(dtype=np.float64),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def read_candidates(path: str | Path) -> pd.DataFrame:
    """The candidates data.frame with ``name2`` replaced by integer codes (``candidate``).

    The codes number the distinct ``name2`` values in order of first appearance (0, 1, ...);
    ``name2`` itself and the unused ``ethnicity`` are dropped here, so no later step can write
    them. Rows keep the file's order.
    """
    columns = [
        PERSONAL_COLUMN,
        "election",
        "election_type",
        "party_ideology",
        "age",
        "gender",
        "education",
        *(f"{t}_pd" for t in TRAITS),
        "no_candidates_on_ballot",
        "percentile_rank",
        "personal_votes",
        *IMAGE_FLAGS,
    ]
    frame = read_frame(path, CANDIDATES_OBJECT, columns)
    if frame[PERSONAL_COLUMN].isna().any():
        rows = (np.flatnonzero(frame[PERSONAL_COLUMN].isna().to_numpy()) + 1).tolist()[:5]
        raise FacialFinetuningDataError(f"{path}: column 'name2' is NA in rows {rows}")
    codes, _ = pd.factorize(frame[PERSONAL_COLUMN], sort=False)
    out = frame.drop(columns=[PERSONAL_COLUMN, *UNUSED_CANDIDATE_COLUMNS], errors="ignore")
    out.insert(0, CANDIDATE_CODE, codes.astype(np.int64))
    return out


def analysis_sample(candidates: pd.DataFrame) -> pd.DataFrame:
    """The paper's 7,080 rows and its outcomes, z-scored within each election.

    Keeps rows with no image flag set (``image_missing``, ``image_bad``, ``image_text`` all 0)
    and the three predictions present; then, within each ``election``, ``percentile_rank_std`` =
    R's ``scale(percentile_rank)`` and ``personal_votes_std`` = ``scale(log(personal_votes))``
    (mean and SD with n - 1 over the non-missing values).
    """
    keep = np.ones(len(candidates), dtype=bool)
    for flag in IMAGE_FLAGS:
        keep &= candidates[flag].to_numpy(dtype=np.float64, na_value=np.nan) == 0
    for trait in TRAITS:
        keep &= candidates[f"{trait}_pd"].notna().to_numpy()
    df = candidates.loc[keep].copy()
    votes = df["personal_votes"].to_numpy(dtype=np.float64)
    if (votes <= 0).any():
        raise FacialFinetuningDataError(
            f"{int((votes <= 0).sum())} kept rows have personal_votes <= 0; log is undefined"
        )
    df["log_personal_votes"] = np.log(votes)
    for source, target in (
        ("percentile_rank", "percentile_rank_std"),
        ("log_personal_votes", "personal_votes_std"),
    ):
        grouped = df.groupby("election", sort=False)[source]
        df[target] = (df[source] - grouped.transform("mean")) / grouped.transform("std")
    return df.reset_index(drop=True)


def read_individual_ratings(
    path: str | Path, attributes: Sequence[str], *, rating_types: Sequence[str]
) -> pd.DataFrame:
    """OMI's individual ratings of ``attributes``: ``attribute``, ``stimulus``, ``rating``.

    ``path`` is ``attribute_ratings.zip`` (with ``attribute_ratings.csv``) or the CSV itself.
    Only rows whose ``rating_type`` is in ``rating_types`` are kept. OMI's published means
    (``attribute_means.csv``) average every rating of a face: ``normal``, ``repeat`` (a rater's
    second rating of the same face) and ``fill-in``; a repeat is not an independent rating, so
    leaving it out gives a slightly lower, more cautious reliability.
    """
    path = Path(path)
    columns = ["rating", "attribute", "rating_type", "stimulus"]
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith("attribute_ratings.csv")]
            if not names:
                raise FacialFinetuningDataError(f"{path}: no attribute_ratings.csv inside")
            with archive.open(names[0]) as fh:
                frame = pd.read_csv(fh, usecols=columns)
    else:
        frame = pd.read_csv(path, usecols=columns)
    unknown = sorted(set(attributes) - set(frame["attribute"].unique()))
    if unknown:
        raise FacialFinetuningDataError(f"{path}: no ratings of {unknown}")
    keep = frame["attribute"].isin(list(attributes)) & frame["rating_type"].isin(list(rating_types))
    out = frame.loc[keep, ["attribute", "stimulus", "rating"]].reset_index(drop=True)
    out["stimulus"] = out["stimulus"].astype(str)
    return out
