"""Rule finetuning_sensitivity: Cinelli & Hazlett's sensitivity of model (b), as Sensemakr.R."""

import pandas as pd

from polface.report.render import write_table
from polface.runtime import rule_logging
from polface.studies.finetuning_paper import (
    sensitivity,
    sensitivity_contours,
    sensitivity_display,
)


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule) as log:
        settings = snakemake.params.settings
        sample = pd.read_parquet(snakemake.input.candidates)
        table = sensitivity(
            sample,
            benchmark=settings["benchmark"],
            kd=settings["kd"],
            q=settings["q"],
            alpha=settings["alpha"],
        )
        impossible = int((table["bound"] != "ok").sum())
        log.info("%d bounds, %d impossible (kd too large)", len(table), impossible)
        csv, md, tex = snakemake.output.table
        write_table(table, csv=csv, md=md, tex=tex, index=False, display=sensitivity_display(table))
        sensitivity_contours(table, snakemake.output.plot)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
