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
        cfg=json.dumps(settings.as_dict(CFG), sort_keys=True),
    shell:
        "{PY} -m reports.render --results {RESULTS:q} --out {REPORTS:q} --config-json {params.cfg:q} "
        "> {log:q} 2>&1"
