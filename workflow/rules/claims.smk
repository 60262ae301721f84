# The claims ledger: every published claim of workflow/claims.tsv beside polface's value and a
# verdict (results/claims.{csv,md}). It reads whichever study outputs this run builds: the
# Kosinski cohort's tables, the Facial Finetuning tables, and (once issue 18 lands) Khan et al.


from polface.data.claims import read_ledger  # noqa: E402
from polface.studies.claims import StudyRun, claim_files  # noqa: E402

CLAIMS_LEDGER = str(Path(workflow.basedir) / "claims.tsv")
KHAN_PENDING = "pending: the Khan et al. study (issue 18) is not in the workflow yet"


def claims_runs():
    """Per study of the ledger: what this run holds (real data, synthetic data or missing)."""
    published = config["claims"]["published_cohort"]
    if "lasso" not in METHODS:
        kosinski = StudyRun("missing", "the LASSO is disabled (lasso.enabled)")
    elif published in RUN_COHORTS:
        kosinski = StudyRun("real", cohort=published)
    elif RUN_COHORTS:
        kosinski = StudyRun(
            "synthetic",
            f"cohort {RUN_COHORTS[0]!r} is not the published OSF release "
            "(claims.published_cohort; config/kosinski2021.yaml)",
            cohort=RUN_COHORTS[0],
        )
    else:
        kosinski = StudyRun(
            "missing",
            "no Kosinski cohort in this run: the OSF release in resources/osf/ "
            "(config/kosinski2021.yaml)",
        )
    if FINETUNING["enabled"]:
        finetuning = StudyRun("real")
    else:
        finetuning = StudyRun(
            "missing",
            "the Facial Finetuning run is not configured (config/facial_finetuning.yaml)",
        )
    khan = config.get("khan", {})
    return {
        "kosinski2021": kosinski,
        "facial_finetuning": finetuning,
        "omi": finetuning,
        "khan": (
            StudyRun("real")
            if khan.get("enabled")
            else StudyRun("missing", KHAN_PENDING)
        ),
    }


def get_claims_outputs(wildcards):
    """The study outputs the ledger's claims read in this run."""
    runs = claims_runs()
    return [f"results/{path}" for path in claim_files(read_ledger(CLAIMS_LEDGER), runs)]


def claims_run_label():
    """What the run held, in words, for the head of results/claims.md."""
    runs = claims_runs()
    kosinski = runs["kosinski2021"]
    parts = [
        (
            f"Kosinski cohort {kosinski.cohort!r} ({kosinski.status})"
            if kosinski.cohort
            else "no Kosinski cohort"
        ),
        "Facial Finetuning "
        + ("on" if runs["facial_finetuning"].status == "real" else "off"),
        "Khan et al. " + ("on" if runs["khan"].status == "real" else "pending"),
    ]
    return ", ".join(parts)


rule claims_ledger:
    input:
        ledger=CLAIMS_LEDGER,
        outputs=get_claims_outputs,
    output:
        csv="results/claims.csv",
        md=report(
            "results/claims.md",
            caption="../report/claims.rst",
            category="Claims",
            labels={"table": "published claims"},
        ),
    log:
        "results/logs/claims_ledger/claims.log",
    benchmark:
        "results/benchmarks/claims_ledger/claims.tsv"
    conda:
        "../../environment.yml"
    params:
        runs={study: vars(run) for study, run in claims_runs().items()},
        run=claims_run_label(),
    script:
        "../../scripts/claims_ledger.py"
