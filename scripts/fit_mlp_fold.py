"""Rule fit_mlp_fold: the Khan et al. network of one sample on one outer fold."""

import pyarrow as pa
import torch

from polface.data.osf import SAMPLE_COLUMN
from polface.io import write_parquet
from polface.models.artifacts import save_mlp_fold
from polface.models.fitters import (
    fit_sample_models,
    load_modelling_inputs,
    mlp_fitter,
    mlp_train_dtype,
)
from polface.runtime import rule_logging, thread_invariant_torch


def main(snakemake) -> None:
    # before torch's first computation: MKL reads its reproducibility mode once, then
    thread_invariant_torch()
    with rule_logging(snakemake.log[0], snakemake.rule):
        torch.set_num_threads(snakemake.threads)
        faces, X, folds = load_modelling_inputs(
            faces_path=snakemake.input.faces,
            features_path=snakemake.input.features,
            folds_path=snakemake.input.folds,
            id_column=snakemake.params.id_column,
        )
        predictions, (info,) = fit_sample_models(
            faces,
            X,
            folds,
            sample=snakemake.wildcards.sample,
            samples=snakemake.params.samples,
            fit=mlp_fitter(**snakemake.params.mlp, device="auto"),
            method="mlp",
            id_column=snakemake.params.id_column,
            target_column=SAMPLE_COLUMN,
            train_dtype=mlp_train_dtype,
            outer_folds=[int(snakemake.wildcards.fold)],
            files=snakemake.input,
        )
        save_mlp_fold(info, snakemake.output.weights)
        write_parquet(
            pa.Table.from_pandas(predictions, preserve_index=False), snakemake.output.predictions
        )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
