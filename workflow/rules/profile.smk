# Stage 2: cost of every model at full (official) width: every registered efficiency measure
# (benchmarks/profiling/measures), timed where the profile section's `latency` lists the
# resolution. The stage takes the `profile` section whole; which batch sizes are timed and which
# MAC counters run are decided inside benchmarks.profiling, from that section.

from common.sections import to_argv

P = CFG.profile
# every field of scope "job" (a job profiles one --resolution; `resolutions` is the workflow's)
SECTION = " ".join(shlex.quote(a) for a in to_argv(P))


def _timed(wc) -> bool:
    """A job that times the model (it needs the whole machine) rather than only counting."""
    return bool(P.batch_sizes_at(int(wc.res)))


rule profile:
    input:
        settings=settings_stamp("profile", section=SECTION, device=DEVICE),
    output:
        L.pattern("profile"),
    log:
        L.log("profile_{model}_{res}"),
    params:
        section=SECTION,
    threads: lambda wc: ALL_CORES if _timed(wc) else 1  # counting needs one core
    resources:
        gpu_slots=lambda wc: GPU_JOB if _timed(wc) else 0,
    shell:
        "{PY} -m benchmarks.profiling --model {wildcards.model} --resolution {wildcards.res} "
        "--device {DEVICE} {params.section} --out {output:q} > {log:q} 2>&1"


rule profile_variant:
    """Cost of the variant that was actually trained (narrow widths in the default run), so the
    quality-vs-MACs plot pairs each metric with the MACs of the network that produced it. Counted
    only (--no-latency): timing belongs to the full-width profiles."""
    input:
        settings=settings_stamp("profile_variant", section=SECTION,
            res=lambda wc: CFG.datasets[wc.dataset].resolution,
            build=lambda wc: overrides("--build", CFG.models[wc.model].build)),
    output:
        L.pattern("variant"),
    log:
        L.log("profile_variant_{dataset}_{model}"),
    params:
        res=lambda wc: CFG.datasets[wc.dataset].resolution,
        build=lambda wc: overrides("--build", CFG.models[wc.model].build),
        section=SECTION,
    shell:
        "{PY} -m benchmarks.profiling --model {wildcards.model} --resolution {params.res} "
        "--no-latency {params.section} {params.build} --out {output:q} > {log:q} 2>&1"
