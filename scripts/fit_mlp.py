"""Rule fit_mlp: the Khan et al. network per outer fold, out-of-fold predictions."""

import torch

from polface.models.fitters import (
    fit_sample_models,
    mlp_fitter,
    mlp_summary,
    save_mlp_folds,
    write_json,
)
from polface.runtime import rule_logging


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule):
        torch.set_num_threads(snakemake.threads)
        settings = snakemake.params.mlp
        infos = fit_sample_models(
            faces_path=snakemake.input.faces,
            features_path=snakemake.input.features,
            folds_path=snakemake.input.folds,
            id_column=snakemake.params.id_column,
            sample=snakemake.wildcards.sample,
            samples=snakemake.params.samples,
            fit=mlp_fitter(settings),
            method="mlp",
            predictions_path=snakemake.output.predictions,
            settings=settings,
        )
        save_mlp_folds(infos, snakemake.output.weights)
        write_json(snakemake.output.summary, {"settings": settings, "folds": mlp_summary(infos)})


main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
