"""The training objective: the StyleGAN2 losses as small pure functions, and `StyleGAN2Loss`,
which puts them together into the four passes of a step (the recipe every model trains with).

A loss object only computes the scalar each pass minimises on one micro-batch; the step
(training.step) owns zero_grad, backward, accumulation over micro-batches, the gradient
all-reduce and the optimizer step, so a new objective never touches that plumbing.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from common import settings

from .sampler import sample_ws


def d_logistic_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating logistic D loss: softplus(D(fake)) + softplus(-D(real))."""
    return F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()


def g_nonsaturating_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """G maximises log D(G(z)) rather than minimising log(1 - D), which saturates early on."""
    return F.softplus(-fake_logits).mean()


def r1_penalty(real_logits: torch.Tensor, real_img: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ||∇_x D(x)||² at the reals (create_graph so it can be minimised)."""
    (grad,) = torch.autograd.grad(real_logits.sum(), real_img, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


def path_lengths(img: torch.Tensor, ws: torch.Tensor) -> torch.Tensor:
    """Per-sample ||J_wᵀ y|| for a random image-space direction y scaled by 1/sqrt(H·W),
    averaged over the per-layer latents as in the StyleGAN2 recipe."""
    y = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
    (grad,) = torch.autograd.grad((img * y).sum(), ws, create_graph=True)
    return grad.pow(2).sum(2).mean(1).sqrt()


class StyleGAN2Loss:
    """Logistic D loss + lazy R1, non-saturating G loss + lazy path length, style mixing.

    Lazy regularisation: R1 runs every `d_reg_interval` D steps and path length every
    `g_reg_interval` G steps, each scaled by its interval so the average strength is unchanged
    (the optimizers' lr/beta ratio for this lives in training.networks.make_optimizer).
    Every draw comes from the micro-batch's generator `gen` or the global RNG its pass was
    seeded with (training.sampler.MicroDraws), in a fixed order, so a micro-batch's objective is
    a pure function of (weights, reals, seed, micro-batch, step).

    `synthesis` and `critic` stand in for G.synthesis and D in the main passes (torch.compile'd
    versions, training.fastpath); the regularisers take gradients of gradients, so they always
    call the eager modules.
    """

    def __init__(self, G, D, hp: settings.HParams, *, synthesis=None, critic=None):
        self.G, self.D, self.hp = G, D, hp
        self.synthesis = G.synthesis if synthesis is None else synthesis
        self.critic = D if critic is None else critic
        self.mixing = hp.mixing

    def augment(self, real: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Random horizontal flips of the reals (x-flip augmentation), if configured."""
        if not self.hp.xflip:
            return real
        flip = (torch.rand(real.shape[0], generator=gen) < 0.5).to(real.device).view(-1, 1, 1, 1)
        return torch.where(flip, real.flip(3), real)

    def ws(self, n: int, gen: torch.Generator, device) -> torch.Tensor:
        return sample_ws(self.G, n, gen, self.mixing, device)

    # ---- D passes
    def d_main(self, real: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Logistic loss on the reals vs fakes of a G that is not being trained in this pass."""
        with torch.no_grad():
            fake = self.synthesis(self.ws(real.shape[0], gen, real.device))
        return d_logistic_loss(self.critic(real), self.critic(fake))

    def d_reg_due(self, step: int) -> bool:
        return step % self.hp.d_reg_interval == 0

    def d_reg(self, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(R1 penalty, the objective to backward: γ/2 · R1 · interval)."""
        real = real.detach().requires_grad_(True)
        real_logits = self.D(real)
        r1 = r1_penalty(real_logits, real)
        # the 0·logit term puts every D parameter in the graph (zero, not missing, grads)
        objective = self.hp.r1_gamma / 2 * r1 * self.hp.d_reg_interval + 0 * real_logits[0, 0]
        return r1, objective

    # ---- G passes
    def g_main(self, n: int, gen: torch.Generator, device) -> torch.Tensor:
        return g_nonsaturating_loss(self.critic(self.synthesis(self.ws(n, gen, device))))

    def g_reg_due(self, step: int) -> bool:
        return self.hp.pl_weight > 0 and step % self.hp.g_reg_interval == 0

    def g_reg_lengths(self, n: int, gen: torch.Generator, device):
        """(per-sample path lengths, the images) of a batch of n // pl_batch_shrink; the loop
        averages the lengths over the global batch before any penalty is taken."""
        ws = self.ws(max(1, n // self.hp.pl_batch_shrink), gen, device)
        img = self.G.synthesis(ws)
        return path_lengths(img, ws), img

    def next_pl_mean(self, pl_mean: torch.Tensor, batch_mean: torch.Tensor) -> torch.Tensor:
        """The target path length moves towards the global batch's mean length."""
        return pl_mean + self.hp.pl_decay * (batch_mean - pl_mean)

    def g_reg(self, lengths: torch.Tensor, img: torch.Tensor, pl_mean: torch.Tensor):
        """(penalty, objective to backward) of lengths against the (updated) target mean."""
        hp = self.hp
        penalty = (lengths - pl_mean).pow(2).mean()
        objective = hp.pl_weight * hp.g_reg_interval * penalty + 0 * img[0, 0, 0, 0]
        return penalty, objective
