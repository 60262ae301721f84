"""Rule fit_mlp: one sample's networks, gathered from its outer folds (rule fit_mlp_fold)."""

import pyarrow as pa

from polface.data.osf import SAMPLE_COLUMN
from polface.io import write_json, write_parquet
from polface.models.artifacts import load_mlp_fold, save_mlp_folds
from polface.models.fitters import gather_sample_predictions, mlp_summary
from polface.runtime import rule_logging


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule):
        settings = snakemake.params.mlp
        predictions = gather_sample_predictions(
            snakemake.input.predictions,
            samples=snakemake.params.samples,
            id_column=snakemake.params.id_column,
            target_column=SAMPLE_COLUMN,
        )
        infos = [load_mlp_fold(path) for path in snakemake.input.weights]
        write_parquet(
            pa.Table.from_pandas(predictions, preserve_index=False),
            snakemake.output.predictions,
            metadata={"method": "mlp", "settings": dict(settings)},
        )
        save_mlp_folds(infos, snakemake.output.weights)
        write_json(snakemake.output.summary, {"settings": settings, "folds": mlp_summary(infos)})


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
