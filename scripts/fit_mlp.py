"""Rule fit_mlp: the Khan et al. network per outer fold, out-of-fold predictions."""

import pyarrow as pa
import torch

from polface.data.osf import SAMPLE_COLUMN
from polface.io import write_json, write_parquet
from polface.models.artifacts import save_mlp_folds
from polface.models.fitters import (
    fit_sample_models,
    load_modelling_inputs,
    mlp_fitter,
    mlp_summary,
    mlp_train_dtype,
)
from polface.runtime import rule_logging


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule):
        torch.set_num_threads(snakemake.threads)
        settings = snakemake.params.mlp
        faces, X, folds = load_modelling_inputs(
            faces_path=snakemake.input.faces,
            features_path=snakemake.input.features,
            folds_path=snakemake.input.folds,
            id_column=snakemake.params.id_column,
        )
        predictions, infos = fit_sample_models(
            faces,
            X,
            folds,
            sample=snakemake.wildcards.sample,
            samples=snakemake.params.samples,
            fit=mlp_fitter(**settings, device="auto"),
            method="mlp",
            id_column=snakemake.params.id_column,
            target_column=SAMPLE_COLUMN,
            train_dtype=mlp_train_dtype,
            files=snakemake.input,
        )
        write_parquet(
            pa.Table.from_pandas(predictions, preserve_index=False),
            snakemake.output.predictions,
            metadata={"method": "mlp", "settings": dict(settings)},
        )
        save_mlp_folds(infos, snakemake.output.weights)
        write_json(snakemake.output.summary, {"settings": settings, "folds": mlp_summary(infos)})


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
