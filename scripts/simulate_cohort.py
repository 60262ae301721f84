"""Rule simulate_cohort: write a synthetic cohort in the exact layout of the OSF release.

The descriptor matrix is made and written a block of columns at a time (``block_mb``), so the
rule's memory does not grow with the matrix (polface.data.simulate.plan_cohort).
"""

from polface.data.simulate import plan_cohort, write_cohort
from polface.runtime import rule_logging


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule) as log:
        cohort = plan_cohort(snakemake.params.settings, block_mb=snakemake.params.block_mb)
        log.info(
            "simulating %d faces x %d descriptors; signal in columns %s",
            cohort.descriptors.n_rows,
            cohort.descriptors.n_cols,
            cohort.signal_columns.tolist(),
        )
        write_cohort(
            cohort,
            faces=snakemake.output.faces,
            features=snakemake.output.features,
            truth=snakemake.output.truth,
            block_mb=snakemake.params.block_mb,
        )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
