"""The claims ledger: its file, the verdicts, the published AUC direction, the rule on real data.

The ledger (workflow/claims.tsv) must agree with the published values the repository quotes
elsewhere (README.md, tests/test_facial_finetuning.py); every verdict is unit-tested on tables the
tests write; and one workflow run of the Facial Finetuning config on the released data checks that
``results/claims.csv`` holds the verdicts below and the values the study's own outputs hold.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO, shared_path
from polface.config import ConfigError, validate_config
from polface.data.claims import (
    LEDGER_COLUMNS,
    LedgerError,
    parse_locator,
    parse_locators,
    printed_value,
    read_ledger,
)
from polface.studies.claims import (
    VERDICTS,
    ClaimsError,
    Reading,
    StudyRun,
    claim_files,
    claims_markdown,
    claims_summary,
    evaluate_claims,
    judge,
)

LEDGER = REPO / "workflow" / "claims.tsv"
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
README = (REPO / "README.md").read_text()


@pytest.fixture(scope="module")
def ledger() -> pd.DataFrame:
    return read_ledger(LEDGER)


# ---------------------------------------------------------------- printed values and locators


@pytest.mark.parametrize(
    ("printed", "value", "tolerance"),
    [
        ("0.72", 0.72, 0.005),
        ("862,770", 862770.0, 0.5),
        ("68%", 0.68, 0.005),
        (".0034", 0.0034, 0.00005),
        ("57.78%", 0.5778, 0.00005),
        ("−0.054", -0.054, 0.0005),
        ("880", 880.0, 0.5),
    ],
)
def test_printed_value_and_the_tolerance_its_precision_implies(printed, value, tolerance) -> None:
    got_value, got_tolerance = printed_value(printed)
    assert math.isclose(got_value, value) and math.isclose(got_tolerance, tolerance)


def test_a_printed_value_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(ValueError, match="'about 0.7' is not a printed number"):
        printed_value("about 0.7")


def test_locator_grammar() -> None:
    loc = parse_locator("{cohort}/tables/table2.csv?method=lasso&model!=@sample#mean(auc)")
    assert loc.file == "{cohort}/tables/table2.csv"
    assert loc.filters == (("method", "=", "lasso"), ("model", "!=", "@sample"))
    assert (loc.aggregate, loc.column) == ("mean", "auc")
    loc = parse_locator("f.csv?sample=as published&term=a_pd:gender1#estimate±se_ols")
    assert loc.filters[0] == ("sample", "=", "as published") and loc.se == "se_ols"
    assert parse_locator("f.csv#auc[lo,hi]").lo == "lo"
    assert parse_locator("f.csv#max(hi-lo)").column == "hi-lo"
    with pytest.raises(ValueError, match="expected FILE"):
        parse_locator("f.csv?a=1")
    with pytest.raises(ValueError, match="is not KEY=VALUE"):
        parse_locator("f.csv?a#x")
    for outside in ("../secrets.csv#x", "/etc/table.csv#x", "a/../../b.csv#x"):
        with pytest.raises(ValueError, match="must be a path inside results/"):
            parse_locator(outside)


# ---------------------------------------------------------------- the ledger file


def _write(path: Path, rows: list[list[str]]) -> Path:
    path.write_text("\n".join("\t".join(r) for r in [list(LEDGER_COLUMNS), *rows]) + "\n")
    return path


GOOD = ["k-1", "kosinski2021", "Figure 2", "AUC", "0.72", "0.72", "0.005", "[text]", "equal"]
GOOD += ["t.csv?model=a#auc[lo,hi]", "", ""]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {4: "0.720", 6: "0.005"},
            r"line 2 \(id 'k-1'\): column 'tolerance' is 0.005; the printed ",
        ),
        ({1: "kosinski"}, r"line 2 \(id 'k-1'\): column 'study' is 'kosinski'; expected one of"),
        ({7: "[paper]"}, r"column 'source' is '\[paper\]'"),
        ({9: "t.csv?model=a"}, r"column 'locator': locator 't.csv\?model=a': expected FILE"),
        ({9: ""}, r"no locator: column 'note' must say what polface lacks"),
        ({8: "positive"}, r"test 'positive' is qualitative: 'value' and 'tolerance' stay empty"),
        ({5: "0.7"}, r"column 'value' is 0.7; the printed '0.72' implies 0.72"),
        (
            {4: "0.9137059038318389", 5: "0.9137059038", 6: "5e-17"},
            r"column 'value' is 0.9137059038; the printed '0.9137059038318389' implies "
            r"0.9137059038318389",
        ),
        ({0: "k 1"}, r"column 'id' must be letters, digits and '-'"),
    ],
)
def test_ledger_errors_name_the_file_line_and_column(tmp_path, change, message) -> None:
    row = [change.get(i, cell) for i, cell in enumerate(GOOD)]
    path = _write(tmp_path / "claims.tsv", [row])
    with pytest.raises(LedgerError, match=message) as caught:
        read_ledger(path)
    assert str(caught.value).startswith(f"{path}: line 2")


def test_ledger_header_and_duplicate_ids_are_refused(tmp_path) -> None:
    path = tmp_path / "claims.tsv"
    path.write_text("id\tstudy\n")
    with pytest.raises(LedgerError, match=r"line 1: expected the columns"):
        read_ledger(path)
    _write(path, [GOOD, GOOD])
    with pytest.raises(LedgerError, match=r"line 3 \(id 'k-1'\): column 'id' repeats line 2"):
        read_ledger(path)


def test_the_ledger_holds_the_claims_the_issue_lists(ledger: pd.DataFrame) -> None:
    by_id = ledger.set_index("id")
    printed = {
        "kosinski-auc-dat-us": "0.72",
        "kosinski-auc-dat-ca": "0.71",
        "kosinski-auc-dat-uk": "0.70",
        "kosinski-auc-fb-us": "0.73",
        "kosinski-auc-dat-us-on-dat-ca": "0.68",
        "kosinski-auc-dat-us-on-dat-uk": "0.67",
        "kosinski-auc-dat-us-on-fb-us": "0.71",
        "kosinski-auc-out-of-sample-mean": "68%",
        "kosinski-matched-accuracy": "0.69",
        "kosinski-auc-head-pose": "0.58",
        "kosinski-auc-expression": "0.57",
        "kosinski-auc-personality": "0.66",
        "kosinski-human-accuracy": "0.55",
        "khan-flips-lasso": "200",
        "khan-flips-network": "428",
        "khan-mcnemar-lasso-total": ".289",
        "khan-mcnemar-network-total": ".111",
        "khan-mcnemar-lasso-beard": ".0034",
        "khan-mcnemar-network-beard": ".040",
        "khan-before-after-accuracy": "68%",
        "khan-flip-rate-network": "33%",
        "khan-table2-dat-us": "57.78%",
        "khan-table2-dat-ca": "67.85%",
        "khan-table2-dat-uk": "62.21%",
        "khan-table2-fb-us": "66.73%",
        "ff-n-candidates": "7,080",
    }
    for claim, value in printed.items():
        assert by_id.loc[claim, "published"] == value, claim
    assert set(ledger["study"]) == {"kosinski2021", "facial_finetuning", "khan", "omi"}
    # Facial Finetuning: every evaluation-table cell, and [code] references for the regressions
    ff = ledger[ledger["study"] == "facial_finetuning"]
    assert ff["id"].str.match(r"ff-(r|mae|mean-guessing-mae|random-guessing-mae)-").sum() == 12
    code = ff[ff["source"] == "[code]"]
    assert len(code) == 24 and code["note"].str.contains("printed table not read").all()
    # Khan et al.: every located claim reads an output of the Khan study's rules
    khan = ledger[ledger["study"] == "khan"]
    rules = (REPO / "workflow/rules/khan.smk").read_text()
    for claim in khan.itertuples():
        for locator in parse_locators(claim.locator) + parse_locators(claim.corrected_locator):
            stem = locator.file.removesuffix(".csv")
            assert f'"results/{stem}' in rules, (claim.id, locator.file)
    assert khan["id"].str.fullmatch(r"khan-chi2-(lasso|network)-\w+-(statistic|p)").sum() == 28
    assert khan["id"].str.startswith("khan-no-drag-lasso-").sum() == 5
    assert not khan["note"].str.contains("pending").any()


def test_the_ledger_agrees_with_the_published_values_quoted_elsewhere(ledger) -> None:
    """tests/test_facial_finetuning.py and README.md quote printed values: they cannot drift."""
    from test_facial_finetuning import PUBLISHED

    by_id = ledger.set_index("id")
    for trait, (mae, r, random_mae, mean_mae) in PUBLISHED.items():
        assert by_id.loc[f"ff-mae-{trait}", "published"] == mae
        assert by_id.loc[f"ff-r-{trait}", "published"] == r
        assert float(by_id.loc[f"ff-random-guessing-mae-{trait}", "value"]) == random_mae
        assert by_id.loc[f"ff-mean-guessing-mae-{trait}", "published"] == mean_mae
    # README, the Facial Finetuning evaluation table: MAE, r, random (paper), mean guessing
    for trait in PUBLISHED:
        row = re.search(
            rf"^\s*\| {trait} \| ([\d.]+) \| ([\d.]+) \[[^]]*\] \| [\d.]+ ± [\d.]+ "
            rf"\(paper ([\d.]+)\) \| ([\d.]+) \|",
            README,
            re.M,
        )
        assert row is not None, trait
        mae, r, random_mae, mean_mae = row.groups()
        assert by_id.loc[f"ff-mae-{trait}", "published"] == mae
        assert by_id.loc[f"ff-r-{trait}", "published"] == r
        assert by_id.loc[f"ff-random-guessing-mae-{trait}", "published"] == random_mae
        assert by_id.loc[f"ff-mean-guessing-mae-{trait}", "published"] == mean_mae
    # README, the candidate regressions: coefficient (OLS SE), the authors' specification
    outcomes = {"ballot position": "ballot-position", "personal votes": "personal-votes"}
    found = 0
    for trait, outcome, cells in re.findall(
        r"^\s*\| (\w+) → (ballot position|personal votes) \| (.*)$", README, re.M
    ):
        for model, cell in zip(("1", "2"), cells.split(" | ")[:2], strict=True):
            estimate, se = re.match(r"([−\d.]+) \(([\d.]+)\)", cell).groups()
            slug = f"{trait}-{outcomes[outcome]}-{model}"
            assert by_id.loc[f"ff-coef-{slug}", "published"] == estimate, slug
            assert by_id.loc[f"ff-se-{slug}", "published"] == se, slug
            found += 1
    assert found == 12
    # tests/test_khan.py and README.md: Khan et al.'s numbers
    _khan_agrees_with_test_khan(by_id)
    _khan_agrees_with_the_readme(by_id)
    # README, the ledger's summary: claims per study, and the run's counts add up
    names = {
        "Kosinski (2021)": "kosinski2021",
        "Facial Finetuning": "facial_finetuning",
        "One Million Impressions": "omi",
        "Khan et al.": "khan",
    }
    counts = ledger["study"].value_counts()
    for name, study in names.items():
        row = re.search(
            rf"^\| {re.escape(name)} \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|", README, re.M
        )
        assert row is not None, name
        claims, *verdicts = map(int, row.groups())
        assert claims == counts[study] == sum(verdicts), name
    summary = re.search(r"\*\*(\d+) claims: (\d+) reproduced, (\d+) differ, (\d+) not", README)
    assert summary is not None and int(summary.group(1)) == len(ledger)
    assert sum(map(int, summary.groups()[1:])) == len(ledger)
    # README, the published Kosinski numbers it quotes
    quoted = re.search(r"Kosinski's published numbers: (.*?)\.\n", README, re.S)
    assert quoted is not None
    for claim, value in re.findall(r"`([a-z0-9-]+)` (\d[\d.%]*(?:,\d{3})*)", quoted.group(1)):
        assert by_id.loc[claim, "published"] == value, claim


KHAN_MODELS = {"lasso (SGD, L2)": "lasso", "network": "network"}


def _printed(by_id: pd.DataFrame, claim: str) -> float:
    return printed_value(by_id.loc[claim, "published"])[0]


def _khan_agrees_with_test_khan(by_id: pd.DataFrame) -> None:
    from test_khan import HEADLINE, MCNEMAR_P, NO_DRAG

    for model, (_, flips, to_conservative, to_liberal) in HEADLINE.items():
        slug = KHAN_MODELS[model]
        assert _printed(by_id, f"khan-flips-{slug}") == flips
        assert _printed(by_id, f"khan-flips-{slug}-lib-to-con") == to_conservative
        assert _printed(by_id, f"khan-flips-{slug}-con-to-lib") == to_liberal
    for (model, category), p in MCNEMAR_P.items():
        claim = by_id.loc[f"khan-mcnemar-{KHAN_MODELS[model]}-{category}"]
        # printed rounded: the exact p lies within the printed precision
        assert abs(p - float(claim["value"])) <= float(claim["tolerance"]), (model, category)
    for column, value in NO_DRAG.items():
        assert _printed(by_id, f"khan-no-drag-lasso-{column}") == value, column
    # the 33%: the network's flips over its pairs, to the printed precision
    pairs, flips = HEADLINE["network"][:2]
    claim = by_id.loc["khan-flip-rate-network"]
    assert abs(flips / pairs - float(claim["value"])) <= float(claim["tolerance"])


def _readme_row(label: str) -> list[str]:
    """The cells of the README's Khan table row that starts with ``label``."""
    row = re.search(rf"^\s*\| {re.escape(label)} \|(.*)\|\s*$", README, re.M)
    assert row is not None, f"README: no Khan table row {label!r}"
    return [cell.strip() for cell in row.group(1).split("|")]


