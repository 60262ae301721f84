"""Rule fit_omi_readouts: LASSO readouts of the faces' perceived demographics from the embedding.

The controls of the LIME reports: perceived age, gender and race (OMI ratings) predicted from
the same embedding on the same folds as fit_omi_ratings, kept per outer fold.
"""

from polface.data.omi import read_omi_ratings
from polface.frames import IMAGE_ID
from polface.io import read_features, read_metadata
from polface.runtime import rule_logging
from polface.studies.omi_ratings import rating_predictions, write_rating_fits


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule) as log:
        folds = snakemake.params.ratings
        targets = snakemake.params.demographics
        ids, X = read_features(snakemake.input.embeddings, IMAGE_ID)
        log.info("%d faces; readouts of %s", len(ids), targets)
        predictions, _, models = rating_predictions(
            ids,
            X,
            read_omi_ratings(snakemake.input.ratings),
            binary=[],
            continuous=targets,
            controls=[],
            outer=folds["outer"],
            inner=folds["inner"],
            seed=folds["seed"],
            lasso=snakemake.params.lasso,
            n_threads=snakemake.threads,
        )
        provenance = {
            "readouts": targets,
            "folds": {k: folds[k] for k in ("outer", "inner", "seed")},
            "lasso": snakemake.params.lasso,
        }
        write_rating_fits(
            predictions,
            models,
            embeddings_metadata=read_metadata(snakemake.input.embeddings),
            provenance=provenance,
            predictions_path=snakemake.output.predictions,
            models_path=snakemake.output.models,
        )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
