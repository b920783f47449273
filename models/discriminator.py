"""StyleGAN2's residual discriminator (docs/architectures.md#discriminator), shared by all three
generators."""

from __future__ import annotations

import math

import torch
from torch import nn

from .base import check_resolution, stylegan_channels
from .layers import ConvLayer, EqualLinear
from .registry import register


class ResBlock(nn.Module):
    def __init__(self, in_ch, out_ch, blur_kernel=(1, 3, 3, 1)):
        super().__init__()
        self.conv1 = ConvLayer(in_ch, in_ch, 3)
        self.conv2 = ConvLayer(in_ch, out_ch, 3, downsample=True, blur_kernel=blur_kernel)
        self.skip = ConvLayer(
            in_ch, out_ch, 1, downsample=True, activate=False, bias=False, blur_kernel=blur_kernel
        )

    def forward(self, x):
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2)


@register("stylegan2", kind="discriminator")
class Discriminator(nn.Module):
    def __init__(
        self,
        resolution=256,
        channel_multiplier=2,
        width=1.0,
        blur_kernel=(1, 3, 3, 1),
        in_channels=3,
    ):
        super().__init__()
        check_resolution("discriminator", resolution)
        ch = stylegan_channels(channel_multiplier, width)
        log_size = int(math.log2(resolution))
        convs = [ConvLayer(in_channels, ch[resolution], 1)]
        in_ch = ch[resolution]
        for i in range(log_size, 2, -1):
            convs.append(ResBlock(in_ch, ch[2 ** (i - 1)], blur_kernel))
            in_ch = ch[2 ** (i - 1)]
        self.convs = nn.Sequential(*convs)
        self.stddev_group, self.stddev_feat = 4, 1
        self.final_conv = ConvLayer(in_ch + 1, ch[4], 3)
        self.final_linear = nn.Sequential(
            EqualLinear(ch[4] * 4 * 4, ch[4], activation="fused_lrelu"), EqualLinear(ch[4], 1)
        )
        self.resolution = resolution

    def minibatch_stddev(self, out):
        """Append the std over a group of samples as one extra channel (mode-collapse signal)."""
        b, c, h, w = out.shape
        # the official code needs b % min(b, 4) == 0; otherwise take the largest group that fits
        group = max(g for g in range(1, min(b, self.stddev_group) + 1) if b % g == 0)
        f = self.stddev_feat
        std = out.view(group, -1, f, c // f, h, w)
        std = torch.sqrt(std.var(0, unbiased=False) + 1e-8).mean([2, 3, 4], keepdim=True).squeeze(2)
        return torch.cat([out, std.repeat(group, 1, h, w)], dim=1)

    def forward(self, img):
        out = self.minibatch_stddev(self.convs(img))
        out = self.final_conv(out)
        return self.final_linear(out.view(out.shape[0], -1))
