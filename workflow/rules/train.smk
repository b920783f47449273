# Stage 3: one training loop for every model (torchrun/DDP when train.gpus > 1).

T = CFG.train


def _launcher():
    if T.gpus > 1:
        return f"{PY} -m torch.distributed.run --standalone --nproc_per_node {T.gpus} -m training.train"
    return f"{PY} -m training.train"


def _train_args(wc):
    m = CFG.models[wc.model]
    return " ".join([
        cli(resolution=CFG.datasets[wc.dataset].resolution, kimg=T.kimg, batch=T.batch,
            snap_kimg=T.snap_kimg, seed=T.seed, workers=T.workers, log_every=T.log_every,
            grid=T.grid, keep=T.keep, device=DEVICE, micro_batch=T.micro_batch,
            precision=T.precision, channels_last=T.channels_last, compile=T.compile, tf32=T.tf32,
            cudnn_benchmark=T.cudnn_benchmark),
        overrides("--build", m.build),
        overrides("--hparam", {**T.hparams, **m.hparams}),
    ])  # fmt: skip


rule train:
    input:
        data=L.pattern("dataset"),
    output:
        ckpt=L.pattern("final_ckpt"),
        log_csv=L.pattern("train_log"),
    log:
        L.log("train_{dataset}_{model}"),
    params:
        launcher=_launcher(),
        out=lambda wc: L.path("train_dir", dataset=wc.dataset, model=wc.model),
        args=_train_args,
        threads=cli(threads=T.threads),
    threads: T.threads or 1
    resources:
        gpu=GPU_JOB * T.gpus,
    shell:
        "{params.launcher} --model {wildcards.model} --data {input.data:q} --out {params.out:q} "
        "{params.args} {params.threads} --resume auto > {log:q} 2>&1"
