# Stage 4: quality metrics of every trained model (reference features cached once per dataset),
# and the stage-by-stage RGB outputs of each generator (the paper's Fig. 6).

Q = config["quality"]


rule quality:
    input:
        ckpt=rules.train.output.ckpt,
        data=f"{RESULTS}/data/{{dataset}}.zip",
    output:
        f"{RESULTS}/metrics/{{dataset}}_{{model}}.json",
    log:
        f"{LOGS}/quality_{{dataset}}_{{model}}.log",
    params:
        metrics=",".join(Q["metrics"]),
        seeds=",".join(map(str, Q.get("seeds", [0]))),
        num_real=Q.get("num_real", Q["num_gen"]),
        truncation=Q.get("truncation", 1.0),
        noise_mode=Q.get("noise_mode", "const"),
        weights_dir=Q.get("weights_dir", "resources/weights"),
        cache=f"{RESULTS}/cache",
    threads: workflow.cores
    resources:
        gpu=GPU_JOB,
    shell:
        "{PY} -m benchmarks.quality --checkpoint {input.ckpt:q} --data {input.data:q} "
        "--metrics {params.metrics} --num-gen {Q[num_gen]} --num-real {params.num_real} "
        "--seeds {params.seeds} --extractor {Q[extractor]} --truncation {params.truncation} "
        "--noise-mode {params.noise_mode} --device {DEVICE} --weights-dir {params.weights_dir:q} "
        "--cache-dir {params.cache:q} --out {output:q} > {log:q} 2>&1"


rule quality_curve:
    """A cheaper metric (FD only, one seed, curve_num_gen samples) at every training snapshot,
    for the metric-vs-kimg curve. Reference features come from the same cache as `quality`."""
    input:
        ckpt=rules.train.output.ckpt,
        data=f"{RESULTS}/data/{{dataset}}.zip",
    output:
        directory(f"{RESULTS}/curves/{{dataset}}_{{model}}"),
    log:
        f"{LOGS}/curve_{{dataset}}_{{model}}.log",
    params:
        snapshots=lambda wc: f"{train_dir(wc.dataset, wc.model)}/checkpoints",
        num_gen=Q.get("curve_num_gen", Q["num_gen"]),
        num_real=Q.get("num_real", Q["num_gen"]),
        noise_mode=Q.get("noise_mode", "const"),
        weights_dir=Q.get("weights_dir", "resources/weights"),
        cache=f"{RESULTS}/cache",
    threads: workflow.cores
    resources:
        gpu=GPU_JOB,
    shell:
        "mkdir -p {output:q} && for ckpt in {params.snapshots:q}/ckpt-*.pt; do "
        "{PY} -m benchmarks.quality --checkpoint \"$ckpt\" --data {input.data:q} --metrics fid "
        "--num-gen {params.num_gen} --num-real {params.num_real} --seeds 0 "
        "--extractor {Q[extractor]} --noise-mode {params.noise_mode} --device {DEVICE} "
        "--weights-dir {params.weights_dir:q} --cache-dir {params.cache:q} "
        "--out {output:q}/$(basename \"$ckpt\" .pt).json || exit 1; done > {log:q} 2>&1"


rule stages:
    input:
        ckpt=rules.train.output.ckpt,
    output:
        png=f"{RESULTS}/stages/{{dataset}}_{{model}}.png",
        json=f"{RESULTS}/stages/{{dataset}}_{{model}}.json",
    log:
        f"{LOGS}/stages_{{dataset}}_{{model}}.log",
    shell:
        "{PY} -m reports.stages --checkpoint {input.ckpt:q} --out {output.png:q} "
        "--json {output.json:q} > {log:q} 2>&1"
