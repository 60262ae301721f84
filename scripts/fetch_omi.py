"""Rule fetch_omi: download the One Million Impressions ratings and images once, with checksums."""

from pathlib import Path

from polface.data.imagesets import fetch_omi
from polface.runtime import rule_logging


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule):
        fetch_omi(snakemake.params.url, Path(snakemake.output.checksums).parent)


main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
