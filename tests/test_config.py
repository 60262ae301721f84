"""The config schema: every key described, defaults filled, clear errors naming the key."""

from __future__ import annotations

import copy
import inspect

import pytest
import yaml

from conftest import REPO
from polface import config as config_module
from polface.config import ConfigError, load_schema, validate_config
from polface.images.embed import BACKENDS

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def _walk(schema, path="(root)"):
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from _walk(sub, f"{path}.{name}")
    for name, sub in schema.get("$defs", {}).items():
        yield from _walk(sub, f"{path}.$defs.{name}")
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        yield from _walk(extra, f"{path}.*")


def test_schema_is_valid_2020_12_and_every_key_is_described():
    schema = load_schema(SCHEMA)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    undocumented = [
        path for path, sub in _walk(schema) if "$ref" not in sub and not sub.get("description")
    ]
    assert undocumented == []


def test_default_config_is_valid_and_defaults_are_filled():
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    validate_config(config, SCHEMA)
    demo = config["cohorts"]["demo"]["simulate"]
    assert demo["signal"]["descriptor_columns"] == 8
    assert demo["sample_shares"]["pol_dat_us"] == 0.5
    assert config["convert"]["block_rows"] == 8192


def test_the_backend_names_have_one_home():
    """images/embed.BACKENDS is the list; the schema, the wildcard constraint and the config
    check's weights rule must agree with it (a new backend fails here until all follow)."""
    schema = load_schema(SCHEMA)
    assert sorted(schema["$defs"]["backend"]["enum"]) == sorted(BACKENDS)

    def enums(node, path):
        if isinstance(node, dict):
            if set(node.get("enum", [])) & set(BACKENDS):
                yield path
            for key, value in node.items():
                yield from enums(value, f"{path}.{key}")
        elif isinstance(node, list):
            for k, value in enumerate(node):
                yield from enums(value, f"{path}[{k}]")

    assert list(enums(schema, "")) == [".$defs.backend"]  # every other use is a $ref
    smk = (REPO / "workflow/rules/common.smk").read_text()
    constraint = smk.split("wildcard_constraints:", 1)[1].split("backend=", 1)[1].split(",")[0]
    assert sorted(constraint.strip().strip('"').split("|")) == sorted(BACKENDS)
    with_weights = {name for name, spec in BACKENDS.items() if spec.layout is not None}
    assert set(config_module._NEEDS_WEIGHTS) == with_weights


def test_the_perceived_demographics_default_is_written_once(tmp_path):
    text = SCHEMA.read_text()
    assert text.count("[age, gender, white, black, asian]") == 1
    (tmp_path / "attribute_means.csv").write_text("stimulus,age\n1,30\n")
    (tmp_path / "images").mkdir()
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["image_sets"] = {"omi": {"omi": {"path": str(tmp_path), "ratings": {}}, "lime": {}}}
    validate_config(config, SCHEMA)
    omi = config["image_sets"]["omi"]
    assert omi["omi"]["ratings"]["controls"] == ["age", "gender", "white", "black", "asian"]
    assert omi["lime"]["controls"]["demographics"] == omi["omi"]["ratings"]["controls"]


def test_the_schema_is_the_only_source_of_defaults():
    """Library functions that the workflow calls with a config block take those settings without
    defaults of their own (a second default would drift from the schema's)."""
    from polface.explain.explanations import explain_face
    from polface.images.crop import CropSettings, align_crop, detect_faces
    from polface.models.fitters import mlp_fitter
    from polface.models.mlp import fit_mlp
    from polface.models.trait_regressor import Augmentation, TrainingSettings

    schema = load_schema(SCHEMA)
    defs = schema["$defs"]
    training = defs["facial_finetuning"]["properties"]["regressor"]["properties"]["training"]
    blocks = {
        "mlp": schema["properties"]["mlp"]["properties"],
        "crop": defs["crop"]["properties"],
        "lime": defs["lime"]["properties"],
        "training": training["properties"],
        "augmentation": training["properties"]["augmentation"]["properties"],
    }
    calls = [
        (fit_mlp, "mlp", {"learning_rate": "lr"}),
        (mlp_fitter, "mlp", {}),
        (CropSettings, "crop", {}),
        (align_crop, "crop", {}),
        (detect_faces, "crop", {}),
        (explain_face, "lime", {}),
        (TrainingSettings, "training", {}),
        (Augmentation, "augmentation", {}),
    ]
    bad = []
    for function, block, renames in calls:
        params = inspect.signature(function).parameters
        shared = [renames.get(k, k) for k in blocks[block] if renames.get(k, k) in params]
        assert len(shared) >= 2, (function.__qualname__, block)  # the check must bite
        bad += [
            f"{function.__module__}.{function.__qualname__}({name}={params[name].default!r})"
            for name in shared
            if params[name].default is not inspect.Parameter.empty
        ]
    assert bad == [], "defaults outside the schema: " + ", ".join(bad)


