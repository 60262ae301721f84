"""Rule figure3: the AUC of each interpretable feature set per sample (Figure 3 / Table S1)."""

import pandas as pd

from polface.report.figures import write_figure3
from polface.runtime import rule_logging


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule):
        write_figure3(pd.read_csv(snakemake.input.table), snakemake.output.figure)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
