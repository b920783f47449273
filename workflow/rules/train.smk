# Stage 3: one training loop for every model (torchrun/DDP when train.gpus > 1).


def _launcher(wc):
    gpus = config["train"].get("gpus", 1)
    if gpus > 1:
        return f"{PY} -m torch.distributed.run --standalone --nproc_per_node {gpus} -m training.train"
    return f"{PY} -m training.train"


rule train:
    input:
        data=f"{RESULTS}/data/{{dataset}}.zip",
    output:
        ckpt=f"{RESULTS}/train/{{dataset}}/{{model}}/checkpoints/final.pt",
        log_csv=f"{RESULTS}/train/{{dataset}}/{{model}}/log.csv",
    log:
        f"{LOGS}/train_{{dataset}}_{{model}}.log",
    params:
        launcher=_launcher,
        out=lambda wc: train_dir(wc.dataset, wc.model),
        res=lambda wc: config["datasets"][wc.dataset]["resolution"],
        overrides=lambda wc: overrides_args(
            {**config["models"][wc.model], **config["train"].get("overrides", {})}
        ),
        kimg=config["train"]["kimg"],
        batch=config["train"]["batch"],
        snap=config["train"].get("snap_kimg", config["train"]["kimg"]),
        seed=config["train"].get("seed", 0),
    threads: config["train"].get("threads", 1)
    resources:
        gpu=GPU_JOB * config["train"].get("gpus", 1),
    shell:
        "{params.launcher} --model {wildcards.model} --data {input.data:q} --out {params.out:q} "
        "--resolution {params.res} --kimg {params.kimg} --batch {params.batch} "
        "--snap-kimg {params.snap} --seed {params.seed} --device {DEVICE} --resume auto "
        "--threads {threads} {params.overrides} > {log:q} 2>&1"
