"""LIME reports of an image set: which parts of a face move a model's output, with controls.

Rule ``explain_lime`` (one job per image set, backend and model) calls :func:`explain_faces`
then :func:`write_report`. For each face to explain:

1. The photograph goes through the workflow's chain (:class:`polface.explain.chain.FaceChain`):
   crop, and the network input that the embedder really sees, ``uint8`` (the 224 px crop for
   the ResNet backends, dlib's 150 px chip for ``dlib``), with the affine from the photograph
   into it.
2. Segmentations of that input (:mod:`polface.explain.segments`): ``regions`` (dlib's 68
   landmarks mapped with the affine), ``quickshift`` (on the ``uint8`` input) and ``seed``
   (the seed's mean-subtracted quickshift, hidden colour = the channel means).
3. Readouts (:mod:`polface.explain.readouts`): for the OMI rating models, each target's LASSO
   of the outer fold that did not train on the face, read out as logit or rating, beside its
   permuted-label refit, a random readout of the same sparsity and norm, and the
   perceived-demographics readouts of the same fold; for a model trained on a cohort
   (``cohort_models``: e.g. Kosinski's LASSO on the OSF descriptors) its first outer fold (no
   fold saw these faces) and a random readout, with the statement that the model was trained
   on descriptors from another pipeline than the one that embedded the image.
4. :func:`polface.explain.explanations.explain_face` for all readouts at once.

Outputs: ``weights.parquet`` (every segment weight with its bootstrap interval and the weights
of every repeat), ``scores.parquet`` (per face, segmentation and readout: outputs, fit,
stability, faithfulness, trust verdict), ``curves.parquet``, ``regions.csv`` (mean region weight
across faces with a t interval, per target and arm) and a ``gallery/`` of HTML pages with an
overlay and the curves of every explanation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.stats import t as student_t
from tqdm import tqdm

from polface.data.omi import EMBEDDING, rating_targets
from polface.explain.chain import FaceChain
from polface.explain.explanations import Readout, explain_face
from polface.explain.readouts import (
    MODEL,
    PERMUTED,
    RANDOM,
    LinkReadout,
    permuted_refit,
    random_readout,
)
from polface.explain.segments import (
    SEED_HIDE_COLOR,
    Segmentation,
    chip_affine,
    input_landmarks,
    quickshift_segments,
    region_segments,
    seed_replication_segments,
)
from polface.images.embed import DLIB_CHIP_PADDING, DLIB_CHIP_SIZE, Embedder
from polface.images.load import read_rgb
from polface.io import write_atomic, write_parquet
from polface.metrics import child_seed
from polface.models.artifacts import LinearModel, RatingModels
from polface.report.gallery import (
    Page,
    ci_text,
    curves_figure,
    overlay_figure,
    region_figure,
    write_gallery,
)

#: The statement on every gallery page (the README's).
STEREOTYPE_STATEMENT = (
    "polface is an audit tool. One Million Impressions ratings are human stereotypes about "
    "synthetic faces, not facts about anyone: an explanation shows which parts of an image "
    "move a model of what raters believed, nothing about the politics or the character of any "
    "real person. Scores about individual people are not its use."
)

#: Perceived-demographics readouts are explained under this arm name.
DEMOGRAPHICS = "perceived demographics"

#: The segmentation methods a config may ask for.
SEGMENTATIONS = ("regions", "quickshift", "seed")


def network_input(chain: FaceChain, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, Any]:
    """The ``uint8`` image the embedder sees, the affine photograph -> it, and the FaceCrop."""
    cropped = chain.crop(rgb)
    if not cropped.ok:
        raise ValueError(f"no face to explain: {cropped.status} ({cropped.detail})")
    image = chain.embedder.input_of(rgb, cropped)
    if chain.embedder.uses_chips:
        face = cropped.face
        box = (face.left, face.top, face.right, face.bottom)
        affine = chip_affine(box, cropped.landmarks, size=DLIB_CHIP_SIZE, padding=DLIB_CHIP_PADDING)
    else:
        affine = cropped.affine
    return image, affine, cropped


def segmentations_of(
    rgb: np.ndarray,
    image: np.ndarray,
    affine: np.ndarray,
    cropped: Any,
    *,
    methods: Sequence[str],
    quickshift: Mapping[str, Any],
) -> list[tuple[Segmentation, tuple[int, int, int] | None]]:
    """The requested segmentations, each with its own hidden colour (None: the config's)."""
    out: list[tuple[Segmentation, tuple[int, int, int] | None]] = []
    for method in methods:
        if method == "regions":
            _, points = input_landmarks(rgb, cropped.face, affine)
            out.append((region_segments(points, image.shape[:2]), None))
        elif method == "quickshift":
            out.append((quickshift_segments(image, **quickshift), None))
        elif method == "seed":
            out.append((seed_replication_segments(image, rng=quickshift["rng"]), SEED_HIDE_COLOR))
        else:
            raise ValueError(f"unknown segmentation {method!r}; choose from {SEGMENTATIONS}")
    return out


def rating_readouts(
    fold: int,
    models: Mapping[tuple[str, str], RatingModels],
    demographics: Mapping[tuple[str, str], RatingModels] | None,
    train: tuple[np.ndarray, pd.DataFrame] | None,
    *,
    permuted: bool,
    random: bool,
    seed: int,
) -> list[Readout]:
    """The readouts of the faces of outer fold ``fold``: each target's model of that fold (which
    did not train on them) and its controls, then the perceived-demographics readouts.

    ``train`` is ``(X, targets)`` of the faces outside outer fold ``fold`` (the rows the fold
    model was fitted on), needed for the permuted-label refit.
    """
    readouts = []
    embedding = [m for (_, name), m in models.items() if name == EMBEDDING]
    for index, rating in enumerate(embedding):
        model = rating.folds[fold]
        quantity = LinkReadout(model).quantity
        readouts.append(Readout(rating.target, MODEL, quantity, LinkReadout(model)))
        if permuted:
            if train is None:
                raise ValueError("the permuted-label control needs the training rows")
            X, targets = train
            y = targets[rating.target].to_numpy(dtype=np.float64)
            keep = ~np.isnan(y)
            refit = permuted_refit(model, X[keep], y[keep], seed=child_seed(seed, 2 * index))
            readouts.append(Readout(rating.target, PERMUTED, quantity, LinkReadout(refit)))
        if random:
            fake = random_readout(model, seed=child_seed(seed, 2 * index + 1))
            readouts.append(Readout(rating.target, RANDOM, quantity, LinkReadout(fake)))
    for (target, name), rating in (demographics or {}).items():
        if name != EMBEDDING:
            continue
        model = rating.folds[fold]
        readouts.append(Readout(f"perceived {target}", DEMOGRAPHICS, "rating", LinkReadout(model)))
    return readouts


def cohort_readouts(
    name: str, folds: Mapping[int, LinearModel], *, dim: int, random: bool, seed: int
) -> list[Readout]:
    """A cohort's model (its first outer fold: none saw these faces) and a random readout.

    ``dim`` is the backend's embedding width; a model of another width is refused with an
    error naming the config key (Kosinski's LASSO reads 2048 VGGFace2 dimensions).
    """
    model = folds[min(folds)]
    if len(model.coef) != dim:
        raise ValueError(
            f"lime.cohort_models.{name}: the model has {len(model.coef)} coefficients but the "
            f"backend embeds {dim} dimensions"
        )
    out = [Readout(name, MODEL, LinkReadout(model).quantity, LinkReadout(model))]
    if random:
        fake = LinkReadout(random_readout(model, seed=seed))
        out.append(Readout(name, RANDOM, fake.quantity, fake))
    return out


def training_rows(
    ids: Sequence[str],
    X: np.ndarray,  # noqa: N803
    ratings: pd.DataFrame,
    folds: Mapping[str, int],
    fold: int,
    *,
    binary: Sequence[str],
    continuous: Sequence[str],
) -> tuple[np.ndarray, pd.DataFrame]:
    """The embeddings and targets of the faces outside outer fold ``fold`` (its training rows).

    The binary targets are split at the median of all faces, as ``fit_omi_ratings`` split them.
    """
    targets, _ = rating_targets(ratings, ids, binary, continuous)
    mask = np.array([folds[i] != fold for i in ids])
    return np.asarray(X, dtype=np.float64)[mask], targets[mask].reset_index(drop=True)


def faces_to_explain(
    manifest: pd.DataFrame, images: Sequence[str | int] | None, *, source: str
) -> dict[str, str]:
    """``{image_id: photograph}`` of the faces to explain: ``images`` (all ``ok`` faces if None).

    A listed id that is not in the manifest, or whose status is not ``ok``, is an error naming it.
    """
    rows = manifest.assign(image_id=manifest["image_id"].astype(str)).set_index("image_id")
    wanted = (
        list(rows.index[rows["status"] == "ok"]) if images is None else [str(i) for i in images]
    )
    bad = [i for i in wanted if i not in rows.index or rows.loc[i, "status"] != "ok"]
    if bad:
        found = {i: rows.loc[i, "status"] if i in rows.index else "absent" for i in bad}
        raise ValueError(f"lime.images: no ok face in the {source} for {found}")
    return {i: str(rows.loc[i, "source"]) for i in wanted}


def explain_faces(
    faces: Mapping[str, str],
    chain: FaceChain,
    readouts_of: Any,
    *,
    settings: Mapping[str, Any],
    progress: bool = True,
) -> dict[str, Any]:
    """Explain each face ``{image_id: photograph path}`` for the readouts ``readouts_of(id)``.

    Returns the three tables (``weights``, ``scores``, ``curves`` as DataFrames) and, per
    face, the network input and its segmentations for the pictures (``inputs``).
    """
    options = {
        k: settings[k]
        for k in (
            "n_samples",
            "heldout_samples",
            "repeats",
            "kernel_width",
            "batch_size",
            "bootstrap",
            "level",
            "deletion_orders",
            "curve_steps",
            "top",
            "seed",
            "trust",
        )
    }
    embedder: Embedder = chain.embedder
    # On a GPU the ResNet inputs are masked there (dlib's chips are numpy on the CPU).
    on_gpu = not embedder.uses_chips and getattr(embedder.device, "type", "cpu") == "cuda"
    mask_device = embedder.device if on_gpu else None
    records: dict[str, list[dict[str, Any]]] = {"weights": [], "scores": [], "curves": []}
    inputs = {}
    for image_id, path in tqdm(faces.items(), desc="faces", disable=not progress):
        rgb = read_rgb(path, min_side=1, max_pixels=None)
        image, affine, cropped = network_input(chain, rgb)
        segs = segmentations_of(
            rgb,
            image,
            affine,
            cropped,
            methods=settings["segmentations"],
            quickshift=settings["quickshift"],
        )
        readouts = readouts_of(image_id)
        inputs[image_id] = (image, [s for s, _ in segs])
        for seg, hide in segs:
            out = explain_face(
                image_id,
                image,
                seg,
                readouts,
                embedder.embed,
                hide_color=hide if hide is not None else settings["hide_color"],
                progress=False,
                mask_device=mask_device,
                **options,
            )
            for key, rows in out.items():
                records[key] += rows
    tables = {key: pd.DataFrame(rows) for key, rows in records.items()}
    return {**tables, "inputs": inputs}


def region_summary(weights: pd.DataFrame, *, level: float) -> pd.DataFrame:
    """Mean weight per region across faces with a t interval, per target and arm."""
    rows = []
    regions = weights[weights["segmentation"] == "regions"]
    for (target, arm, region), part in regions.groupby(
        ["target", "arm", "segment_name"], sort=False
    ):
        values = part["weight"].to_numpy(dtype=np.float64)
        n = len(values)
        mean = float(values.mean())
        if n > 1:
            half = float(student_t.ppf(0.5 + level / 2, n - 1) * values.std(ddof=1) / math.sqrt(n))
        else:
            half = math.nan
        rows.append(
            {
                "target": target,
                "arm": arm,
                "region": region,
                "n_faces": n,
                "mean": mean,
                "lo": mean - half,
                "hi": mean + half,
            }
        )
    return pd.DataFrame(rows, columns=["target", "arm", "region", "n_faces", "mean", "lo", "hi"])


def _frame(records: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(records, preserve_index=False)


def write_report(
    result: Mapping[str, Any],
    *,
    weights: str | Path,
    scores: str | Path,
    curves: str | Path,
    regions: str | Path,
    gallery: str | Path,
    metadata: Mapping[str, Any],
    notes: Sequence[str],
    top: int,
    level: float,
) -> None:
    """Write the tables (parquet, the region summary as CSV) and the gallery folder."""
    for frame, path in ((result["weights"], weights), (result["scores"], scores)):
        write_parquet(_frame(frame), path, metadata=metadata)
    write_parquet(_frame(result["curves"]), curves, metadata=metadata)
    summary = region_summary(result["weights"], level=level)
    write_atomic(regions, summary.to_csv(index=False, lineterminator="\n"))
    folder = Path(gallery)
    folder.mkdir(parents=True, exist_ok=True)
    pages = []
    table = result["scores"]
    w = result["weights"]
    c = result["curves"]
    for image_id, (image, segs) in result["inputs"].items():
        images, tables = [], []
        for seg in segs:
            part = table[(table["image_id"] == image_id) & (table["segmentation"] == seg.method)]
            for row in part.itertuples():
                stem = f"{image_id}_{seg.method}_{row.target}_{row.arm}".replace(" ", "-")
                sel = (
                    (w["image_id"] == image_id)
                    & (w["segmentation"] == seg.method)
                    & (w["target"] == row.target)
                    & (w["arm"] == row.arm)
                )
                verdict = "trustworthy" if row.trustworthy else "NOT trustworthy"
                title = (
                    f"{row.target} · {row.arm} · {seg.method}\n{row.quantity} "
                    f"{row.model_output:.3g}, R² {row.r2_in_sample:.2f} / held-out "
                    f"{row.heldout_r2:.2f} ({verdict})"
                )
                overlay_figure(
                    image,
                    seg.labels,
                    w.loc[sel, "weight"].to_numpy(),
                    top=top,
                    title=title,
                    path=folder / f"{stem}_overlay.png",
                )
                cur = c[
                    (c["image_id"] == image_id)
                    & (c["segmentation"] == seg.method)
                    & (c["target"] == row.target)
                    & (c["arm"] == row.arm)
                ]
                curves_figure(
                    cur["fraction"].to_numpy(),
                    cur["deletion"].to_numpy(),
                    cur["insertion"].to_numpy(),
                    ylabel=row.quantity,
                    title=(
                        f"deletion drop {row.deletion_drop:.2f} {row.quantity} "
                        f"(gain {row.deletion_gain:.2f}), "
                        f"insertion gain {row.insertion_gain:.2f}"
                    ),
                    path=folder / f"{stem}_curves.png",
                )
                caption = title.replace("\n", ": ")
                images += [(f"{stem}_overlay.png", caption), (f"{stem}_curves.png", "curves")]
            shown = part[
                [
                    "target",
                    "arm",
                    "quantity",
                    "model_output",
                    "local_pred",
                    "r2_in_sample",
                    "heldout_r2",
                    "local_error_sd",
                    "spearman",
                    "jaccard_top",
                    "deletion_gain",
                    "deletion_drop",
                    "insertion_gain",
                    "trustworthy",
                    "failed",
                ]
            ]
            tables.append((f"fit and faithfulness ({seg.method})", shown))
        pages.append(Page(f"face_{image_id}", f"face {image_id}", images, tables, notes))
    index_images = []
    if len(summary):
        region_figure(summary, path=folder / "regions.png")
        index_images.append(("regions.png", f"mean region weight across faces, {level:.0%} CI"))
    display = summary.assign(**{"mean [CI]": summary.apply(ci_text, axis=1)})
    index = Page(
        "index",
        "LIME explanations",
        index_images,
        [("region weights, model beside its controls", display.drop(columns=["lo", "hi"]))],
        notes,
    )
    write_gallery(folder, index, pages, statement=STEREOTYPE_STATEMENT)
