"""Rule claims_ledger: every published claim beside polface's value and a verdict."""

from pathlib import Path

from polface.data.claims import read_ledger
from polface.io import write_atomic
from polface.runtime import rule_logging
from polface.studies.claims import StudyRun, claims_markdown, evaluate_claims, summary_sentence


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule) as log:
        ledger = read_ledger(snakemake.input.ledger)
        runs = {study: StudyRun(**run) for study, run in snakemake.params.runs.items()}
        claims = evaluate_claims(ledger, runs, results=Path(snakemake.output.csv).parent)
        log.info("%s", summary_sentence(claims))
        write_atomic(snakemake.output.csv, claims.to_csv(index=False, lineterminator="\n"))
        write_atomic(snakemake.output.md, claims_markdown(claims, run=snakemake.params.run))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
