"""Rule khan_retest_reproduction: Khan et al.'s test-retest tables recomputed and checked."""

from pathlib import Path

from polface.data.khan import read_batch_preds, read_results_table
from polface.io import write_atomic
from polface.report.render import to_markdown, write_table
from polface.runtime import rule_logging
from polface.studies.khan import (
    check_against_published,
    check_summary,
    flip_summary,
    long_tables,
    reproduction_tables,
)


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule) as log:
        preds = read_batch_preds(snakemake.input.batch_preds)
        log.info("%d pairs", len(preds))
        tables = reproduction_tables(preds)
        published = {Path(p).name: read_results_table(p) for p in snakemake.input.published}
        check = check_against_published(tables, published)
        if not check["equal"].all():
            log.warning("%d published numbers differ from polface's", int((~check.equal).sum()))
        marginal, mcnemar = long_tables(tables)
        for frame, (csv, md, tex) in (
            (marginal, snakemake.output.marginal),
            (mcnemar, snakemake.output.mcnemar),
            (flip_summary(preds), snakemake.output.flips),
        ):
            write_table(frame, csv=csv, md=md, tex=tex, index=False, digits=4)
        write_atomic(snakemake.output.check_csv, check.to_csv(index=False, lineterminator="\n"))
        write_atomic(
            snakemake.output.check_md, to_markdown(check_summary(check), index=False, digits=0)
        )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
