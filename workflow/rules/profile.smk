# Stage 2: cost of every model at full (official) width: params, MACs, memory, latency.

P = CFG.profile
LATENCY = {e.resolution: e.batch_sizes for e in P.latency}


def _timed(wc) -> bool:
    """A job that times the model (it needs the whole machine) rather than only counting."""
    return int(wc.res) in LATENCY


def _profile_args(wc):
    res = int(wc.res)
    counters = None if res <= P.fvcore_max_resolution else "flop_counter_mode,ptflops_aten"
    if res not in LATENCY:
        return cli(no_latency=True, counters=counters)
    return cli(batch_sizes=LATENCY[res], warmup=P.latency_warmup, repeats=P.latency_repeats,
               min_time=P.min_time, counters=counters)  # fmt: skip


rule profile:
    input:
        preflight=ancient(L.pattern("preflight")),  # no job before the check; see preflight.smk
    output:
        L.pattern("profile"),
    log:
        L.log("profile_{model}_{res}"),
    params:
        args=_profile_args,
    threads: lambda wc: workflow.cores if _timed(wc) else 1  # counting needs one core
    resources:
        gpu=lambda wc: GPU_JOB if _timed(wc) else 0,
    shell:
        "{PY} -m benchmarks.profiling --model {wildcards.model} --resolution {wildcards.res} "
        "--device {DEVICE} {params.args} --out {output:q} > {log:q} 2>&1"


rule profile_variant:
    """Cost of the variant that was actually trained (narrow widths in the default run), so the
    quality-vs-MACs plot pairs each metric with the MACs of the network that produced it. The
    primary counter only: the cross-check belongs to the full-width profiles (in a narrow
    network the bias adds that ptflops also counts are a larger share than its 0.5 % bound)."""
    input:
        preflight=ancient(L.pattern("preflight")),
    output:
        L.pattern("variant"),
    log:
        L.log("profile_variant_{dataset}_{model}"),
    params:
        res=lambda wc: CFG.datasets[wc.dataset].resolution,
        build=lambda wc: overrides("--build", CFG.models[wc.model].build),
    shell:
        "{PY} -m benchmarks.profiling --model {wildcards.model} --resolution {params.res} "
        "--no-latency --counters flop_counter_mode {params.build} --out {output:q} > {log:q} 2>&1"