#: The README's Khan table rows and the ledger's claims each one quotes (their verdicts must be
#: the row's: KHAN_EXPECTED, checked on the released files by the workflow test below).
README_KHAN_ROWS = {
    "lasso flips (lib→con / con→lib)": ["khan-flips-lasso", "khan-flips-lasso-lib-to-con"],
    "network flips": ["khan-flips-network", "khan-flip-rate-network"],
    "McNemar p, pooled (lasso / network)": ["khan-mcnemar-lasso-total"],
    "McNemar p, beard (lasso / network)": ["khan-mcnemar-network-beard"],
    "lasso without drag (total, blal, blac, bcac, bcal)": ["khan-no-drag-lasso-blac"],
    "marginal chi-squared and p (7 categories × 2 models)": ["khan-chi2-lasso-beard-p"],
    "log model flips": ["khan-log-model-flips"],
    "before/after accuracy (E3)": ["khan-before-after-accuracy"],
    "Table 2 diagonal (US dating / CA / UK / US Facebook)": ["khan-table2-dat-us"],
}


def _khan_agrees_with_the_readme(by_id: pd.DataFrame) -> None:
    for label, claims in README_KHAN_ROWS.items():
        verdict = _readme_row(label)[-1]
        for claim in claims:
            assert by_id.loc[claim, "study"] == "khan"
            assert verdict == KHAN_EXPECTED.get(claim, "reproduced"), (label, claim)
    theirs, _, verdict = _readme_row("lasso flips (lib→con / con→lib)")
    assert theirs == "{} of 1,292 ({} / {})".format(
        *(
            by_id.loc[f"khan-flips-lasso{s}", "published"]
            for s in ("", "-lib-to-con", "-con-to-lib")
        )
    )
    theirs, _, _ = _readme_row("network flips")
    assert theirs == '{} of 1,292 ({} / {}), "{}"'.format(
        *(
            by_id.loc[f"khan-{s}", "published"]
            for s in ("flips-network", "flips-network-lib-to-con", "flips-network-con-to-lib")
        ),
        by_id.loc["khan-flip-rate-network", "published"],
    )
    for category, label in (("total", "pooled"), ("beard", "beard")):
        theirs, _, _ = _readme_row(f"McNemar p, {label} (lasso / network)")
        assert theirs == " / ".join(
            by_id.loc[f"khan-mcnemar-{m}-{category}", "published"] for m in ("lasso", "network")
        )
    theirs, _, _ = _readme_row("lasso without drag (total, blal, blac, bcac, bcal)")
    assert theirs == ", ".join(
        by_id.loc[f"khan-no-drag-lasso-{c}", "published"]
        for c in ("total", "blal", "blac", "bcac", "bcal")
    )
    theirs, _, _ = _readme_row("log model flips")
    assert theirs == by_id.loc["khan-log-model-flips", "published"]
    theirs, _, _ = _readme_row("before/after accuracy (E3)")
    assert theirs == by_id.loc["khan-before-after-accuracy", "published"]
    theirs, _, _ = _readme_row("Table 2 diagonal (US dating / CA / UK / US Facebook)")
    assert theirs == " / ".join(
        by_id.loc[f"khan-table2-{s}", "published"] for s in ("dat-us", "dat-ca", "dat-uk", "fb-us")
    )


