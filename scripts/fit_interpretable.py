"""Rule fit_interpretable: the same cross-validated LASSO on one interpretable feature set."""

import pandas as pd
import pyarrow as pa

from polface.io import write_parquet
from polface.models.fitters import lasso_fitter
from polface.models.nested import nested_predictions
from polface.report.tables import interpretable_features
from polface.runtime import rule_logging


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule) as log:
        feature_set = snakemake.wildcards.feature_set
        faces = pd.read_parquet(snakemake.input.faces)
        folds = pd.read_parquet(snakemake.input.folds)
        values = interpretable_features(faces, feature_set)
        usable = values.notna().all(axis=1).to_numpy()
        X = values.to_numpy(dtype="float64")
        fit = lasso_fitter(**snakemake.params.lasso, n_threads=snakemake.threads)
        frames = []
        for sample in snakemake.params.samples:
            rows = usable & faces[sample].notna().to_numpy()
            if rows.sum() < 20:
                log.info(
                    "%s: %d rows with complete %s features, skipped",
                    sample,
                    rows.sum(),
                    feature_set,
                )
                continue
            predictions, _ = nested_predictions(
                X,
                faces,
                folds,
                sample,
                fit,
                samples=snakemake.params.samples,
                model_name=feature_set,
                usable=usable,
                own_sample_only=True,
                id_column=snakemake.params.id_column,
            )
            frames.append(predictions.rename(columns={"model": "feature_set"}))
        if not frames:
            raise ValueError(f"feature set {feature_set!r}: no sample has enough complete rows")
        write_parquet(
            pa.Table.from_pandas(pd.concat(frames, ignore_index=True), preserve_index=False),
            snakemake.output.predictions,
            metadata={"feature_set": feature_set, "columns": list(values.columns)},
        )


main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
