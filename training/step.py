"""One training step: a D pass (+ lazy R1), a G pass (+ lazy path length), the EMA update.

A step's maths is fixed by the global batch and the micro-batch (images per forward): each pass
takes the mean of its objective's gradients over all micro-batches of the global batch, each
micro-batch drawing its randomness by its index in the global batch (training.sampler.
MicroDraws). Processes only split the micro-batches between them: each accumulates the gradient
sums of its own, one all-reduce adds them up (training.distributed.reduce_grads). So one process
looping over B/m micro-batches computes what B/m processes compute, up to the order of the final
additions (none for two micro-batches: a + b == b + a).
"""

from __future__ import annotations

import torch

from . import distributed as dist_utils
from .ema import ema_decay, update_ema
from .fastpath import FastPath
from .loss import StyleGAN2Loss
from .networks import Networks
from .sampler import MicroDraws

_NET = {"D": "D", "R1": "D", "G": "G", "PL": "G"}  # the network each pass optimises
_MAIN = ("D", "G")  # the passes that run under reduced precision / compiled (training.fastpath)


def training_step(
    nets: Networks, real, *, step: int, gen, hp: dict, pl_mean, d, fast: FastPath | None = None
) -> tuple[torch.Tensor, bool, torch.Tensor]:
    """One D step (+ lazy R1 at its interval), one G step (+ lazy path length) and the EMA update.

    `real` is this rank's share of the global batch (its micro-batches, back to back); `gen` a
    MicroDraws, or one torch.Generator for a single micro-batch per rank with the global RNG as
    the caller seeded it (training.sampler.seed_step). Returns the losses [D, G, R1, path]
    averaged over the global batch (so every rank takes the same decision on them), whether R1
    ran, and the new path-length mean.
    """
    draws = gen if isinstance(gen, MicroDraws) else MicroDraws.single(gen, d.world_size)
    fast = fast or FastPath()
    loss = StyleGAN2Loss(nets.G, nets.D, hp, synthesis=fast.synthesis, critic=fast.critic)
    if fast.options.channels_last:
        real = real.contiguous(memory_format=torch.channels_last)
    dev, size = real.device, real.shape[0] // len(draws)
    reals = [loss.augment(r, g) for r, g in zip(real.split(size), draws.gens, strict=True)]
    r1 = penalty = torch.zeros((), device=dev)

    def run(pass_name, params, objective_of):
        opt = nets.opt_D if _NET[pass_name] == "D" else nets.opt_G
        return accumulate(opt, params, pass_name, objective_of, draws, fast, d)

    for p in nets.d_params:  # D passes
        p.requires_grad_(True)
    loss_D = run("D", nets.d_params, lambda i: loss.d_main(reals[i], draws.gens[i]))
    r1_ran = loss.d_reg_due(step)
    if r1_ran:
        r1 = run("R1", nets.d_params, lambda i: loss.d_reg(reals[i]))

    for p in nets.d_params:  # G passes: D is only a critic here
        p.requires_grad_(False)
    loss_G = run("G", nets.g_params, lambda i: loss.g_main(size, draws.gens[i], dev))
    if loss.g_reg_due(step):
        penalty, pl_mean = path_length_pass(nets, loss, draws, size, pl_mean, d)

    update_ema(nets.G_ema, nets.G, ema_decay(hp.ema_half_life_steps, step, hp.ema_rampup))
    stats = dist_utils.all_sum(torch.stack([loss_D, loss_G, r1, penalty]), d) / draws.total
    return stats, r1_ran, pl_mean


def accumulate(
    opt, params: list, pass_name: str, objective_of, draws: MicroDraws, fast: FastPath, d
) -> torch.Tensor:
    """One optimizer step on the mean over the global batch of `objective_of(i)`, i running over
    this rank's micro-batches (each backward adds into .grad), → the sum of this rank's values.

    `objective_of(i)` returns the objective, or (value to report, objective)."""
    net, main = _NET[pass_name], pass_name in _MAIN
    opt.zero_grad(set_to_none=True)
    total = None
    for i in range(len(draws)):
        draws.enter(i, pass_name)
        with fast.autocast(main):
            out = objective_of(i)
        value, objective = out if isinstance(out, tuple) else (out, out)
        fast.backward(net, objective, main)
        value = value.detach().float()
        total = value if total is None else total + value
    dist_utils.reduce_grads(params, d, draws.total)
    fast.step(net, opt, main)
    return total


def path_length_pass(
    nets: Networks, loss: StyleGAN2Loss, draws: MicroDraws, size: int, pl_mean, d
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lazy path-length regularisation → (sum of this rank's penalties, new target mean). The
    target moves with the mean length over the whole global batch (every micro-batch of every
    rank) before any penalty is taken, as it would on one process with one micro-batch."""
    nets.opt_G.zero_grad(set_to_none=True)
    parts = []
    for i in range(len(draws)):
        draws.enter(i, "PL")
        parts.append(loss.g_reg_lengths(size, draws.gens[i], pl_mean.device))
    local = torch.stack([lengths.mean().detach() for lengths, _ in parts]).sum()
    pl_mean = loss.next_pl_mean(pl_mean, dist_utils.all_sum(local, d) / draws.total)
    total = None
    for lengths, img in parts:
        penalty, objective = loss.g_reg(lengths, img, pl_mean)
        objective.backward()
        total = penalty.detach() if total is None else total + penalty.detach()
    dist_utils.reduce_grads(nets.g_params, d, draws.total)
    nets.opt_G.step()
    return total, pl_mean