# ---------------------------------------------------------------- verdicts


def _reading(value, lo=math.nan, hi=math.nan) -> Reading:
    return Reading(value, lo, hi, "t.csv")


def test_judge_each_test() -> None:
    assert judge("equal", [_reading(0.7249)], 0.72, 0.005)[0] == "reproduced"
    verdict, why = judge("equal", [_reading(0.7251)], 0.72, 0.005)
    assert verdict == "differs" and why.startswith("by +0.0051")
    assert judge("below", [_reading(0.009)], 0.01, 0.0005)[0] == "reproduced"
    assert judge("below", [_reading(0.01)], 0.01, 0.0005)[0] == "differs"
    up, zero, down = _reading(0.1, 0.05, 0.15), _reading(0.0, -0.1, 0.1), _reading(-1, -2, -0.5)
    assert judge("positive", [up, up], math.nan, math.nan)[0] == "reproduced"
    assert judge("positive", [up, zero], math.nan, math.nan)[0] == "differs"
    assert judge("negative", [down], math.nan, math.nan)[0] == "reproduced"
    assert judge("null", [zero, zero], math.nan, math.nan)[0] == "reproduced"
    assert judge("null", [zero, down], math.nan, math.nan)[0] == "differs"
    assert judge("chance", [_reading(0.51, 0.49, 0.53)], math.nan, math.nan)[0] == "reproduced"
    assert judge("chance", [_reading(0.52, 0.51, 0.53)], math.nan, math.nan)[0] == "differs"
    assert judge("inconsistent", [down, zero], math.nan, math.nan)[0] == "reproduced"
    assert judge("inconsistent", [down, down], math.nan, math.nan)[0] == "differs"
    with pytest.raises(ClaimsError, match="needs an interval"):
        judge("positive", [_reading(0.1)], math.nan, math.nan)


