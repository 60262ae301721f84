"""Rule embed_faces: embeddings of the ok faces of a manifest with one backend (resumable)."""

import pandas as pd
import torch

from polface.images.embed import embed_crops
from polface.io import file_sha256
from polface.runtime import rule_logging


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule) as log:
        backend = snakemake.wildcards.backend
        settings = snakemake.params.embed
        weights = settings["weights"][backend]
        if weights["path"] and weights["sha256"]:
            actual = file_sha256(weights["path"])
            if actual != weights["sha256"].lower():
                raise ValueError(
                    f"{weights['path']}: SHA-256 {actual} differs from the configured"
                    f" embed.weights.{backend}.sha256 {weights['sha256']}"
                )
        torch.set_num_threads(snakemake.threads)
        result = embed_crops(
            pd.read_parquet(snakemake.input.manifest),
            backend,
            out_path=snakemake.output.embeddings,
            weights_path=weights["path"],
            device=settings["device"],
            batch_size=settings["batch_size"],
            work_dir=snakemake.params.parts,
            cache_path=snakemake.params.cache,
            crop_settings=snakemake.params.crop,
        )
        log.info(
            "%d faces embedded: %d computed, %d reused from an interrupted run",
            result.n_rows,
            result.n_computed,
            result.n_reused,
        )


main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
