"""Rule fit_interpretable: one feature set's LASSO, gathered from its outer folds."""

import pyarrow as pa

from polface.data.osf import SAMPLE_COLUMN
from polface.io import read_metadata, write_parquet
from polface.models.fitters import gather_sample_predictions
from polface.runtime import rule_logging


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule):
        paths = snakemake.input.predictions
        predictions = gather_sample_predictions(
            paths,
            samples=snakemake.params.samples,
            id_column=snakemake.params.id_column,
            target_column=SAMPLE_COLUMN,
        )
        write_parquet(
            pa.Table.from_pandas(predictions, preserve_index=False),
            snakemake.output.predictions,
            metadata={
                "feature_set": snakemake.wildcards.feature_set,
                "columns": read_metadata(paths[0])["columns"],
            },
        )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
