"""Rule fit_lasso: one sample's LASSO, gathered from its outer folds (rule fit_lasso_fold)."""

import pyarrow as pa

from polface.data.osf import SAMPLE_COLUMN
from polface.io import write_json, write_parquet
from polface.models.artifacts import load_lasso_fold, save_lasso_folds
from polface.models.fitters import gather_sample_predictions, lasso_summary
from polface.runtime import rule_logging


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule):
        settings = snakemake.params.lasso
        predictions = gather_sample_predictions(
            snakemake.input.predictions,
            samples=snakemake.params.samples,
            id_column=snakemake.params.id_column,
            target_column=SAMPLE_COLUMN,
        )
        infos = [load_lasso_fold(path) for path in snakemake.input.models]
        write_parquet(
            pa.Table.from_pandas(predictions, preserve_index=False),
            snakemake.output.predictions,
            metadata={
                "method": "lasso",
                "settings": dict(settings),
                "x_dtype": {str(i["outer_fold"]): i["x_dtype"] for i in infos},
            },
        )
        save_lasso_folds(infos, snakemake.output.models)
        write_json(snakemake.output.summary, {"settings": settings, "folds": lasso_summary(infos)})


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
