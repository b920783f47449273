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
        # --log, not `> {log}`: the log is opened once the output's lock is held, so a second
        # `--nolock` run that loses the lock cannot empty the winner's log (it says so on stderr)
        "{PY} -m data.prepare {params.args} --out {output:q} --log {log:q}"