def test_every_problem_is_reported_once_naming_its_key(tmp_path):
    config = {
        "cohorts": {
            "demo": {"simulate": {"n_rows": "many", "colour": "red"}},
            "both": {"simulate": {}, "rdata": {"faces": "a", "features": "b"}},
        },
        "extra": 1,
    }
    with pytest.raises(ConfigError) as caught:
        validate_config(copy.deepcopy(config), SCHEMA, source="my.yaml")
    message = str(caught.value)
    assert message.startswith("my.yaml is not valid:")
    assert "(top level): unknown key 'extra'" in message
    assert "cohorts.demo.simulate: unknown key 'colour'" in message
    assert "cohorts.demo.simulate.n_rows: 'many' is not of type 'integer'" in message
    assert "cohorts.both: give exactly one of 'simulate' or 'rdata'" in message
    assert "Traceback" not in message
    assert len(message.splitlines()) == 5


def test_missing_input_files_are_named(tmp_path):
    (tmp_path / "faces.RData").write_bytes(b"")
    config = {
        "cohorts": {"real": {"rdata": {"faces": "faces.RData", "features": "vgg.RData"}}},
    }
    with pytest.raises(ConfigError) as caught:
        validate_config(config, SCHEMA, base_dir=tmp_path)
    message = str(caught.value)
    assert "cohorts.real.rdata.features: input file not found: vgg.RData" in message
    assert "rdata.faces" not in message
    assert config["cohorts"]["real"]["rdata"]["features_object"] == "vgg"


def test_run_cohorts_must_name_known_cohorts():
    config = {"cohorts": {"demo": {"simulate": {}}}, "run_cohorts": ["demo", "kosinski"]}
    with pytest.raises(ConfigError, match="run_cohorts: no cohort named 'kosinski'"):
        validate_config(config, SCHEMA)


def test_an_unknown_key_and_a_missing_file_are_reported_together(tmp_path):
    (tmp_path / "faces.RData").write_bytes(b"")
    (tmp_path / "photos").mkdir()
    config = {
        "cohorts": {
            "real": {"rdata": {"faces": "faces.RData", "features": "vgg.RData"}},
            "broken": {"rdata": {"faces": 3, "features": "absent.RData"}},
        },
        "run_cohorts": ["real", "other"],
        "lasso": {"nlambda": 100, "lamda_choice": "lambda.min"},
        "image_sets": {"mine": {"folder": {"path": "missing_photos"}, "embed": {"device": "gpu"}}},
    }
    with pytest.raises(ConfigError) as caught:
        validate_config(config, SCHEMA, base_dir=tmp_path)
    lines = str(caught.value).splitlines()[1:]
    assert "  - lasso: unknown key 'lamda_choice'" in [line.split(" (allowed")[0] for line in lines]
    assert "  - run_cohorts: no cohort named 'other' in cohorts" in lines
    missing = [line for line in lines if "input file not found" in line]
    # the valid cohort's missing file is named; the cohort with a wrong type only by its error
    assert missing == [
        f"  - cohorts.real.rdata.features: input file not found: vgg.RData"
        f" (looked in {(tmp_path / 'vgg.RData').resolve()})"
    ]
    broken = "  - cohorts.broken.rdata.faces: 3 is not of type"
    assert any(line.startswith(broken) for line in lines)
    # the image set with a bad device is reported by the schema, not checked for its folder
    assert any(line.startswith("  - image_sets.mine.embed.device:") for line in lines), lines
    assert not any("missing_photos" in line for line in lines)