def _ledger(tmp_path: Path, rows: list[list[str]]) -> pd.DataFrame:
    return read_ledger(_write(tmp_path / "claims.tsv", rows))


def _claim(id, study, published, test, locator):
    """A ledger row up to its locator (the caller appends corrected_locator and note)."""
    if test in ("equal", "below"):
        value, tolerance = (f"{x:.10g}" for x in printed_value(published))
    else:
        value = tolerance = ""
    return [id, study, "Table 2", "q", published, value, tolerance, "[text]", test, locator]


def test_evaluate_claims_gives_every_verdict(tmp_path) -> None:
    results = tmp_path / "results"
    (results / "real/tables").mkdir(parents=True)
    (results / "ff").mkdir()
    pd.DataFrame(
        {
            "model": ["a", "a", "b"],
            "sample": ["a", "b", "b"],
            "auc": [0.47, 0.70, 0.74],
            "lo": [0.44, 0.68, 0.72],
            "hi": [0.50, 0.72, 0.76],
            "auc_published": [0.53, 0.70, 0.74],
        }
    ).to_csv(results / "real/tables/t2.csv", index=False)
    pd.DataFrame({"term": ["x"], "estimate": [0.05], "se_ols": [0.02], "se_cl": [0.03]}).to_csv(
        results / "ff/reg.csv", index=False
    )
    t2 = "{cohort}/tables/t2.csv?model=%s&sample=%s"
    rows = [
        _claim("flip", "kosinski2021", "0.53", "equal", t2 % ("a", "a") + "#auc_published")
        + [t2 % ("a", "a") + "#auc[lo,hi]", ""],
        _claim("diag", "kosinski2021", "0.71", "equal", t2 % ("b", "b") + "#auc[lo,hi]") + ["", ""],
        _claim(
            "mean",
            "kosinski2021",
            "0.72",
            "equal",
            "{cohort}/tables/t2.csv?model=@sample#mean(auc)",
        )
        + ["", ""],
        _claim(
            "pos", "facial_finetuning", "positive", "positive", "ff/reg.csv?term=x#estimate±se_ols"
        )
        + ["ff/reg.csv?term=x#estimate±se_cl", ""],
        _claim("nothing", "facial_finetuning", "0.83", "equal", "") + ["", "no Cohen's d"],
        _claim("khan", "khan", "200", "equal", "khan/flips.csv#flips") + ["", "pending"],
    ]
    ledger = _ledger(tmp_path, rows)
    runs = {
        "kosinski2021": StudyRun("real", cohort="real"),
        "facial_finetuning": StudyRun("real"),
        "khan": StudyRun("missing", "pending: not in the workflow yet"),
    }
    assert claim_files(ledger, runs) == ["ff/reg.csv", "real/tables/t2.csv"]
    out = evaluate_claims(ledger, runs, results=results).set_index("id")
    assert out.loc["flip", "verdict"] == "reproduced"
    assert out.loc["flip", "corrected"] == 0.47 and out.loc["flip", "corrected_hi"] == 0.50
    assert out.loc["diag", "verdict"] == "differs"
    assert math.isclose(out.loc["diag", "difference"], 0.03)
    assert out.loc["diag", "detail"].startswith("by +0.03")
    assert math.isclose(out.loc["mean", "polface"], 0.605) and out.loc["mean", "verdict"] == (
        "differs"
    )
    # OLS interval excludes zero, the clustered one does not: both are said
    assert out.loc["pos", "verdict"] == "reproduced"
    assert "with the corrected computation: differs" in out.loc["pos", "detail"]
    assert out.loc["nothing", "verdict"] == "not computable here"
    assert out.loc["nothing", "detail"] == "no Cohen's d"
    assert out.loc["khan", "detail"].startswith("pending")
    assert set(out["verdict"]) <= set(VERDICTS)
    # the same cohort as synthetic data: values read, no verdict
    runs["kosinski2021"] = StudyRun("synthetic", "cohort 'real' is not the release", cohort="real")
    synthetic = evaluate_claims(ledger, runs, results=results).set_index("id")
    assert synthetic.loc["diag", "verdict"] == "synthetic data"
    assert synthetic.loc["diag", "polface"] == 0.74
    summary = claims_summary(synthetic)
    assert summary == {
        "claims": 6,
        "reproduced": 1,
        "differs": 0,
        "not computable here": 2,
        "synthetic data": 3,
    }
    text = claims_markdown(synthetic.reset_index(), run="test")
    assert text.splitlines()[2].startswith("6 claims: 1 reproduced, 0 differ, 2 not computable")


