# Stage 5: the paper's claims beside this run's profiles and quality results.


rule claims:
    input:
        profiles=profiles(),
        metrics=every("metrics"),
        settings=settings_stamp("claims", rehearsal=CFG.rehearsal),
    output:
        csv=L.pattern("claims_csv"),
        md=L.pattern("claims_md"),
    log:
        L.log("claims"),
    params:
        profiles=L.folder("profile"),
        # none without datasets (a profile-only run, config/gpu-check.yaml): the FID claims
        # then read "not measured" and the rest are judged on the profiles alone
        metrics=cli(metrics=L.folder("metrics") if DATASETS else None),
        rehearsal=cli(rehearsal=CFG.rehearsal),
    shell:
        "{PY} -m benchmarks.claims --profiles {params.profiles:q} {params.metrics} "
        "{params.rehearsal} --out-csv {output.csv:q} --out-md {output.md:q} > {log:q} 2>&1"
