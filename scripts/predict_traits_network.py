"""Rule predict_traits_network: the trained network scores an image set (a row per image, trait).

The saved heads and the same frozen backbone (its weights file must have the SHA-256 recorded at
training); every photograph of the set is resized whole to 224 px, as in training.
"""

from pathlib import Path

import pyarrow as pa
import torch

from polface.data.imagesets import list_images
from polface.device import resolve_device
from polface.io import write_parquet
from polface.models.artifacts import NETWORK_SLUG, load_trait_models
from polface.models.trait_regressor import load_resized
from polface.runtime import rule_logging, thread_invariant_torch
from polface.studies.trait_models import apply_regressors, load_backbone


def main(snakemake) -> None:
    # before torch's first computation: MKL reads its reproducibility mode once, then
    thread_invariant_torch()
    with rule_logging(snakemake.log[0], snakemake.rule) as log:
        torch.set_num_threads(snakemake.threads)
        device = resolve_device(snakemake.resources.regressor_device)
        network = load_trait_models(snakemake.input.models)[NETWORK_SLUG]
        heads, meta = network.heads, network.meta
        trained = meta["backbone"]
        backbone, identity = load_backbone(
            trained["kind"],
            weights=snakemake.input.get("weights"),
            sha256=trained.get("weights_sha256"),
            seed=trained["seed"],
            device=device,
        )
        source = snakemake.params.source
        paths = {
            image_id: Path(path)
            for image_id, path in list_images(
                source["folder"], pattern=source["pattern"], limit=source["limit"]
            ).items()
        }
        log.info("%d photographs, traits %s", len(paths), list(heads))
        table = apply_regressors(
            heads,
            backbone,
            paths,
            # A photograph that resolves outside the set's folder is a row, never read.
            folder=source["folder"],
            load=load_resized,
            preprocessing=meta["preprocessing"],
            batch_size=snakemake.resources.regressor_batch_size,
            device=device,
        )
        write_parquet(
            pa.Table.from_pandas(table, preserve_index=False),
            snakemake.output.predictions,
            metadata={"model": str(snakemake.input.models), "backbone": identity},
        )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
