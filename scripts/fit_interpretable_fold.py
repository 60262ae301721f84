"""Rule fit_interpretable_fold: the LASSO on every interpretable feature set, one outer fold."""

import pandas as pd
import pyarrow as pa

from polface.data.osf import SAMPLE_COLUMN, interpretable_features
from polface.io import write_parquet
from polface.models.fitters import feature_set_predictions, lasso_fitter, lasso_train_order
from polface.runtime import rule_logging


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule):
        faces = pd.read_parquet(snakemake.input.faces)
        folds = pd.read_parquet(snakemake.input.folds)
        fit = lasso_fitter(**snakemake.params.lasso, n_threads=snakemake.threads, family="binomial")
        # one feature set at a time, each written (atomically) as soon as it is fitted
        for feature_set, path in zip(
            snakemake.params.feature_sets, snakemake.output.predictions, strict=True
        ):
            features = interpretable_features(faces, feature_set, source=snakemake.input.faces)
            predictions = feature_set_predictions(
                features,
                faces,
                folds,
                feature_set=feature_set,
                samples=snakemake.params.samples,
                fit=fit,
                id_column=snakemake.params.id_column,
                target_column=SAMPLE_COLUMN,
                outer_folds=[int(snakemake.wildcards.fold)],
                files={"faces": snakemake.input.faces, "folds": snakemake.input.folds},
                train_order=lasso_train_order(snakemake.params.lasso["solver"]),
            )
            write_parquet(
                pa.Table.from_pandas(predictions, preserve_index=False),
                path,
                metadata={"columns": list(features.columns)},
            )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
