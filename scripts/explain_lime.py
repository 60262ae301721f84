"""Rule explain_lime: LIME reports of one image set, backend and model, with their controls."""

import functools

import pandas as pd
import torch

from polface.data.omi import read_omi_ratings
from polface.explain.chain import FaceChain
from polface.frames import IMAGE_ID
from polface.images.embed import load_embedder
from polface.io import read_features
from polface.models.artifacts import load_lasso_folds, load_rating_models
from polface.runtime import rule_logging
from polface.studies.lime_report import (
    cohort_readouts,
    explain_faces,
    faces_to_explain,
    rating_readouts,
    training_rows,
    write_report,
)


def rating_readouts_of(snakemake, settings):
    """image id -> the readouts of the OMI rating models (its fold's model and the controls)."""
    models = load_rating_models(snakemake.input.models)
    demographics = (
        load_rating_models(snakemake.input.readouts)
        if "readouts" in snakemake.input.keys()
        else None
    )
    predictions = pd.read_parquet(snakemake.input.predictions, columns=[IMAGE_ID, "outer_fold"])
    folds = dict(zip(predictions[IMAGE_ID].astype(str), predictions["outer_fold"], strict=False))
    ids, X = read_features(snakemake.input.embeddings, IMAGE_ID)
    ratings = read_omi_ratings(snakemake.input.ratings)
    targets = snakemake.params.ratings
    controls = settings["controls"]

    @functools.cache
    def fold_readouts(fold):
        train = training_rows(
            ids,
            X,
            ratings,
            folds,
            fold,
            binary=targets["binary"],
            continuous=targets["continuous"],
        )
        return rating_readouts(
            fold,
            models,
            demographics,
            train,
            permuted=controls["permuted"],
            random=controls["random_readout"],
            seed=settings["seed"],
        )

    def readouts_of(image_id):
        # the faces of one outer fold share its models and controls (refitted once)
        return fold_readouts(int(folds[image_id]))

    return readouts_of


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule) as log:
        settings = snakemake.params.lime
        backend, name = snakemake.wildcards.backend, snakemake.wildcards.model
        torch.set_num_threads(snakemake.threads)
        faces = faces_to_explain(
            pd.read_parquet(snakemake.input.manifest), settings["images"], source="manifest"
        )
        embedder = load_embedder(
            backend,
            weights_path=snakemake.input.get("weights"),
            device=snakemake.resources.embed_device,
            cache_path=snakemake.params.cache,
        )
        chain = FaceChain(embedder, crop=snakemake.params.crop, model=None)
        notes = [
            f"Backend {backend}: the perturbed image is the uint8 input the network sees "
            f"({'the dlib chip' if embedder.uses_chips else 'the crop'}). Each face is explained "
            "by the outer-fold model whose training split did not contain it; the quantity "
            "explained is the logit (binary targets) or the rating (continuous ones)."
        ]
        if name == "ratings":
            readouts_of = rating_readouts_of(snakemake, settings)
        else:
            cohort = settings["cohort_models"][name]
            folds = load_lasso_folds(snakemake.input.models)
            readouts = cohort_readouts(
                name,
                folds,
                dim=embedder.dim,
                random=settings["controls"]["random_readout"],
                seed=settings["seed"],
            )
            notes.append(f"The model {name} was trained on {cohort['trained_on']}.")

            def readouts_of(image_id):
                return readouts

        log.info("explaining %d faces with %s / %s", len(faces), backend, name)
        result = explain_faces(faces, chain, readouts_of, settings=settings)
        scores = result["scores"]
        log.info("%d explanations, %d trustworthy", len(scores), int(scores["trustworthy"].sum()))
        out = snakemake.output
        write_report(
            result,
            weights=out.weights,
            scores=out.scores,
            curves=out.curves,
            regions=out.regions,
            gallery=out.gallery,
            metadata={"lime": settings, "backend": backend, "model": name, "notes": notes},
            notes=notes,
            top=settings["top"],
            level=settings["level"],
        )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
