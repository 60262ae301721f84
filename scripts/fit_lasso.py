"""Rule fit_lasso: glmnet's cross-validated LASSO per outer fold, out-of-fold predictions."""

from polface.models.fitters import (
    fit_sample_models,
    lasso_fitter,
    lasso_summary,
    save_lasso_folds,
    write_json,
)
from polface.runtime import rule_logging


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule):
        settings = snakemake.params.lasso
        infos = fit_sample_models(
            faces_path=snakemake.input.faces,
            features_path=snakemake.input.features,
            folds_path=snakemake.input.folds,
            id_column=snakemake.params.id_column,
            sample=snakemake.wildcards.sample,
            samples=snakemake.params.samples,
            fit=lasso_fitter(**settings, n_threads=snakemake.threads),
            method="lasso",
            predictions_path=snakemake.output.predictions,
            settings=settings,
        )
        save_lasso_folds(infos, snakemake.output.models)
        write_json(snakemake.output.summary, {"settings": settings, "folds": lasso_summary(infos)})


main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
