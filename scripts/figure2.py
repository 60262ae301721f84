"""Rule figure2: AUC per sample and accuracy on demographically matched pairs (Figure 2).

Only the within-sample predictions are kept, one predictions file read at a time.
"""

import pandas as pd

from polface.data.osf import SAMPLE_COLUMN
from polface.io import atomic_output
from polface.report.figures import write_figure2
from polface.report.tables import figure2_table, read_predictions
from polface.runtime import rule_logging


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule):
        faces = pd.read_parquet(snakemake.input.faces)
        predictions = read_predictions(
            snakemake.input.predictions, target_column=SAMPLE_COLUMN, own_sample_only=True
        )
        summary = figure2_table(
            predictions,
            faces,
            target_column=SAMPLE_COLUMN,
            id_column=snakemake.params.id_column,
            n_permutations=snakemake.params.baselines["permutations"],
            seed=snakemake.params.baselines["seed"],
            n_bootstrap=snakemake.params.baselines["bootstrap"],
            source=snakemake.input.faces,
        )
        with atomic_output(snakemake.output.table) as tmp:
            summary.to_csv(tmp, index=False, lineterminator="\n")
        write_figure2(summary, snakemake.output.figure)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
