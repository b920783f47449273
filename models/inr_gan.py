"""INR-GAN, the bilinear variant (`configs/inr-gan-bil.yml` of universome/inr-gan;
docs/architectures.md#inr-gan).

A StyleGAN2-ADA generator turned into a multi-scale pixel-wise MLP: every synthesis layer is a
1×1 layer with factorized multiplicative modulation (`FMMLayer`), the first block starts from
coordinate features instead of a constant, and the resolution grows by bilinear upsampling.

Blocks are named by the StyleGAN2 resolution they replace (b4 … b256), but blocks up to the
input resolution (32) all work at 32×32: b4 builds the 32×32 coordinate features, b8…b32 refine
them, and from b64 on each block upsamples ×2 and fuses fresh coordinate features of its own
resolution into its first layer. Block 128 and 256 have one extra layer. Every block has a ToRGB;
the RGB skip is upsampled bilinearly and summed. No noise (the released config disables it).

Latents: layer k reads ws[:, k]; a block's ToRGB reads the latent of the next block's first
layer (the last ToRGB has its own), as in the official code — 16 latents at 256.
"""

from __future__ import annotations

from torch import nn

from .base import Generator, check_resolution, resolution_range, scale_width
from .inr_layers import (
    CoordFuser,
    CoordInput,
    FMMLayer,
    NVMappingNetwork,
    ToRGBLayer,
    upsample_bilinear,
)
from .layers import make_kernel
from .registry import register

INPUT_RES = 32
CHANNEL_BASE, CHANNEL_MAX = 32768, 512  # fmaps 1
LOW_RES = dict(max_log_feats=64, const_feats=128, use_diagonal=True)
MEDIUM_RES = dict(max_log_feats=32, random_feats=32, const_feats=64)
COORD_CONFIGS = {32: LOW_RES, 64: LOW_RES, 128: MEDIUM_RES, 256: MEDIUM_RES}
EXTRA_CONVS = {128: 1, 256: 1}


