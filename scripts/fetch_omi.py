"""Rule fetch_omi: download the One Million Impressions ratings and images once, with checksums."""

from pathlib import Path

from polface.data.imagesets import fetch_omi
from polface.runtime import rule_logging


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule):
        # The download folder is that of the outputs; checksums.tsv, written last, marks it done.
        fetch_omi(url=snakemake.params.url, dest=Path(snakemake.output.checksums).parent)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
