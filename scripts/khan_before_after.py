"""Rule khan_before_after: before vs after from Khan et al.'s released 512-d features (E3)."""

from polface.data.khan import read_features
from polface.io import write_atomic
from polface.report.render import to_latex, to_markdown
from polface.runtime import rule_logging
from polface.studies.khan import (
    before_after_classifier,
    before_after_display,
    pairing_similarity,
)


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule) as log:
        settings = dict(snakemake.params.settings)
        before, after = read_features(snakemake.input.before, snakemake.input.after)
        log.info("%d pairs, %d features", *before.shape)
        log.info(
            "mean cosine similarity: same pair %.3f, different pairs %.3f",
            *pairing_similarity(before, after),
        )
        table = before_after_classifier(
            before,
            after,
            outer_folds=settings["outer_folds"],
            inner_folds=settings["inner_folds"],
            Cs=settings["C"],
            seed=settings["seed"],
            bootstrap=settings["bootstrap"],
            permutations=settings["permutations"],
            level=settings["level"],
            n_threads=snakemake.threads,
        )
        csv, md, tex = snakemake.output
        write_atomic(csv, table.to_csv(index=False, lineterminator="\n"))
        display = before_after_display(table)
        write_atomic(md, to_markdown(display, index=False))
        write_atomic(tex, to_latex(display, index=False))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
