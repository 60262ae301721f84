"""Rule finetuning_noise_ceiling: split-half (Spearman–Brown) reliability of each OMI trait mean."""

import pandas as pd

from polface.data.finetuning import OMI_ATTRIBUTES, read_individual_ratings
from polface.frames import IMAGE_ID
from polface.report.render import write_table
from polface.runtime import rule_logging
from polface.studies.facial_finetuning import noise_ceiling


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule) as log:
        settings = snakemake.params.settings
        split = pd.read_parquet(snakemake.input.split)
        ratings = read_individual_ratings(
            snakemake.input.ratings,
            list(OMI_ATTRIBUTES.values()),
            rating_types=settings["rating_types"],
        )
        log.info("%d individual ratings of %d faces", len(ratings), len(split))
        table = noise_ceiling(
            ratings, split[IMAGE_ID].tolist(), splits=settings["splits"], seed=settings["seed"]
        )
        write_table(
            table,
            csv=snakemake.output.csv,
            md=snakemake.output.md,
            tex=snakemake.output.tex,
            index=False,
        )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
