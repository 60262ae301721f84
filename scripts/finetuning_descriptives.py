"""Rule finetuning_descriptives: summary, correlation and missing-data tables, and plots."""

import pandas as pd

from polface.data.finetuning import read_candidates
from polface.report.render import write_table
from polface.runtime import rule_logging
from polface.studies.finetuning_descriptives import (
    annotated_predicted_plot,
    lowess_plot,
    missing_data,
    training_annotations_plot,
    trait_correlations,
    trait_summary,
)


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule) as log:
        out, params = snakemake.output, snakemake.params
        sample = pd.read_parquet(snakemake.input.sample)
        split = pd.read_parquet(snakemake.input.split)
        authors = pd.read_parquet(snakemake.input.authors)
        # all candidates as read (name2 coded away by read_candidates), for the missing-data table
        candidates = read_candidates(snakemake.input.candidates)
        log.info("%d candidates, %d in the analysis sample", len(candidates), len(sample))
        for table, paths in (
            (trait_summary(sample), out.summary),
            (trait_correlations(sample), out.correlations),
            (missing_data(candidates), out.missing),
        ):
            csv, md, tex = paths
            write_table(table, csv=csv, md=md, tex=tex, index=True)
        lowess_plot(sample, out.lowess, frac=params.frac)
        annotated_predicted_plot(split, authors, out.annotated, frac=params.frac)
        training_annotations_plot(split, out.training, seed=params.seed)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