def test_a_locator_that_finds_nothing_names_the_file_and_locator(tmp_path) -> None:
    results = tmp_path / "results"
    (results / "ff").mkdir(parents=True)
    pd.DataFrame({"term": ["x", "x"], "estimate": [1, 2]}).to_csv(results / "ff/r.csv", index=False)
    runs = {"facial_finetuning": StudyRun("real")}
    for locator, message in (
        ("ff/r.csv?term=x#estimate", r"ff/r.csv \(ff/r.csv\?term=x#estimate\): selects 2 rows"),
        ("ff/r.csv?term=x#mean(se)", "no column 'se'"),
        ("ff/r.csv?kind=x#estimate", "no column 'kind' to filter on"),
        ("ff/absent.csv#estimate", r"absent.csv: not found \(named by the claims ledger"),
    ):
        ledger = _ledger(
            tmp_path, [_claim("c", "facial_finetuning", "1", "equal", locator) + ["", ""]]
        )
        with pytest.raises(ClaimsError, match=message):
            evaluate_claims(ledger, runs, results=results)
    # a cell the run did not compute (e.g. a sample left out) is not computable, not an error
    ledger = _ledger(
        tmp_path,
        [_claim("c", "facial_finetuning", "1", "equal", "ff/r.csv?term=y#estimate") + ["", ""]],
    )
    out = evaluate_claims(ledger, runs, results=results).iloc[0]
    assert out["verdict"] == "not computable here"
    assert (
        out["detail"]
        == "this run did not compute ff/r.csv (ff/r.csv?term=y#estimate): selects no row"
    )


