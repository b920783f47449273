# Stage 4: quality metrics of every trained model (reference features cached once per dataset),
# and the stage-by-stage RGB outputs of each generator (the paper's Fig. 6).

from benchmarks.quality.planning import curve_quality
from common.layout import SNAPSHOTS
from common.sections import to_argv

Q = CFG.quality


def _quality_args(section):
    """The quality section whole, as the flags the CLI generates from it (common.sections), plus
    the run's device and its one feature cache (results/<run>/cache, common.layout). The
    section's `threads` is not among them: the rules pass `--threads {threads}`, the cores
    Snakemake counts the job for (QUALITY_THREADS)."""
    argv = to_argv(section, exclude=("threads",))
    argv += ["--device", DEVICE, "--cache-dir", L.pattern("cache")]
    return " ".join(shlex.quote(a) for a in argv)


# Quality is not timed, so it need not have the machine to itself: `quality.threads` 1 (the
# default run's) lets a quality job take the core a training job leaves idle; unset, all cores.
QUALITY_THREADS = Q.threads or ALL_CORES


rule quality:
    input:
        ckpt=L.pattern("final_ckpt"),
        data=L.pattern("dataset"),
        settings=settings_stamp("quality", args=to_argv(Q), device=DEVICE),
    output:
        L.pattern("metrics"),
    log:
        L.log("quality_{dataset}_{model}"),
    params:
        args=_quality_args(Q),
    threads: QUALITY_THREADS
    resources:
        gpu_slots=GPU_JOB,
    shell:
        "{PY} -m benchmarks.quality --checkpoint {input.ckpt:q} --data {input.data:q} "
        "{params.args} --threads {threads} --out {output:q} > {log:q} 2>&1"


rule quality_curve:
    """The curve metric (one seed, curve_num_gen samples) at every training snapshot, for the
    metric-vs-kimg curve, one file per snapshot named after it (common.layout names both).
    Reference features come from the same cache as `quality`."""
    input:
        ckpt=L.pattern("final_ckpt"),
        data=L.pattern("dataset"),
        settings=settings_stamp("quality_curve", args=to_argv(curve_quality(Q)),
            device=DEVICE),
    output:
        directory(L.pattern("curve_dir")),
    log:
        L.log("curve_{dataset}_{model}"),
    params:
        snapshots=lambda wc: L.path("checkpoints", dataset=wc.dataset, model=wc.model),
        snapshot_glob=SNAPSHOTS.glob,  # unquoted below, so the shell expands it
        args=_quality_args(curve_quality(Q)),  # the curve metric, first seed, curve_num_gen
    threads: QUALITY_THREADS
    resources:
        gpu_slots=GPU_JOB,
    shell:
        "mkdir -p {output:q} && for ckpt in {params.snapshots:q}/{params.snapshot_glob}; do "
        "{PY} -m benchmarks.quality --checkpoint \"$ckpt\" --data {input.data:q} {params.args} "
        "--threads {threads} --out {output:q}/$(basename \"${{ckpt%.*}}\").json || exit 1; done > {log:q} 2>&1"


rule stages:
    input:
        ckpt=L.pattern("final_ckpt"),
        settings=settings_stamp("stages", device=DEVICE),
    output:
        png=L.pattern("stages_png"),
        json=L.pattern("stages_json"),
    log:
        L.log("stages_{dataset}_{model}"),
    resources:
        gpu_slots=GPU_JOB,
    shell:
        "{PY} -m benchmarks.stages --checkpoint {input.ckpt:q} --device {DEVICE} "
        "--out {output.png:q} --json {output.json:q} > {log:q} 2>&1"


rule nearest:
    """Three samples of each model beside their nearest real images in PROXY feature space:
    the learned-not-copied check (benchmarks/quality/nearest.py)."""
    input:
        ckpt=L.pattern("final_ckpt"),
        data=L.pattern("dataset"),
        settings=settings_stamp("nearest", num_real=Q.num_real, seed=Q.seeds[0], device=DEVICE),
    output:
        png=L.pattern("nearest_png"),
        json=L.pattern("nearest_json"),
    log:
        L.log("nearest_{dataset}_{model}"),
    params:
        num_real=f"--num-real {Q.num_real}" if Q.num_real else "",
        seed=Q.seeds[0],
    resources:
        gpu_slots=GPU_JOB,
    shell:
        "{PY} -m benchmarks.quality.nearest --checkpoint {input.ckpt:q} --data {input.data:q} "
        "{params.num_real} --seed {params.seed} --device {DEVICE} --out {output.png:q} "
        "--json {output.json:q} > {log:q} 2>&1"
