# The claims ledger: every published claim of workflow/claims.tsv beside polface's value and a
# verdict (results/claims.{csv,md}). It reads whichever study outputs this run builds: the
# Kosinski cohort's tables, the Facial Finetuning tables and Khan et al.'s (rules/khan.smk: their
# released files when khan2022.enabled, their Table 2 on khan2022.table2.cohorts).


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
