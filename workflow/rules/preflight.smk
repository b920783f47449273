# Stage 0: the pre-flight check (workflow/preflight.py): the datasets, metric weights, GPUs and disk
# space the config needs, checked before any job starts; each missing thing is one line on
# stderr with its fix. prepare_dataset takes its output as an ancient() input: it waits for the
# check, but a re-check (the config changed) does not make the prepared data and what follows
# out of date. Under a cluster executor the check runs on the submitting host, which has no
# GPUs: the GPU check is then left to the executor's own resources (--skip gpus).


rule preflight:
    output:
        L.pattern("preflight"),
    log:
        L.log("preflight"),
    params:
        cfg=json.dumps(settings.as_dict(CFG)),
        name=", ".join(map(str, workflow.configfiles)) or "the config",
        skip=lambda wc: "" if workflow.local_exec else "--skip gpus",
    localrule: True
    priority: 100
    shell:
        "{PY} -m workflow.preflight --config-json {params.cfg:q} --config-name {params.name:q} "
        "{params.skip} --out {output:q} > {log:q}"
