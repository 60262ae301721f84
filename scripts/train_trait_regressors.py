"""Rule train_trait_regressors: the paper's network for each trait, on the authors' split.

A frozen backbone (ResNet-50 with the user's ImageNet weights, or the tiny test backbone) and a
dense head per trait trained with keras's loop and callbacks; the best heads as safetensors, the
training history, and the test faces' predictions for the evaluation table.
"""

import pandas as pd
import pyarrow as pa
import torch

from polface.device import describe_device, resolve_device
from polface.io import write_atomic, write_json, write_parquet
from polface.models.trait_regressor import TrainingSettings, load_resized, save_heads
from polface.runtime import rule_logging, thread_invariant_torch
from polface.studies.trait_models import load_backbone, split_images, train_split_regressors


def main(snakemake) -> None:
    # before torch's first computation: MKL reads its reproducibility mode once, then
    thread_invariant_torch()
    with rule_logging(snakemake.log[0], snakemake.rule) as log:
        settings = snakemake.params.settings
        torch.set_num_threads(snakemake.threads)
        device = resolve_device(snakemake.resources.regressor_device)
        split = pd.read_parquet(snakemake.input.split)
        images = split_images(split, snakemake.params.image_folder, load=load_resized)
        backbone, identity = load_backbone(
            settings["backbone"],
            weights=snakemake.input.get("weights"),
            sha256=settings["weights"]["sha256"],
            seed=settings["training"]["seed"],
            device=device,
        )
        log.info("backbone %s on %s", identity, describe_device(device))
        heads, history, predictions, summary = train_split_regressors(
            split,
            images,
            backbone=backbone,
            preprocessing=settings["preprocessing"],
            device=device,
            model_name=snakemake.params.model_name,
            settings=TrainingSettings.from_config(settings["training"]),
        )
        log.info("%s", summary)
        meta = {
            "backbone": identity,
            "preprocessing": settings["preprocessing"],
            "training": settings["training"],
            "dropout": settings["training"]["dropout"],
            "device": describe_device(device),
        }
        save_heads(heads, snakemake.output.heads, metadata=meta)
        write_atomic(snakemake.output.history, history.to_csv(index=False, lineterminator="\n"))
        write_json(snakemake.output.summary, summary, indent=1, sort_keys=False)
        write_parquet(
            pa.Table.from_pandas(predictions, preserve_index=False),
            snakemake.output.predictions,
            metadata=meta,
        )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
