"""GAN training for every registered generator; one module per concern:

train.py       the command line (python -m training.train)
loop.py        train(): set-up, resume, the step loop, snapshots
step.py        training_step(): the passes over micro-batches, gradient accumulation + all-reduce
loss.py        the objective (StyleGAN2Loss: logistic + lazy R1, non-saturating + path length)
fastpath.py    optional speed paths: bf16/fp16 autocast (+ GradScaler), channels-last, compile, TF32
speed_variant.py  which of them a run takes: the section's, or the profiler grid's fastest faithful
hparams.py     effective hyper-parameters: HParams defaults ⊕ model recipe ⊕ the user's
networks.py    G, D, G_ema, optimizers with the lazy-regularisation ratio, frozen parameters
sampler.py     data order, per-micro-batch seeding (MicroDraws), latent (style-mixing) sampling
checkpoint.py  checkpoint files and the resume state (per-rank RNG, position, compatibility)
runlog.py      log.csv, run.json, sample grids, progress bar
ema.py, distributed.py, errors.py
"""

import common.cli  # noqa: F401  (first: Ctrl-C while the rest imports is one line, not a traceback)
