"""Rule finetuning_krls: KRLS average marginal effects as the authors' table_krls.R."""

import pandas as pd

from polface.report.render import write_table
from polface.runtime import rule_logging
from polface.studies.finetuning_paper import krls_effects


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule) as log:
        sample = pd.read_parquet(snakemake.input.candidates)
        table = krls_effects(sample)
        log.info("%d effects from %d fits", len(table), table.groupby(["trait", "outcome"]).ngroups)
        csv, md, tex = snakemake.output
        write_table(table, csv=csv, md=md, tex=tex, index=False)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