# ---------------------------------------------------------------- the published AUC direction


def test_the_published_code_prints_the_auc_of_the_direction_pROC_chooses(tmp_path) -> None:
    from polface.report.render import wide_display, write_display_table
    from polface.report.tables import auc_with_baselines, published_direction_auc

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 400)
    rows = []
    for model, sign in (("up", 1.0), ("down", -1.0)):
        score = sign * (y + rng.normal(0, 2, 400))
        rows.append(
            pd.DataFrame(
                {"model": model, "sample": "s", "userid": range(400), "y": y, "score": score}
            )
        )
    preds = pd.concat(rows, ignore_index=True)
    long = auc_with_baselines(
        preds, ["model"], target_column="sample", id_column="userid", n_permutations=20, seed=1
    ).set_index("model")
    up, down = long.loc["up"], long.loc["down"]
    assert up["auc"] > 0.5 and up["auc_published"] == up["auc"]
    assert down["auc"] < 0.5 and math.isclose(down["auc_published"], 1 - down["auc"])
    assert math.isclose(down["lo_published"], 1 - down["hi"])
    assert math.isclose(down["hi_published"], 1 - down["lo"])
    # pROC decides by the medians, not by the AUC: equal medians keep the fixed direction
    flat = pd.Series([0, 0, 1, 1, 0, 1])
    assert published_direction_auc(flat, pd.Series([1, 2, 2, 0, 3, 4]), 0.4) == 0.4
    cells = wide_display(long.reset_index(), target_column="sample")
    assert cells.loc["down", "s"].endswith(f"(published code: {down['auc_published']:.2f})")
    assert "published code" not in cells.loc["up", "s"]
    paths = write_display_table(
        long.reset_index(),
        ["model"],
        target_column="sample",
        csv=tmp_path / "t.csv",
        md=tmp_path / "t.md",
        tex=tmp_path / "t.tex",
    )
    assert "auc_published" in paths["csv"].read_text().splitlines()[0]
    assert "(published code: " in paths["md"].read_text()


# ---------------------------------------------------------------- configs


def test_the_kosinski_config_runs_the_published_design(tmp_path) -> None:
    default = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    study = yaml.safe_load((REPO / "config" / "kosinski2021.yaml").read_text())
    assert study["folds"] == {"outer": 30, "inner": 10}
    assert study["claims"]["published_cohort"] == "kosinski2021"
    for name in ("faces.RData", "vgg.RData"):
        (tmp_path / "resources/osf").mkdir(parents=True, exist_ok=True)
        (tmp_path / "resources/osf" / name).write_bytes(b"")
    merged = {**default, **study, "cohorts": {**default["cohorts"], **study["cohorts"]}}
    config = validate_config(merged, SCHEMA, base_dir=tmp_path)
    assert config["folds"]["outer"] == 30 and config["folds"]["seed"] == 30
    wrong = {**default, "claims": {"published_cohort": "demo"}}
    with pytest.raises(ConfigError, match="claims.published_cohort: 'demo' is not a cohort read"):
        validate_config(wrong, SCHEMA)


