"""Rule finetuning_evaluation: the paper's evaluation table of every trait model and intervals."""

import pandas as pd

from polface.runtime import rule_logging
from polface.studies.facial_finetuning import evaluation_table, write_evaluation


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule) as log:
        split = pd.read_parquet(snakemake.input.split)
        predictions = pd.concat(
            [pd.read_parquet(path) for path in snakemake.input.predictions], ignore_index=True
        )
        log.info("models: %s", list(dict.fromkeys(predictions["model"])))
        long = evaluation_table(
            split,
            predictions,
            pd.read_csv(snakemake.input.ceiling),
            **snakemake.params.settings,
        )
        write_evaluation(
            long, csv=snakemake.output.csv, md=snakemake.output.md, tex=snakemake.output.tex
        )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
