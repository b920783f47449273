# Stage 2: cost of every model at full (official) width: params, MACs, memory, latency.


def _counter_args(wc):
    """fvcore traces a real CPU forward; above 256 px (CIPS-1024: 547 M params) stay on meta."""
    if int(wc.res) <= config["profile"].get("fvcore_max_resolution", 256):
        return ""
    return "--counters flop_counter_mode,ptflops_aten"


def _latency_args(wc):
    if int(wc.res) not in LATENCY:
        return "--no-latency"
    sizes = ",".join(map(str, LATENCY[int(wc.res)]))
    warmup = config["profile"].get("latency_warmup", 3)
    repeats = config["profile"].get("latency_repeats", 10)
    return f"--batch-sizes {sizes} --warmup {warmup} --repeats {repeats}"


rule profile:
    output:
        f"{RESULTS}/profile/{{model}}_{{res}}.json",
    log:
        f"{LOGS}/profile_{{model}}_{{res}}.log",
    params:
        latency=_latency_args,
        counters=_counter_args,
    threads: workflow.cores
    resources:
        gpu=lambda wc: GPU_JOB if int(wc.res) in LATENCY else 0,
    shell:
        "{PY} -m benchmarks.efficiency --model {wildcards.model} --resolution {wildcards.res} "
        "--device {DEVICE} {params.latency} {params.counters} --out {output:q} > {log:q} 2>&1"


rule claims:
    input:
        profiles=expand(f"{RESULTS}/profile/{{model}}_{{res}}.json", model=MODELS, res=PROFILE_RES),
        metrics=expand(f"{RESULTS}/metrics/{{dataset}}_{{model}}.json", dataset=DATASETS, model=MODELS),
    output:
        csv=f"{RESULTS}/claims.csv",
        md=f"{RESULTS}/claims.md",
    log:
        f"{LOGS}/claims.log",
    params:
        profiles=f"{RESULTS}/profile",
        metrics=f"{RESULTS}/metrics",
    shell:
        "{PY} -m benchmarks.claims --profiles {params.profiles:q} --metrics {params.metrics:q} "
        "--out-csv {output.csv:q} --out-md {output.md:q} > {log:q} 2>&1"


rule profile_variant:
    """Cost of the variant that was actually trained (narrow widths in the default run), so the
    quality-vs-MACs plot pairs each metric with the MACs of the network that produced it."""
    output:
        f"{RESULTS}/profile_variant/{{dataset}}_{{model}}.json",
    log:
        f"{LOGS}/profile_variant_{{dataset}}_{{model}}.log",
    params:
        res=lambda wc: config["datasets"][wc.dataset]["resolution"],
        overrides=lambda wc: overrides_args(config["models"][wc.model]),
    shell:
        "{PY} -m benchmarks.efficiency --model {wildcards.model} --resolution {params.res} "
        "--no-latency {params.overrides} --out {output:q} > {log:q} 2>&1"