def block_channels(res: int, width: float = 1.0) -> int:
    return scale_width(min(CHANNEL_BASE // res, CHANNEL_MAX), width)


def coord_fuser(res: int, width: float) -> CoordFuser:
    cfg = dict(COORD_CONFIGS[res])
    cfg["const_feats"] = scale_width(cfg["const_feats"], width)
    return CoordFuser(res, use_cosine=True, **cfg)


class SynthesisBlock(nn.Module):
    """One official block: [coordinate input | upsample + coordinate fuser → conv0] → conv1 →
    extra convs → ToRGB. Works on pixel lists (B, C, H·W). `resample_filter` is unused (no FIR
    anywhere in this model) but official checkpoints carry it."""

    def __init__(self, res, in_ch, out_ch, w_dim, width=1.0, rank=10, mode="auto"):
        super().__init__()
        self.size = max(res, INPUT_RES)  # the resolution this block works at
        self.up = res > INPUT_RES
        self.first = in_ch == 0
        self.register_buffer("resample_filter", make_kernel((1, 3, 3, 1)))
        if self.first:
            self.input = CoordInput(coord_fuser(self.size, width))
            conv1_in = self.input.total_dim
        else:
            self.coord_fuser = coord_fuser(self.size, width) if self.up else None
            extra = self.coord_fuser.total_dim if self.up else 0
            self.conv0 = FMMLayer(in_ch + extra, out_ch, w_dim, rank)
            conv1_in = out_ch
        self.conv1 = FMMLayer(conv1_in, out_ch, w_dim, rank, instance_norm=not self.first)
        n_extra = EXTRA_CONVS.get(self.size, 0)
        self.extra_convs = (
            nn.ModuleList(
                FMMLayer(out_ch, out_ch, w_dim, rank, instance_norm=True) for _ in range(n_extra)
            )
            if n_extra
            else None
        )
        self.torgb = ToRGBLayer(out_ch, w_dim, mode=mode)
        self.num_conv = (1 if self.first else 2) + n_extra

    def convs(self) -> list[FMMLayer]:
        return ([] if self.first else [self.conv0]) + [self.conv1, *(self.extra_convs or ())]

    def forward(self, x, img, ws):
        """`ws`: the block's num_conv + 1 latents (B, w_dim), the last one for the ToRGB."""
        if self.first:
            feats = self.input(ws[0].dtype)
        else:
            if self.up:
                x = upsample_bilinear(x, self.size // 2)
            feats = self.coord_fuser.features(x.dtype) if self.coord_fuser is not None else None
        for i, conv in enumerate(self.convs()):
            x = conv(x, ws[i], extra=feats if i == 0 else None)
        if img is not None and self.up:
            img = upsample_bilinear(img, self.size // 2)
        y = self.torgb(x, ws[self.num_conv])
        return x, (y if img is None else y.add_(img))


class SynthesisNetwork(nn.Module):
    def __init__(self, resolution, w_dim, width=1.0, rank=10, mode="auto"):
        super().__init__()
        self.resolution = resolution
        self.block_resolutions = [2**i for i in range(2, resolution.bit_length())]
        self.num_ws = 0
        for res in self.block_resolutions:
            in_ch = block_channels(res // 2, width) if res > 4 else 0
            block = SynthesisBlock(res, in_ch, block_channels(res, width), w_dim, width, rank, mode)
            setattr(self, f"b{res}", block)
            self.num_ws += block.num_conv
        self.num_ws += 1  # the last block's ToRGB

    def blocks(self) -> list[SynthesisBlock]:
        return [getattr(self, f"b{res}") for res in self.block_resolutions]

    def forward(self, ws, return_stages=False):
        x = img = None
        stages, k = [], 0
        for block in self.blocks():
            x, img = block(x, img, ws[:, k : k + block.num_conv + 1].unbind(1))
            k += block.num_conv
            if return_stages:
                stages.append(_image(img, block.size))
        out = _image(img, self.resolution)
        return (out, stages) if return_stages else out


def _image(img, size: int):
    """The pixel-major RGB list (B, 3, N) as a contiguous NCHW image, like every generator's."""
    return img.reshape(img.shape[0], 3, size, size).contiguous()


# The released recipe (R1 γ 10, no path-length regularisation, no style mixing) is exactly the
# HParams defaults, so the registered recipe is empty.
@register("inr_gan", display_name="INR-GAN", arch_keys=("rank",))
class INRGANGenerator(Generator):
    """INR-GAN-bil as `src/scripts/profile.py` builds it: z_dim = w_dim = 512, 2 mapping layers,
    channel_base 32768, channel_max 512, FMM rank 10. Overrides: width (every layer's channels
    and the constant embeddings), z_dim, n_mlp, rank, modconv_mode (the ToRGB layers only: the
    FMM layers have a single path). Noise modes are accepted and change nothing (no noise).

    The official top-level modules are `mapping` and `synthesis`, the names of the two stages of
    the common interface (methods of `Generator`). So the modules are registered under those
    names (state dict, fill rule and checkpoints see `mapping.fc0.weight`, …) and reached as
    `self.style` (the mapping network, as in every model) and `self.synthesis_network`.
    Truncation interpolates towards the project's mean w (`Generator.mean_latent`); the
    official tracked `mapping.w_avg` is kept up to date in training mode and saved.
    """

    stage_label = "RGB skip after each block's ToRGB (blocks up to b32 at 32 px)"
    resolutions = resolution_range(32, 256)  # the config defines coordinates up to 256 only
    has_noise = False

    def __init__(
        self,
        resolution=256,
        z_dim=512,
        n_mlp=2,
        width=1.0,
        lr_mlp=0.01,
        rank=10,
        modconv_mode="auto",
    ):
        try:
            check_resolution("inr_gan", resolution, INRGANGenerator.resolutions)
        except ValueError as e:
            raise ValueError(
                f"{e} (the released config defines coordinates up to 256 only)"
            ) from None
        super().__init__(resolution, z_dim, n_mlp=0, lr_mlp=lr_mlp)
        del self.style  # the base's rosinality mapping network; ours is NVIDIA's, below
        self._modules["synthesis"] = SynthesisNetwork(resolution, z_dim, width, rank, modconv_mode)
        self._modules["mapping"] = NVMappingNetwork(z_dim, z_dim, n_mlp, lr_mlp)
        self.num_ws = self.synthesis_network.num_ws

    @property
    def style(self) -> NVMappingNetwork:
        return self._modules["mapping"]

    @property
    def synthesis_network(self) -> SynthesisNetwork:
        return self._modules["synthesis"]

    def synthesis(self, ws, noise_mode="random", return_stages=False):
        return self.synthesis_network(ws, return_stages=return_stages)
