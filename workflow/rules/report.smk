# Stage 5: tables, plots, claims and one self-contained report.html, from the results files only.


rule report:
    input:
        profiles=expand(f"{RESULTS}/profile/{{model}}_{{res}}.json", model=MODELS, res=PROFILE_RES),
        claims=rules.claims.output.csv,
        metrics=expand(f"{RESULTS}/metrics/{{dataset}}_{{model}}.json", dataset=DATASETS, model=MODELS),
        stages=expand(f"{RESULTS}/stages/{{dataset}}_{{model}}.json", dataset=DATASETS, model=MODELS),
        variants=expand(f"{RESULTS}/profile_variant/{{dataset}}_{{model}}.json", dataset=DATASETS, model=MODELS),
        curves=expand(f"{RESULTS}/curves/{{dataset}}_{{model}}", dataset=DATASETS, model=MODELS),
        data=expand(f"{RESULTS}/data/{{dataset}}.zip", dataset=DATASETS),
        logs=expand(f"{RESULTS}/train/{{dataset}}/{{model}}/log.csv", dataset=DATASETS, model=MODELS),
    output:
        html=f"{REPORTS}/report.html",
    log:
        f"{LOGS}/report.log",
    params:
        cfg=lambda wc: json.dumps(config),
    shell:
        "{PY} -m reports.render --results {RESULTS:q} --out {REPORTS:q} --config-json {params.cfg:q} "
        "> {log:q} 2>&1"
