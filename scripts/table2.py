"""Rule table2: AUC of every model on every sample with DeLong CIs and baselines (Table 2)."""

from polface.data.osf import SAMPLE_COLUMN
from polface.report.render import write_display_table
from polface.report.tables import auc_with_baselines, read_predictions
from polface.runtime import rule_logging


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule):
        predictions = read_predictions(snakemake.input.predictions, target_column=SAMPLE_COLUMN)
        long = auc_with_baselines(
            predictions,
            ["method", "model"],
            target_column=SAMPLE_COLUMN,
            id_column=snakemake.params.id_column,
            n_permutations=snakemake.params.baselines["permutations"],
            seed=snakemake.params.baselines["seed"],
        )
        write_display_table(
            long,
            ["method", "model"],
            target_column=SAMPLE_COLUMN,
            csv=snakemake.output.csv,
            md=snakemake.output.md,
            tex=snakemake.output.tex,
        )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
