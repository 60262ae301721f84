"""Rule simulate_cohort: write a synthetic cohort in the exact layout of the OSF release."""

from polface.data.simulate import simulate_cohort, write_cohort
from polface.runtime import rule_logging


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule) as log:
        cohort = simulate_cohort(snakemake.params.settings)
        log.info(
            "simulated %d faces x %d descriptors; signal in columns %s",
            *cohort.descriptors.shape,
            cohort.signal_columns.tolist(),
        )
        write_cohort(
            cohort,
            faces=snakemake.output.faces,
            features=snakemake.output.features,
            truth=snakemake.output.truth,
        )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
