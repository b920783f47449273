# Stage 6: tables, plots and one self-contained report.html, from the results files only.


rule report:
    input:
        profiles(),
        every("metrics"),
        every("stages_json"),
        every("nearest_json"),
        every("variant"),
        every("curve_dir"),
        every("final_ckpt"),  # and the log.csv beside it (not an output: see train.smk)
        every("dataset"),
        rules.claims.output.csv,
        settings=settings_stamp("report", cfg=settings.as_dict(CFG)),
    output:
        html=f"{REPORTS}/report.html",
    log:
        L.log("report"),
    params:
        # written when the workflow starts (preflight.smk); its settings stamp above re-runs the
        # report when they change
        config=L.path("config"),
    shell:
        "{PY} -m reports.render --results {RESULTS:q} --out {REPORTS:q} --config {params.config:q} "
        "> {log:q} 2>&1"
