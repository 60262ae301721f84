"""Rule embed_faces: embeddings of the ok faces of a manifest with one backend (resumable)."""

import pandas as pd
import torch

from polface.images.crop import manifest_image_folder
from polface.images.embed import embed_crops
from polface.images.weights import check_sha256
from polface.runtime import rule_logging, thread_invariant_torch


def main(snakemake) -> None:
    # before torch's first computation: MKL reads its reproducibility mode once, then
    thread_invariant_torch()
    with rule_logging(snakemake.log[0], snakemake.rule) as log:
        backend = snakemake.wildcards.backend
        weights = snakemake.input.get("weights")  # absent: dlib's bundled model
        setting = f"image_sets.{snakemake.wildcards.image_set}.embed.weights.{backend}"
        if weights is not None:
            check_sha256(weights, snakemake.params.weights_sha256, setting=setting)
        # Runtime knobs (threads, resources), not rerun triggers; the device goes in the metadata.
        torch.set_num_threads(snakemake.threads)
        manifest = snakemake.input.manifest
        result = embed_crops(
            pd.read_parquet(manifest),
            backend,
            out_path=snakemake.output.embeddings,
            image_folder=manifest_image_folder(manifest),
            weights_path=weights,
            device=snakemake.resources.embed_device,
            batch_size=snakemake.resources.embed_batch_size,
            crop_settings=snakemake.params.crop,
            work_dir=snakemake.params.parts,
            cache_path=snakemake.params.cache,
            weights_setting=f"{setting}.path",
            manifest_path=manifest,
        )
        log.info(
            "%d faces embedded: %d computed, %d reused from an interrupted run",
            result.n_rows,
            result.n_computed,
            result.n_reused,
        )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
