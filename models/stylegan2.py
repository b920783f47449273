"""StyleGAN2 generator (config-F widths with channel_multiplier 2), as rosinality's `Generator`
and the PixelFolder repo's `GeneratorOriginal` (docs/architectures.md#stylegan2)."""

from __future__ import annotations

import math

import torch
from torch import nn

from .base import Generator, stylegan_channels
from .layers import ConstantInput, StyledConv, ToRGB
from .registry import register


@register(
    "stylegan2",
    recipe={"mixing": 0.9, "pl_weight": 2.0},  # rosinality defaults
    display_name="StyleGAN2",
    arch_keys=("channel_multiplier",),
)
class StyleGAN2Generator(Generator):
    def __init__(
        self,
        resolution=256,
        z_dim=512,
        n_mlp=8,
        channel_multiplier=2,
        width=1.0,
        lr_mlp=0.01,
        blur_kernel=(1, 3, 3, 1),
        modconv_mode="auto",
    ):
        super().__init__(resolution, z_dim, n_mlp, lr_mlp)
        ch = stylegan_channels(channel_multiplier, width)
        log_size = int(math.log2(resolution))
        kw = dict(blur_kernel=blur_kernel, mode=modconv_mode)
        self.input = ConstantInput(ch[4])
        self.conv1 = StyledConv(ch[4], ch[4], 3, z_dim, **kw)
        self.to_rgb1 = ToRGB(ch[4], z_dim, upsample=False, **kw)
        self.num_layers = (log_size - 2) * 2 + 1
        self.noises = nn.Module()
        for i in range(self.num_layers):
            res = 2 ** ((i + 5) // 2)
            self.noises.register_buffer(f"noise_{i}", torch.randn(1, 1, res, res))
        self.convs, self.to_rgbs = nn.ModuleList(), nn.ModuleList()
        in_ch = ch[4]
        for i in range(3, log_size + 1):
            out_ch = ch[2**i]
            self.convs.append(StyledConv(in_ch, out_ch, 3, z_dim, upsample=True, **kw))
            self.convs.append(StyledConv(out_ch, out_ch, 3, z_dim, **kw))
            self.to_rgbs.append(ToRGB(out_ch, z_dim, **kw))
            in_ch = out_ch
        self.num_ws = log_size * 2 - 2

    def layer_noise(self, idx, size, ref, noise_mode):
        """const mode uses the official fixed noise buffers `noises.noise_i`."""
        if noise_mode == "const":
            return getattr(self.noises, f"noise_{idx}")
        return super().layer_noise(idx, size, ref, noise_mode)

    def synthesis(self, ws, noise_mode="random", return_stages=False):
        out = self.input(ws.shape[0])
        res = 4
        out = self.conv1(out, ws[:, 0], noise=self.layer_noise(0, res, out, noise_mode))
        skip = self.to_rgb1(out, ws[:, 1])
        stages = [skip]
        for k, to_rgb in enumerate(self.to_rgbs):
            i = 1 + 2 * k
            up, conv = self.convs[2 * k], self.convs[2 * k + 1]
            res *= 2
            out = up(out, ws[:, i], noise=self.layer_noise(i, res, out, noise_mode))
            out = conv(out, ws[:, i + 1], noise=self.layer_noise(i + 1, res, out, noise_mode))
            skip = to_rgb(out, ws[:, i + 2], skip)
            stages.append(skip)
        return (skip, stages) if return_stages else skip
