# Compare this run with another run's results folder (reports/compare.py): verdicts that know
# the noise of each number, written beside this run's report. Not part of `all`: ask for it,
#   snakemake reports/<run>/compare_<baseline>/compare.html --cores all --configfile CONFIG
# which compares results/<baseline> (the baseline, e.g. a copy of an earlier run) with this run.
# For a CI gate call the module itself: python -m reports.compare BASELINE CURRENT --gate.


rule compare:
    input:
        profiles(),
        every("metrics"),
    output:
        html=f"{REPORTS}/compare_{{baseline}}/compare.html",
        md=f"{REPORTS}/compare_{{baseline}}/compare.md",
    log:
        L.log("compare_{baseline}"),
    wildcard_constraints:
        baseline=r"[A-Za-z0-9._-]+",
    params:
        baseline=lambda wc: f"results/{wc.baseline}",
        out=lambda wc: f"{REPORTS}/compare_{wc.baseline}",
    shell:
        "{PY} -m reports.compare {params.baseline:q} {RESULTS:q} --out {params.out:q} > {log:q} 2>&1"
