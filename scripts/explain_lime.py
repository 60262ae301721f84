"""Rule explain_lime: LIME reports of one image set, backend and model, with their controls."""

import pandas as pd
import torch

from polface.explain.chain import FaceChain
from polface.explain.faces import explain_faces, faces_to_explain
from polface.explain.readouts import cohort_readouts
from polface.images.crop import CropSettings, manifest_image_folder
from polface.images.embed import load_embedder
from polface.models.artifacts import load_lasso_folds
from polface.runtime import rule_logging, thread_invariant_torch
from polface.studies.lime_report import rating_readouts_of, write_report


def main(snakemake) -> None:
    # before torch's first computation: MKL reads its reproducibility mode once, then
    thread_invariant_torch()
    with rule_logging(snakemake.log[0], snakemake.rule) as log:
        settings = snakemake.params.lime
        backend, name = snakemake.wildcards.backend, snakemake.wildcards.model
        torch.set_num_threads(snakemake.threads)
        faces = faces_to_explain(
            pd.read_parquet(snakemake.input.manifest),
            settings["images"],
            source=f"the manifest {snakemake.input.manifest}",
        )
        embedder = load_embedder(
            backend,
            weights_path=snakemake.input.get("weights"),
            device=snakemake.resources.embed_device,
            cache_path=snakemake.params.cache,
            weights_setting=(
                f"image_sets.{snakemake.wildcards.image_set}.embed.weights.{backend}.path"
            ),
        )
        chain = FaceChain(embedder, crop=CropSettings.from_config(snakemake.params.crop))
        notes = [
            f"Backend {backend}: the perturbed image is the uint8 input the network sees "
            f"({'the dlib chip' if embedder.uses_chips else 'the crop'}). Each face is explained "
            "by the outer-fold model whose training split did not contain it; the quantity "
            "explained is the logit (binary targets) or the rating (continuous ones)."
        ]
        if name == "ratings":
            readouts_of = rating_readouts_of(
                models=snakemake.input.models,
                readouts=snakemake.input.get("readouts"),
                predictions=snakemake.input.predictions,
                embeddings=snakemake.input.embeddings,
                ratings=snakemake.input.ratings,
                targets=snakemake.params.ratings,
                controls=settings["controls"],
                seed=settings["seed"],
            )
        else:
            cohort = settings["cohort_models"][name]
            readouts = cohort_readouts(
                name,
                load_lasso_folds(snakemake.input.models),
                dim=embedder.dim,
                random=settings["controls"]["random_readout"],
                seed=settings["seed"],
            )
            notes.append(f"The model {name} was trained on {cohort['trained_on']}.")

            def readouts_of(image_id):
                return readouts

        log.info("explaining %d faces with %s / %s", len(faces), backend, name)
        # Each photograph is read only inside the image set's root folder, as crop_faces read it.
        folder = manifest_image_folder(snakemake.input.manifest)
        result = explain_faces(
            faces,
            chain,
            readouts_of,
            settings=settings,
            folder=folder,
            manifest=snakemake.input.manifest,
        )
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
