"""Rule candidate_regressions: the 36 OLS models of the Danish candidates, both SEs and samples."""

import pandas as pd

from polface.io import write_atomic
from polface.report.render import write_table
from polface.runtime import rule_logging
from polface.studies.candidate_regressions import (
    candidate_regressions,
    coefficient_plot,
    regressions_display,
)


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule) as log:
        sample = pd.read_parquet(snakemake.input.candidates)
        long = candidate_regressions(sample)
        log.info("%d models", long.groupby(["sample", "trait", "outcome", "model"]).ngroups)
        write_atomic(snakemake.output.csv, long.to_csv(index=False, lineterminator="\n"))
        for variant, md, tex, csv in (
            ("as published", snakemake.output.md, snakemake.output.tex, snakemake.output.display),
            (
                "same sample",
                snakemake.output.same_md,
                snakemake.output.same_tex,
                snakemake.output.same_display,
            ),
        ):
            write_table(regressions_display(long, variant), csv=csv, md=md, tex=tex, index=True)
        coefficient_plot(long, snakemake.output.plot, level=snakemake.params.level)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
