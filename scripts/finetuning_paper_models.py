"""Rule finetuning_paper_models: robustness, all traits, traits as outcome, moderator levels."""

import pandas as pd

from polface.io import write_atomic
from polface.report.render import write_table
from polface.runtime import rule_logging
from polface.studies.finetuning_paper import (
    family_display,
    interaction_plot,
    levels_display,
    paper_models,
)


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule) as log:
        sample = pd.read_parquet(snakemake.input.candidates)
        long, levels = paper_models(sample)
        log.info(
            "%d models, %d moderator-level effects",
            long.groupby(["family", "trait", "outcome", "model"]).ngroups,
            len(levels),
        )
        write_atomic(snakemake.output.models, long.to_csv(index=False, lineterminator="\n"))
        out = snakemake.output
        for family, paths in (
            ("robustness", out.robustness),
            ("all traits", out.all_traits),
            ("trait as outcome", out.traits_as_outcome),
        ):
            csv, md, tex = paths
            write_table(family_display(long, family), csv=csv, md=md, tex=tex, index=True)
        csv, md, tex = out.levels
        write_table(levels, csv=csv, md=md, tex=tex, index=False, display=levels_display(levels))
        main_long = pd.read_csv(snakemake.input.regressions)
        interaction_plot(main_long, levels, out.plot, level=snakemake.params.level)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
