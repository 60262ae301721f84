"""Rule fit_lasso: glmnet's cross-validated LASSO per outer fold, out-of-fold predictions."""

import pyarrow as pa

from polface.io import write_parquet
from polface.models import (
    lasso_fitter,
    lasso_summary,
    load_modelling_inputs,
    save_lasso_folds,
    write_json,
)
from polface.nested import nested_predictions
from polface.runtime import rule_logging


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule):
        faces, X, folds = load_modelling_inputs(
            snakemake.input.faces,
            snakemake.input.features,
            snakemake.input.folds,
            snakemake.params.id_column,
        )
        settings = snakemake.params.lasso
        fit = lasso_fitter(**settings, n_threads=snakemake.threads)
        predictions, infos = nested_predictions(
            X,
            faces,
            folds,
            snakemake.wildcards.sample,
            fit,
            samples=snakemake.params.samples,
            id_column=snakemake.params.id_column,
        )
        predictions.insert(0, "method", "lasso")
        write_parquet(
            pa.Table.from_pandas(predictions, preserve_index=False),
            snakemake.output.predictions,
            metadata={"method": "lasso", "settings": settings},
        )
        save_lasso_folds(infos, snakemake.output.models)
        write_json(snakemake.output.summary, {"settings": settings, "folds": lasso_summary(infos)})


main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
