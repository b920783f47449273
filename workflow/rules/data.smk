# Stage 1: images -> one prepared dataset file per dataset (zip of PNGs + recipe).


rule prepare_dataset:
    input:
        settings=settings_stamp("prepare_dataset", args=lambda wc: section_args(CFG.datasets[wc.dataset])),
    output:
        L.pattern("dataset"),
    log:
        L.log("prepare_{dataset}"),
    params:
        args=lambda wc: section_args(CFG.datasets[wc.dataset]),
    shell:
        "{PY} -m data.prepare {params.args} --out {output:q} > {log:q} 2>&1"
