"""Rule table_s1: AUC of the LASSO on interpretable features only (Table S1)."""

import pandas as pd

from polface.data.osf import SAMPLE_COLUMN
from polface.report.render import write_display_table
from polface.report.tables import auc_with_baselines
from polface.runtime import rule_logging


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule):
        predictions = pd.concat(map(pd.read_parquet, snakemake.input.predictions))
        long = auc_with_baselines(
            predictions,
            ["feature_set"],
            target_column=SAMPLE_COLUMN,
            id_column=snakemake.params.id_column,
            n_permutations=snakemake.params.baselines["permutations"],
            seed=snakemake.params.baselines["seed"],
        )
        write_display_table(
            long,
            ["feature_set"],
            target_column=SAMPLE_COLUMN,
            csv=snakemake.output.csv,
            md=snakemake.output.md,
            tex=snakemake.output.tex,
        )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
