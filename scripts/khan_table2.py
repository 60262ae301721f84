"""Rule khan_table2: Khan et al.'s Table 2 their way on a cohort, beside out-of-fold and theirs."""

from pathlib import Path

from polface.data.khan import read_sgd_model
from polface.io import write_atomic
from polface.models.fitters import load_modelling_inputs
from polface.report.render import to_latex, to_markdown
from polface.runtime import rule_logging
from polface.studies.khan import sgd_table2, table2_display


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule) as log:
        faces, X, folds = load_modelling_inputs(
            faces_path=snakemake.input.faces,
            features_path=snakemake.input.features,
            folds_path=snakemake.input.folds,
            id_column=snakemake.params.id_column,
        )
        released = {
            Path(path).stem: read_sgd_model(path) for path in snakemake.input.get("released", [])
        }
        log.info("%d rows x %d descriptors; %d released models", *X.shape, len(released))
        long = sgd_table2(
            faces,
            X,
            folds,
            samples=snakemake.params.samples,
            seed=snakemake.params.seed,
            released=released,
        )
        write_atomic(snakemake.output.csv, long.to_csv(index=False, lineterminator="\n"))
        display = table2_display(long)
        write_atomic(snakemake.output.md, to_markdown(display, index=True))
        write_atomic(snakemake.output.tex, to_latex(display, index=True))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
