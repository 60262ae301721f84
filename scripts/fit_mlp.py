"""Rule fit_mlp: the Khan et al. network per outer fold, out-of-fold predictions."""

import pyarrow as pa
import torch

from polface.io import write_parquet
from polface.models import (
    load_modelling_inputs,
    mlp_fitter,
    mlp_summary,
    save_mlp_folds,
    write_json,
)
from polface.nested import nested_predictions
from polface.runtime import rule_logging


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule):
        torch.set_num_threads(snakemake.threads)
        faces, X, folds = load_modelling_inputs(
            snakemake.input.faces,
            snakemake.input.features,
            snakemake.input.folds,
            snakemake.params.id_column,
        )
        settings = snakemake.params.mlp
        predictions, infos = nested_predictions(
            X,
            faces,
            folds,
            snakemake.wildcards.sample,
            mlp_fitter(settings),
            samples=snakemake.params.samples,
            id_column=snakemake.params.id_column,
        )
        predictions.insert(0, "method", "mlp")
        write_parquet(
            pa.Table.from_pandas(predictions, preserve_index=False),
            snakemake.output.predictions,
            metadata={"method": "mlp", "settings": settings},
        )
        save_mlp_folds(infos, snakemake.output.weights)
        write_json(snakemake.output.summary, {"settings": settings, "folds": mlp_summary(infos)})


main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
