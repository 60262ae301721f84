"""Rule khan_sgd_models: Khan et al.'s SGD models read without unpickling, written as npz + JSON."""

import io

import numpy as np

from polface.data.khan import read_sgd_model
from polface.io import write_atomic, write_json
from polface.report.render import write_table
from polface.runtime import rule_logging
from polface.studies.khan import model_names, sgd_arrays, sgd_models_table


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule) as log:
        paths = list(snakemake.input.models)
        models = {
            name: read_sgd_model(path) for name, path in zip(model_names(paths), paths, strict=True)
        }
        log.info("%d models read", len(models))
        buffer = io.BytesIO()
        np.savez(buffer, **sgd_arrays(models))
        write_atomic(snakemake.output.coefficients, buffer.getvalue())
        settings = {name: model.settings for name, model in models.items()}
        write_json(snakemake.output.settings, settings)
        csv, md, tex = snakemake.output.table
        write_table(sgd_models_table(models), csv=csv, md=md, tex=tex, index=False, digits=4)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
