"""PixelFolder (docs/architectures.md#pixelfolder): progressive pixel synthesis. Each stage
folds its Fourier position features (space-to-depth ×2, twice) down to 1/4 resolution, merges
them with the previous stage's output, and regrows the resolution with
(ModConv → Unfold → ModConv) ×2."""

from __future__ import annotations

import math

import torch
from torch import nn

from .base import Generator, stylegan_channels
from .coords import LFF, coord_grid, kept
from .layers import (
    ConstantInput,
    ConvLayer,
    StyledConv,
    ToRGB,
    Unfold,
    fold,
    unfold,
)
from .registry import register


def stage_resolutions(resolution: int) -> list[int]:
    """Unfolded (end) resolution of each stage: 256 → [16, 64, 256], 1024 → [16, 64, 256, 1024]."""
    log_size = int(math.log2(resolution))
    n = log_size // 2 - 1
    return [2 ** (log_size - 2 * (n - 1 - i)) for i in range(n)]


class PosFold(nn.Module):
    """Position features at R → (1×1 conv to C_f/16 channels) → fold twice → C_f at R/4.

    Stage 0 first mixes the features with the constant input (`conv0`); later stages merge the
    folded features with the previous stage's output (`conv_merge`). Stage 0 still owns a
    `conv_merge` that it never uses: the official model has it, its checkpoints carry it and the
    paper's parameter count includes it (Table 1: 20.84 M).
    """

    def __init__(self, folded_ch: int, unfolded_ch: int, first: bool, const_ch: int = 0):
        super().__init__()
        self.first = first
        if first:
            self.conv0 = ConvLayer(unfolded_ch + const_ch, unfolded_ch, 1)
        self.conv1 = ConvLayer(unfolded_ch, folded_ch // 16, 1)
        self.conv_merge = ConvLayer(2 * folded_ch, folded_ch, 1)

    def forward(self, feats, out):
        """`feats` (and stage 0's constant `out`) have batch 1: they do not depend on z.

        Neither does their folded result (`folded`), which a no-grad eval forward keeps."""
        if self.first:
            return self.folded(feats, out)
        folded = self.folded(feats).expand(out.shape[0], -1, -1, -1)
        return self.conv_merge(torch.cat([folded, out], dim=1))

    def folded(self, feats, const=None):
        """(1, C, R/4, R/4): 1×1 conv of the position features (stage 0: mixed with the
        constant first), folded twice; kept by `coords.kept` (at 256 px, with the LFF's, ~25 %
        of a forward on CPU), on CPU in channels-last layout, the one the convs after it take."""

        def build():
            x = feats if const is None else self.conv0(torch.cat([feats, const], dim=1))
            x = fold(fold(self.conv1(x)))
            return x.contiguous(memory_format=torch.channels_last) if x.device.type == "cpu" else x

        sources = [feats, *self.conv1.parameters()]
        if const is not None:
            sources += [const, *self.conv0.parameters()]
        return kept(self, "_folded", sources, (str(feats.device), feats.dtype), build)


@register("pixelfolder", display_name="PixelFolder", arch_keys=("channel_multiplier",))
class PixelFolderGenerator(Generator):
    stage_label = "RGB at the end of each stage"

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
        self.stage_res = stage_resolutions(resolution)
        r0 = self.stage_res[0]
        kw = dict(blur_kernel=blur_kernel, mode=modconv_mode)
        self.input = ConstantInput(ch[r0], size=r0)
        self.lffs = nn.ModuleList(LFF(ch[r]) for r in self.stage_res)
        self.posfolders, self.convs, self.to_rgbs = (
            nn.ModuleList(),
            nn.ModuleList(),
            nn.ModuleList(),
        )
        in_ch = ch[r0]  # channels entering a stage's first conv (at R/4)
        for i, r in enumerate(self.stage_res):
            self.posfolders.append(PosFold(in_ch, ch[r], first=i == 0, const_ch=ch[r0]))
            for f in range(2):
                out_ch = ch[r // 4 * 2 ** (f + 1)]
                self.convs.append(StyledConv(in_ch, out_ch, 3, z_dim, mode=modconv_mode))
                self.convs.append(StyledConv(out_ch // 4, out_ch, 3, z_dim, mode=modconv_mode))
                self.to_rgbs.append(ToRGB(out_ch, z_dim, **kw))
                in_ch = out_ch
        self.unfolder = Unfold()
        self.num_ws = 4 * len(self.stage_res) + 1

    def position(self, i: int, ws) -> torch.Tensor:
        """(1, C, R, R): stage i's Fourier features of the pixel grid, kept like the folded
        features made from them (`PosFold.folded`); the two are kept apart so that each
        module's work is counted as its own (the MAC counters attribute by forward call)."""
        r, lff = self.stage_res[i], self.lffs[i]

        def build():
            return lff(coord_grid(1, r, r, device=ws.device, dtype=ws.dtype))

        return kept(lff, "_grid", list(lff.parameters()), (r, str(ws.device), ws.dtype), build)

    def synthesis(self, ws, noise_mode="random", return_stages=False):
        b = ws.shape[0]
        # Everything before the first styled conv of a stage that does not depend on z (the
        # constant input, the Fourier features and their 1×1 conv) runs once, at batch 1, and is
        # broadcast: same result per sample, no repeated work.
        out = self.input.input  # the constant itself (batch 1): a kept result's source
        skip, stages = None, []
        for i, r in enumerate(self.stage_res):
            out = self.posfolders[i](self.position(i, ws), out).expand(b, -1, -1, -1)
            size = r // 4
            for f in range(2):
                j = 4 * i + 2 * f
                out = self.convs[j](out, ws[:, j], noise=self.layer_noise(j, size, out, noise_mode))
                out, size = unfold(out), size * 2
                out = self.convs[j + 1](
                    out, ws[:, j + 1], noise=self.layer_noise(j + 1, size, out, noise_mode)
                )
                skip = self.to_rgbs[2 * i + f](out, ws[:, j + 2], skip)
            stages.append(skip)
        return (skip, stages) if return_stages else skip
