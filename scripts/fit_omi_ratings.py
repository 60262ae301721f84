"""Rule fit_omi_ratings: OMI ratings predicted from face embeddings, out of fold, with baselines."""

import pyarrow as pa

from polface.data.imagesets import read_omi_ratings
from polface.io import read_features, read_metadata, write_parquet
from polface.models.artifacts import save_rating_models
from polface.runtime import rule_logging
from polface.studies.omi_ratings import (
    ID_COLUMN,
    rating_predictions,
    ratings_table,
    write_ratings_table,
)


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule) as log:
        settings = snakemake.params.ratings
        ids, X = read_features(snakemake.input.embeddings, ID_COLUMN)
        log.info("%d faces, %d embedding dimensions", *X.shape)
        predictions, medians, models = rating_predictions(
            ids,
            X,
            read_omi_ratings(snakemake.input.ratings),
            **settings,
            lasso=snakemake.params.lasso,
            n_threads=snakemake.threads,
        )
        long = ratings_table(
            predictions,
            medians,
            permutations=snakemake.params.baselines["permutations"],
            seed=snakemake.params.baselines["seed"],
        )
        write_ratings_table(
            long, csv=snakemake.output.csv, md=snakemake.output.md, tex=snakemake.output.tex
        )
        embedding = read_metadata(snakemake.input.embeddings)
        provenance = {
            "ratings": settings,
            "lasso": snakemake.params.lasso,
            "medians": medians,
            "backend": embedding["backend"],
            "weights_sha256": embedding["weights_sha256"],
        }
        write_parquet(
            pa.Table.from_pandas(predictions, preserve_index=False),
            snakemake.output.predictions,
            metadata=provenance,
        )
        save_rating_models(models, snakemake.output.models, metadata=provenance)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
