"""The one interface every generator offers, so training, profiling and metrics never
special-case a model: `G(z, truncation_psi, noise_mode)` → image in roughly [-1, 1]."""

from __future__ import annotations

import torch
from torch import nn

from common.settings import NOISE_MODES, RESOLUTIONS

from .layers import MappingNetwork


def stylegan_channels(channel_multiplier: int = 2, width: float = 1.0) -> dict[int, int]:
    """StyleGAN2's channel table, scaled by `width` (rounded to multiples of 16 so PixelFolder's
    folds stay integral; width 1 leaves the official numbers untouched)."""
    base = {4: 512, 8: 512, 16: 512, 32: 512}
    for res, c in {64: 256, 128: 128, 256: 64, 512: 32, 1024: 16}.items():
        base[res] = c * channel_multiplier
    return {r: scale_width(c, width) for r, c in base.items()}


def scale_width(c: int, width: float) -> int:
    if width == 1.0:
        return c
    return max(16, int(round(c * width / 16)) * 16)


def resolution_range(lowest: int = 32, highest: int = RESOLUTIONS[-1]) -> tuple[int, ...]:
    """The sizes of `common.settings.RESOLUTIONS` from `lowest` to `highest`: a generator states
    its resolutions as a range of the one list, so no model keeps a list of its own."""
    return tuple(r for r in RESOLUTIONS if lowest <= r <= highest)


def check_resolution(name: str, resolution: int, valid=None) -> int:
    """`resolution` if it is one of `valid` (default: a Generator's 32–1024), else a one-line
    ValueError naming the model and the choices."""
    valid = Generator.resolutions if valid is None else valid
    if resolution not in valid:
        raise ValueError(
            f"{name}: resolution {resolution!r} is not supported; choose one of {', '.join(map(str, valid))}"
        )
    return int(resolution)


class Generator(nn.Module):
    """Mapping network + a model-specific `synthesis(ws, noise_mode, return_stages)`."""

    supports_mixing = True
    has_noise = True  # per-pixel noise inputs (noise_mode changes the output)
    resolutions = resolution_range(32)  # models.resolutions(name) and __init__ check this
    stage_label = "skip RGB after each ToRGB"  # what `return_stages=True` returns, for reports

    def __init__(self, resolution: int, z_dim: int = 512, n_mlp: int = 8, lr_mlp: float = 0.01):
        cls = type(self)  # every generator's resolution is checked here, before any layer
        check_resolution(getattr(cls, "registry_name", cls.__name__), resolution, cls.resolutions)
        super().__init__()
        self.resolution, self.z_dim, self.w_dim = resolution, z_dim, z_dim
        self.style = MappingNetwork(z_dim, z_dim, n_mlp, lr_mlp)
        self.register_buffer("w_avg", torch.zeros(z_dim), persistent=False)
        self._w_avg_ready = False
        self._compiled_synthesis = None
        self.register_load_state_dict_post_hook(lambda module, _keys: module.reset_w_avg())

    num_ws: int  # per-layer latents the synthesis network takes

    # ------------------------------------------------------------------ latents
    def reset_w_avg(self):
        self._w_avg_ready = False

    @torch.no_grad()
    def mean_latent(self, n: int = 4096) -> torch.Tensor:
        """Average w over `n` fixed-seed z (cached until the weights are reloaded)."""
        if not self._w_avg_ready:
            gen = torch.Generator().manual_seed(123)
            z = torch.randn(n, self.z_dim, generator=gen).to(self.w_avg.device)
            self.w_avg.copy_(self.style(z).mean(0))
            self._w_avg_ready = True
        return self.w_avg

    def mapping(self, z: torch.Tensor, truncation_psi: float = 1.0) -> torch.Tensor:
        w = self.style(z)
        if truncation_psi != 1.0:
            w_avg = self.mean_latent()
            w = w_avg + truncation_psi * (w - w_avg)
        return w

    # ------------------------------------------------------------------ noise
    def layer_noise(self, idx: int, size: int, ref: torch.Tensor, noise_mode: str):
        """What StyledConv `idx` (output size×size) gets as noise: None = fresh N(0,1) per call,
        "none" = no noise, or (const) a fixed-seed map, the same on every call and device."""
        if noise_mode == "random":
            return None
        if noise_mode == "none":
            return "none"
        gen = torch.Generator().manual_seed(1000 + idx)
        return torch.randn(1, 1, size, size, generator=gen).to(device=ref.device, dtype=ref.dtype)

    # ------------------------------------------------------------------ call
    def synthesis(self, ws: torch.Tensor, noise_mode: str = "random", return_stages: bool = False):
        raise NotImplementedError

    def enable_compile(self, **kwargs):
        """Route synthesis through torch.compile (fused kernels on CUDA, C++ on CPU)."""
        self._compiled_synthesis = torch.compile(self.synthesis, **kwargs)
        return self

    def forward(
        self,
        z: torch.Tensor,
        truncation_psi: float = 1.0,
        noise_mode: str = "random",
        z_mix: torch.Tensor | None = None,
        mix_index: int | None = None,
        return_stages: bool = False,
    ):
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode {noise_mode!r} is unknown; use one of {NOISE_MODES}")
        w = self.mapping(z, truncation_psi)
        ws = w.unsqueeze(1).repeat(1, self.num_ws, 1)
        if z_mix is not None:
            if not self.supports_mixing:
                raise ValueError(
                    f"{type(self).__name__} uses one w for every layer; style mixing is not supported"
                )
            if mix_index is None:
                mix_index = int(torch.randint(1, self.num_ws, ()).item())
            ws[:, mix_index:] = self.mapping(z_mix, truncation_psi).unsqueeze(1)
        synth = self._compiled_synthesis or self.synthesis
        out = synth(ws, noise_mode=noise_mode, return_stages=return_stages)
        if return_stages:
            return out[0].contiguous(), out[1]
        return out.contiguous()  # CPU convs may hand on channels-last; callers get plain NCHW
