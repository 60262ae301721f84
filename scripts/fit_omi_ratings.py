"""Rule fit_omi_ratings: OMI ratings predicted from face embeddings, out of fold, with baselines."""

from polface.data.omi import read_omi_ratings
from polface.frames import IMAGE_ID
from polface.io import read_features, read_metadata
from polface.runtime import rule_logging
from polface.studies.omi_ratings import (
    rating_predictions,
    ratings_table,
    write_rating_fits,
    write_ratings_table,
)


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule) as log:
        settings = snakemake.params.ratings
        ids, X = read_features(snakemake.input.embeddings, IMAGE_ID)
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
        write_rating_fits(
            predictions,
            models,
            embeddings_metadata=read_metadata(snakemake.input.embeddings),
            provenance={"ratings": settings, "lasso": snakemake.params.lasso, "medians": medians},
            predictions_path=snakemake.output.predictions,
            models_path=snakemake.output.models,
        )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
