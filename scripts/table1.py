"""Rule table1: the sample description (Kosinski 2021, Table 1)."""

import pandas as pd

from polface.report.tables import table1, write_table
from polface.runtime import rule_logging


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule):
        faces = pd.read_parquet(snakemake.input.faces)
        write_table(table1(faces, snakemake.params.samples), snakemake.params.stem, digits=1)


main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
