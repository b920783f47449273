# Stage 1: images -> one prepared dataset file per dataset (zip of PNGs + recipe).


rule prepare_dataset:
    input:
        preflight=ancient(L.pattern("preflight")),  # runs after the check; see preflight.smk
    output:
        L.pattern("dataset"),
    log:
        L.log("prepare_{dataset}"),
    params:
        args=lambda wc: cli(
            source=CFG.datasets[wc.dataset].source,
            resolution=CFG.datasets[wc.dataset].resolution,
            max_images=CFG.datasets[wc.dataset].max_images,
        ),
    shell:
        "{PY} -m data.prepare {params.args} --out {output:q} > {log:q} 2>&1"
