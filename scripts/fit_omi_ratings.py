"""Rule fit_omi_ratings: OMI ratings predicted from face embeddings, out of fold, with baselines."""

import pyarrow as pa

from polface.data.imagesets import read_omi_ratings
from polface.io import read_features, read_metadata, write_parquet
from polface.runtime import rule_logging
from polface.studies.omi_ratings import rating_predictions, ratings_table, write_ratings_table


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule) as log:
        settings = snakemake.params.ratings
        ids, X = read_features(snakemake.input.embeddings, "image_id")
        log.info("%d faces, %d embedding dimensions", *X.shape)
        predictions, medians = rating_predictions(
            ids,
            X,
            read_omi_ratings(snakemake.input.ratings),
            binary=settings["binary"],
            continuous=settings["continuous"],
            controls=settings["controls"],
            n_outer=settings["outer"],
            n_inner=settings["inner"],
            seed=settings["seed"],
            lasso=snakemake.params.lasso,
            n_threads=snakemake.threads,
        )
        long = ratings_table(
            predictions,
            medians,
            permutations=snakemake.params.baselines["permutations"],
            seed=snakemake.params.baselines["seed"],
        )
        write_ratings_table(long, snakemake.params.stem)
        embedding = read_metadata(snakemake.input.embeddings)
        write_parquet(
            pa.Table.from_pandas(predictions, preserve_index=False),
            snakemake.output.predictions,
            metadata={
                "ratings": settings,
                "lasso": snakemake.params.lasso,
                "medians": medians,
                "backend": embedding["backend"],
                "weights_sha256": embedding["weights_sha256"],
            },
        )


main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
