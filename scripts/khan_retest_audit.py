"""Rule khan_retest_audit: what Khan et al.'s flip rates mean (kappa, unrelated pairs)."""

from polface.data.khan import read_batch_preds
from polface.io import write_atomic
from polface.report.khan_figures import write_flip_rate_figure
from polface.report.render import to_latex, to_markdown
from polface.runtime import rule_logging
from polface.studies.khan import audit_display, retest_audit


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule) as log:
        settings = snakemake.params.settings
        preds = read_batch_preds(snakemake.input.batch_preds)
        log.info("%d pairs, %d re-pairings", len(preds), settings["permutations"])
        audit = retest_audit(
            preds,
            permutations=settings["permutations"],
            seed=settings["seed"],
            level=settings["level"],
        )
        csv, md, tex = snakemake.output.table
        # The CSV keeps every number; md and tex show the reading layout.
        write_atomic(csv, audit.to_csv(index=False, lineterminator="\n"))
        display = audit_display(audit)
        write_atomic(md, to_markdown(display, index=False))
        write_atomic(tex, to_latex(display, index=False))
        write_flip_rate_figure(audit, snakemake.output.figure)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