def test_a_claim_on_a_cohort_follows_the_cohort_and_a_corrected_only_claim_is_listed(
    tmp_path,
) -> None:
    """Khan et al.: their files are real while their Table 2 on a Kosinski cohort may be the demo
    (synthetic) or absent (the OSF release); their 68% is not redone, polface's corrected value is
    listed beside it."""
    results = tmp_path / "results"
    (results / "demo/k").mkdir(parents=True)
    (results / "k").mkdir()
    pd.DataFrame({"train": ["a"], "test": ["a"], "accuracy": [1.0], "oof": [0.55]}).to_csv(
        results / "demo/k/t2.csv", index=False
    )
    pd.DataFrame({"model": ["head"], "acc": [0.74], "lo": [0.72], "hi": [0.76]}).to_csv(
        results / "k/e3.csv", index=False
    )
    pd.DataFrame({"model": ["nn"], "flips": [428]}).to_csv(results / "k/flips.csv", index=False)
    rows = [
        _claim("t2", "khan", "57.78%", "equal", "{cohort}/k/t2.csv?train=a&test=a#accuracy")
        + ["{cohort}/k/t2.csv?train=a&test=a#oof", "in sample"],
        _claim("e3", "khan", "68%", "equal", "") + ["k/e3.csv?model=head#acc[lo,hi]", "theirs"],
        _claim("flips", "khan", "428", "equal", "k/flips.csv?model=nn#flips") + ["", ""],
    ]
    ledger = _ledger(tmp_path, rows)
    osf = "the OSF release"
    without = StudyRun("real", cohort_status="missing", cohort_reason=osf)
    assert claim_files(ledger, {"khan": without}) == ["k/e3.csv", "k/flips.csv"]
    out = evaluate_claims(ledger, {"khan": without}, results=results).set_index("id")
    assert out.loc["flips", "verdict"] == "reproduced"
    assert out.loc["t2", "verdict"] == "not computable here" and out.loc["t2", "detail"] == osf
    assert out.loc["e3", "verdict"] == "not computable here" and out.loc["e3", "detail"] == "theirs"
    assert (out.loc["e3", "corrected"], out.loc["e3", "corrected_hi"]) == (0.74, 0.76)
    assert math.isnan(out.loc["e3", "polface"]) and out.loc["e3", "output"] == "k/e3.csv"
    demo = StudyRun("real", cohort="demo", cohort_status="synthetic", cohort_reason="the demo")
    assert "demo/k/t2.csv" in claim_files(ledger, {"khan": demo})
    out = evaluate_claims(ledger, {"khan": demo}, results=results).set_index("id")
    assert out.loc["t2", "verdict"] == "synthetic data"
    assert (out.loc["t2", "polface"], out.loc["t2", "corrected"]) == (1.0, 0.55)
    assert out.loc["flips", "verdict"] == "reproduced"
    # the study off, the cohort real: only the cohort's claims are read
    off = StudyRun("missing", "off", cohort="demo", cohort_status="real")
    out = evaluate_claims(ledger, {"khan": off}, results=results).set_index("id")
    assert out.loc["t2", "verdict"] == "differs" and out.loc["flips", "detail"] == "off"
    assert out.loc["e3", "detail"] == "theirs" and math.isnan(out.loc["e3", "corrected"])


# ---------------------------------------------------------------- the rule on the released data

#: The verdicts of the Facial Finetuning and OMI claims on the released data (everything else in
#: those studies is reproduced).
EXPECTED_NOT_REPRODUCED = {
    "ff-random-guessing-mae-attractiveness": "differs",  # numpy's draws are not R's
    "ff-random-guessing-mae-trustworthiness": "differs",
    "ff-random-guessing-mae-dominance": "differs",
    "ff-n-training-faces": "differs",  # 880 printed, 856 released
    "ff-abstract-trustworthiness-ballot-position-2": "differs",  # not robust to the controls
    "ff-abstract-dominance-ballot-position-no-election-moderation": "differs",
    "omi-reliability-attractive": "not computable here",
    "omi-reliability-trustworthy": "not computable here",
    "omi-reliability-dominant": "not computable here",
}


@pytest.fixture(scope="module")
def finetuning_run(finetuning_study: Path) -> Path:
    """The Facial Finetuning study's run (tests/conftest.py; its default targets hold
    results/claims.md), shared with tests/test_finetuning_workflow.py."""
    return finetuning_study


def _claims_run(workdir: Path, study: dict) -> Path:
    """Build results/claims.md in `workdir` with `study` as the config; the workdir."""
    from workflow_utils import snakemake, write_config

    config = write_config(workdir, "claims_test.yaml", study)
    done = snakemake(workdir, "results/claims.md", "--cores", "2", "--configfile", str(config))
    assert done.returncode == 0, done.stdout[-4000:]
    return workdir


