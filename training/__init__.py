"""GAN training for every registered generator; one module per concern:

train.py       the command line (python -m training.train)
loop.py        train() and training_step(): set-up, resume, the step loop, snapshots
loss.py        the objective (StyleGAN2Loss: logistic + lazy R1, non-saturating + path length)
hparams.py     effective hyper-parameters: HParams defaults ⊕ model recipe ⊕ the user's
networks.py    G, D, G_ema, optimizers with the lazy-regularisation ratio, frozen parameters
sampler.py     data order, per-step seeding, latent (style-mixing) sampling
checkpoint.py  checkpoint files and the resume state (RNG, position, compatibility)
runlog.py      log.csv, run.json, sample grids, progress bar
ema.py, distributed.py, errors.py
"""
