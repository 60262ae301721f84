"""Rule table1: the sample description (Kosinski 2021, Table 1)."""

import pandas as pd

from polface.report.render import write_table
from polface.report.tables import TABLE1_DIGITS, table1
from polface.runtime import rule_logging


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule):
        faces = pd.read_parquet(snakemake.input.faces)
        table = table1(
            faces,
            samples=snakemake.params.samples,
            id_column=snakemake.params.id_column,
            source=snakemake.input.faces,
        )
        write_table(
            table,
            csv=snakemake.output.csv,
            md=snakemake.output.md,
            tex=snakemake.output.tex,
            digits=TABLE1_DIGITS,
        )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
