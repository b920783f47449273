# Stage 1: images -> one prepared dataset file per dataset (zip of PNGs + recipe).


rule prepare_dataset:
    output:
        f"{RESULTS}/data/{{dataset}}.zip",
    log:
        f"{LOGS}/prepare_{{dataset}}.log",
    params:
        source=lambda wc: config["datasets"][wc.dataset]["source"],
        res=lambda wc: config["datasets"][wc.dataset]["resolution"],
        limit=lambda wc: (
            f"--max-images {config['datasets'][wc.dataset]['max_images']}"
            if config["datasets"][wc.dataset].get("max_images")
            else ""
        ),
    shell:
        "{PY} -m data.prepare --source {params.source:q} --resolution {params.res} "
        "--out {output:q} {params.limit} > {log:q} 2>&1"
