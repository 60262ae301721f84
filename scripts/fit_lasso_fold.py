"""Rule fit_lasso_fold: glmnet's cross-validated LASSO of one sample on one outer fold."""

import pyarrow as pa

from polface.data.osf import SAMPLE_COLUMN
from polface.io import write_parquet
from polface.models.artifacts import save_lasso_fold
from polface.models.fitters import (
    fit_sample_models,
    lasso_fitter,
    lasso_train_dtype,
    lasso_train_order,
    load_modelling_inputs,
)
from polface.runtime import rule_logging


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule):
        settings = snakemake.params.lasso
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
            fit=lasso_fitter(**settings, n_threads=snakemake.threads, family="binomial"),
            method="lasso",
            id_column=snakemake.params.id_column,
            target_column=SAMPLE_COLUMN,
            train_dtype=lasso_train_dtype(
                precision=settings["precision"],
                memory_budget_mb=settings["memory_budget_mb"],
                solver=settings["solver"],
            ),
            train_order=lasso_train_order(settings["solver"]),
            outer_folds=[int(snakemake.wildcards.fold)],
            files=snakemake.input,
        )
        # the model first: the predictions file is the one the gather rule is planned from
        save_lasso_fold(info, snakemake.output.model)
        write_parquet(
            pa.Table.from_pandas(predictions, preserve_index=False), snakemake.output.predictions
        )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