@pytest.mark.workflow
def test_the_rule_gives_the_verdicts_on_the_released_data(finetuning_run: Path, ledger) -> None:
    results = finetuning_run / "results"
    claims = pd.read_csv(results / "claims.csv", keep_default_na=False).set_index("id")
    assert list(claims.index) == list(ledger["id"])
    by_id = ledger.set_index("id")
    for claim in claims.itertuples():
        if claim.study in ("facial_finetuning", "omi"):
            expected = EXPECTED_NOT_REPRODUCED.get(claim.Index, "reproduced")
            assert claim.verdict == expected, (claim.Index, claim.verdict, claim.detail)
        elif claim.study == "khan":
            assert claim.verdict == "not computable here"
            locator = by_id.loc[claim.Index, "locator"]
            if "{cohort}" in locator:  # their Table 2: no Kosinski cohort in this run
                assert claim.detail.startswith("the OSF release"), claim.Index
            elif locator:
                assert claim.detail.startswith("the Khan et al. study is not enabled"), claim.Index
        else:
            assert claim.verdict == "not computable here", claim.Index
    # polface's values are the study's own outputs
    evaluation = pd.read_csv(results / "facial_finetuning/evaluation.csv")
    authors = evaluation[evaluation["column"] == "authors"].set_index("trait")
    assert float(claims.loc["ff-r-dominance", "polface"]) == pytest.approx(
        authors.loc["dominance", "r"], abs=1e-12
    )
    regressions = pd.read_csv(results / "facial_finetuning/regressions.csv")
    cell = regressions[
        (regressions["sample"] == "as published")
        & (regressions["outcome"] == "percentile_rank_std")
        & (regressions["model"] == 2)
        & (regressions["term"] == "trustworthiness_pd")
    ].iloc[0]
    row = claims.loc["ff-se-trustworthiness-ballot-position-2"]
    assert float(row["polface"]) == pytest.approx(cell["se_ols"], abs=1e-12)
    assert float(row["corrected"]) == pytest.approx(cell["se_cluster"], abs=1e-12)
    text = (results / "claims.md").read_text()
    counts = claims["verdict"].value_counts()
    assert (
        f"{len(claims)} claims: {counts['reproduced']} reproduced, {counts['differs']} differ, "
        f"{counts['not computable here']} not computable here" in text
    )


#: The verdicts of Khan et al.'s claims on their released files (every other one is reproduced).
KHAN_EXPECTED = {
    "khan-log-model-flips": "not computable here",  # its predictions were not released
    "khan-before-after-accuracy": "not computable here",  # needs the photographs
    "khan-table2-dat-us": "not computable here",  # needs the OSF release
    "khan-table2-dat-ca": "not computable here",
    "khan-table2-dat-uk": "not computable here",
    "khan-table2-fb-us": "not computable here",
}


@pytest.fixture(scope="module")
def khan_run(tmp_path_factory) -> Path:
    from workflow_utils import copy_project, quick_khan_study

    workdir = copy_project(tmp_path_factory.mktemp("claims_khan"))
    return _claims_run(workdir, quick_khan_study(shared_path("khan")))


@pytest.mark.workflow
def test_the_rule_gives_khans_verdicts_on_their_released_files(khan_run: Path, ledger) -> None:
    results = khan_run / "results"
    claims = pd.read_csv(results / "claims.csv", keep_default_na=False).set_index("id")
    khan = claims[claims["study"] == "khan"]
    assert len(khan) == (ledger["study"] == "khan").sum()
    for claim in khan.itertuples():
        expected = KHAN_EXPECTED.get(claim.Index, "reproduced")
        assert claim.verdict == expected, (claim.Index, claim.verdict, claim.detail)
    for claim in ("khan-table2-dat-us", "khan-table2-fb-us"):
        assert khan.loc[claim, "detail"].startswith("the OSF release"), claim
    assert khan.loc["khan-log-model-flips", "detail"].startswith("their log model's predictions")
    # polface's values are the Khan study's own outputs
    audit = pd.read_csv(results / "khan2022/retest/audit.csv").set_index(["model", "category"])
    network = audit.loc[("network", "pooled")]
    row = khan.loc["khan-flip-rate-network"]
    assert float(row["polface"]) == network["flip_rate"]
    assert (float(row["lo"]), float(row["hi"])) == (network["flip_lo"], network["flip_hi"])
    assert float(khan.loc["khan-flips-network", "polface"]) == network["flips"] == 428
    assert float(khan.loc["khan-mcnemar-lasso-beard", "polface"]) == pytest.approx(
        audit.loc[("lasso (SGD, L2)", "beard"), "mcnemar_p"], rel=1e-15
    )
    marginal = pd.read_csv(results / "khan2022/retest/marginal.csv").set_index(
        ["model", "category"]
    )
    assert float(khan.loc["khan-chi2-lasso-beard-p", "polface"]) == pytest.approx(
        marginal.loc[("lasso (SGD, L2)", "beard"), "chi2 p"], rel=1e-15
    )
    e3 = pd.read_csv(results / "khan2022/before_after/classifier.csv").set_index("model")
    row = khan.loc["khan-before-after-accuracy"]
    assert row["polface"] == "" and float(row["corrected"]) == pytest.approx(
        e3.loc["classifier (head only)", "accuracy"], rel=1e-15
    )
    text = (results / "claims.md").read_text()
    assert "Khan et al. on" in text.splitlines()[2]
    # the other studies are not in this run
    others = claims[claims["study"] != "khan"]
    assert (others["verdict"] == "not computable here").all()
