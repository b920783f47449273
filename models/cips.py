"""CIPSskip (docs/architectures.md#cips): every pixel generated independently by a stack of
modulated 1×1 convs ("ModFC") over Fourier features + a learned coordinate embedding, with summed
skip RGBs."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .base import Generator, scale_width
from .coords import LFF, coord_grid, kept
from .layers import ConstantInput, StyledConv, ToRGB
from .registry import register


@register("cips", display_name="CIPS", arch_keys=("hidden_size", "channel_multiplier"))
class CIPSGenerator(Generator):
    """One w drives every layer (no per-layer latents, so no style mixing).

    Differences from the official forward, on purpose: truncation interpolates w towards the
    mean w (the official code interpolates z before the mapping network); coordinates are built
    inside. In training mode the embedding is used directly on the full grid; in eval mode it
    is bilinearly sampled at the coordinates, exactly as the official code does.
    """

    supports_mixing = False
    stage_label = "running sum of the full-resolution ToRGB outputs"

    def __init__(
        self,
        resolution=256,
        z_dim=512,
        n_mlp=8,
        hidden_size=512,
        channel_multiplier=2,
        width=1.0,
        lr_mlp=0.01,
        modconv_mode="auto",
    ):
        super().__init__(resolution, z_dim, n_mlp, lr_mlp)
        hidden = scale_width(hidden_size, width)
        cm = channel_multiplier
        widths = [512, 512, 512, 512, 256 * cm, 128 * cm, 64 * cm, 32 * cm, 16 * cm]
        widths = [scale_width(c, width) for c in widths]
        self.lff = LFF(hidden)
        self.emb = ConstantInput(hidden, size=resolution)
        self.conv1 = StyledConv(2 * hidden, widths[0], 1, z_dim, mode=modconv_mode)
        self.linears, self.to_rgbs = nn.ModuleList(), nn.ModuleList()
        in_ch = widths[0]
        for i in range(int(math.log2(resolution)) - 1):
            out_ch = widths[i]
            self.linears.append(StyledConv(in_ch, out_ch, 1, z_dim, mode=modconv_mode))
            self.linears.append(StyledConv(out_ch, out_ch, 1, z_dim, mode=modconv_mode))
            self.to_rgbs.append(ToRGB(out_ch, z_dim, upsample=False, mode=modconv_mode))
            in_ch = out_ch
        self.num_ws = 1

    def embedding(self, coords: torch.Tensor) -> torch.Tensor:
        b, _, h, w = coords.shape
        if self.training and h == w == self.resolution:
            return self.emb(b)
        grid = coords.permute(0, 2, 3, 1).contiguous()
        emb = self.emb.input.expand(b, -1, -1, -1)
        return F.grid_sample(emb, grid, mode="bilinear", padding_mode="border", align_corners=False)

    def input_features(self, r: int, device, dtype) -> torch.Tensor:
        """(1, 2·hidden, r, r): Fourier features and coordinate embedding of the pixel grid.

        They do not depend on z, so a no-grad eval forward computes them once and keeps them
        (`coords.kept`; at 256 px they were ~12 % of a CIPS forward on CPU: the LFF conv, sin,
        grid_sample and the concat), on CPU in channels-last layout, which the 1×1 ModFCs then
        keep: their per-pixel matmuls run ~25 % faster as (pixels, in) @ (in, out) than as
        (out, in) @ (in, pixels) (ModulatedConv2d._matmul_1x1). Training and autograd always
        recompute them. The kept tensor is input-sized (256 MiB at 256 px) and lives as long as
        the model; the forward needs that much at its start anyway."""
        coords = coord_grid(1, r, r, device=device, dtype=dtype)
        if self.training or torch.is_grad_enabled():
            return torch.cat([self.lff(coords), self.embedding(coords)], dim=1)

        def build():
            x = torch.cat([self.lff(coords), self.embedding(coords)], dim=1)
            if x.device.type == "cpu":  # channels-last: every ModFC after it keeps the layout
                x = x.contiguous(memory_format=torch.channels_last)
            return x

        sources = (self.lff.ffm.conv.weight, self.lff.ffm.conv.bias, self.emb.input)
        return kept(self, "_input_cache", sources, (r, str(device), dtype), build)

    def workspaces(self, x: torch.Tensor) -> tuple:
        """Two buffers the layers write their outputs into in turn under no_grad (each layer
        reads the other one): fresh full-size outputs cost page faults on every layer. None
        while autograd records or torch.compile traces (inductor plans its own buffers)."""
        if torch.is_grad_enabled() or torch.compiler.is_compiling():
            return None, None
        widest = max(m.conv.out_ch for m in [self.conv1, *self.linears])
        b, _, h, w = x.shape
        return x.new_empty(b * widest * h * w), x.new_empty(b * widest * h * w)

    def synthesis(self, ws, noise_mode="random", return_stages=False):
        w = ws[:, 0]
        r = self.resolution
        # the input features do not depend on z: built at batch 1 (kept in eval) and broadcast
        x = self.input_features(r, ws.device, ws.dtype).expand(ws.shape[0], -1, -1, -1)
        bufs = self.workspaces(x)
        x = self.conv1(x, w, noise=self.layer_noise(0, r, x, noise_mode), out=bufs[0])
        rgb, stages = None, []
        for i, to_rgb in enumerate(self.to_rgbs):
            for j in (2 * i, 2 * i + 1):
                noise = self.layer_noise(1 + j, r, x, noise_mode)
                x = self.linears[j](x, w, noise=noise, out=bufs[(j + 1) % 2])
            rgb = to_rgb(x, w, rgb)
            stages.append(rgb)
        return (rgb, stages) if return_stages else rgb
