# Stage 3: one training loop for every model (torchrun/DDP when train.gpus > 1).

T = CFG.train


def _launcher():
    if T.gpus > 1:
        return f"{PY} -m torch.distributed.run --standalone --nproc_per_node {T.gpus} -m training.train"
    return f"{PY} -m training.train"


def _train_args(wc):
    """The `train:` section whole (common.sections; a new knob needs nothing here), the
    model's build overrides and the merged hyper-parameters."""
    m = CFG.models[wc.model]
    return " ".join([
        section_args(T),
        cli(resolution=CFG.datasets[wc.dataset].resolution, device=DEVICE),
        overrides("--build", m.build),
        overrides("--hparam", {**T.hparams, **m.hparams}),
    ])


def _speed_grid(wc):
    """`speed_variant: auto` trains with what the model's timed profile at profile.variants_at
    judged fast and faithful (training.speed_variant), so it waits for that profile job;
    `fixed` waits for none."""
    if T.speed_variant != "auto":
        return []
    return str(L.path("profile", model=wc.model, res=CFG.profile.variants_at.resolution))


rule train:
    input:
        data=L.pattern("dataset"),
        grid=_speed_grid,
        settings=settings_stamp("train", gpus=T.gpus, args=_train_args),
    output:
        # final.pt only: log.csv is appended across resumes (and trimmed to the resumed step by
        # training itself), so it is not declared, and `--rerun-incomplete` cannot delete it
        ckpt=L.pattern("final_ckpt"),
    log:
        L.log("train_{dataset}_{model}"),
    params:
        launcher=_launcher(),
        out=lambda wc: L.path("train_dir", dataset=wc.dataset, model=wc.model),
        args=_train_args,
        grid=lambda wc, input: f"--speed-grid {shlex.quote(input.grid)}" if input.grid else "",
    threads: T.threads or 1
    # training is the run's longest path: every training job starts before the jobs that can
    # fill the cores around it (counting, quality on one thread); without it the scheduler ran
    # two models' quality before the last two trainings and the run took longer
    priority: 10
    resources:
        gpu_slots=GPU_JOB * T.gpus,
    shell:
        "{params.launcher} --model {wildcards.model} --data {input.data:q} --out {params.out:q} "
        "{params.args} {params.grid} --resume auto > {log:q} 2>&1"
