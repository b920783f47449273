"""The two ViT feature nets of the modern metrics, each defined by its published weights file:

* `dinov2`: DINOv2 ViT-L/14 (Oquab et al. 2023) for FD_DINOv2, as dgm-eval (Stein et al. 2023)
  and EDM2 run it: each image PIL-bicubic resized to 224x224 as uint8 (dgm-eval's
  torchvision `Resize((224, 224), BICUBIC)` on a PIL image; EDM2's `resize_mode='pil'`), scaled
  to [0, 1], normalized with the ImageNet mean/std, and the final-norm CLS token taken (1024-D).
  The architecture is timm's `vit_large_patch14_dinov2`; Meta's original checkpoint
  `dinov2_vitl14_pretrain.pth` (the torch.hub `dinov2_vitl14` state dict) goes through timm's own
  `checkpoint_filter_fn`. The checkpoint's 37x37 position grid is resized to 16x16 once, the
  way the torch.hub model does it at every 224 px forward (bicubic, no antialias, scale factor
  (16 + 0.1) / 37), so the features are the hub model's, not timm's own resampling.
* `clip`: OpenAI CLIP ViT-L/14@336px for CMMD (Jayasumana et al. 2024), as google-research/cmmd
  runs it: each image centre-cropped to a square and PIL-bicubic resized to 336x336, scaled to
  [0, 1], normalized with CLIP's mean/std, the projected image embedding (768-D) L2-normalized.
  OpenAI's `ViT-L-14-336px.pt` is read by open_clip's own OpenAI loader and checked to be
  open_clip's `ViT-L-14-336` architecture.

Neither file can ship offline and nothing downloads at run time: a file is taken from the
weights folder (nets.locate), else from the cache its usual downloader fills (the `*_fallback`
functions here: torch hub's `checkpoints/`, `~/.cache/clip`), else the job stops with one line
naming both places and the official URL. timm and open_clip are imported only when a net is
built, so nothing else in the suite pays for them.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from common.cli import first_line
from common.io import sha256_file

from . import weights as W
from .errors import QualityError

log = logging.getLogger("pixbench.quality")

DINOV2_FILE, CLIP_FILE = "dinov2_vitl14_pretrain.pth", "ViT-L-14-336px.pt"
DINOV2_URL, CLIP_URL = W.WEIGHT_URLS[DINOV2_FILE], W.WEIGHT_URLS[CLIP_FILE]
CLIP_SHA256 = W.CLIP_SHA256

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
CHUNK = 32  # images per forward: bounds ViT-L activation memory at any --batch


# ----------------------------------------------------------------------------- locating


def hub_checkpoint_path() -> Path:
    """Where torch.hub.load('facebookresearch/dinov2', 'dinov2_vitl14') keeps the file."""
    return Path(torch.hub.get_dir()) / "checkpoints" / DINOV2_FILE


def clip_cache_path() -> Path:
    """Where OpenAI's clip.load and open_clip's OpenAI loader keep the file by default."""
    return Path("~/.cache/clip").expanduser() / CLIP_FILE


def _from_cache(name: str, path: Path, url: str, source: str, weights_dir=None) -> W.WeightFile:
    """The file at `path`, checksummed (and checked against a `<file>.sha256` pin beside it),
    or a one-line refusal naming every place looked at and where to get the file."""
    if not path.is_file():
        folder = (
            Path(weights_dir) / name if weights_dir is not None else f"the weights folder's {name}"
        )
        raise QualityError(
            f"missing metric weights: neither {folder} (--weights-dir) nor {path} ({source}) "
            f"exists; download {url} into the weights folder (nothing is downloaded at run time)"
        )
    digest = sha256_file(path)
    pin = path.with_name(path.name + ".sha256")
    words = pin.read_text().split() if pin.is_file() else []
    if words and words[0].lower() != digest:
        raise QualityError(
            f"sha256 of {path} is {digest} but {pin} expects {words[0].lower()}; the file is "
            f"corrupt or a different version, download {url} again"
        )
    return W.WeightFile(name, path, digest, url, source=f"{source}: {path}")


def dinov2_fallback(weights_dir=None) -> W.WeightFile:
    """DINOv2's file in the torch hub cache (used when the weights folder lacks it)."""
    return _from_cache(
        DINOV2_FILE, hub_checkpoint_path(), DINOV2_URL, "torch hub cache", weights_dir
    )


def clip_fallback(weights_dir=None) -> W.WeightFile:
    """CLIP's file in OpenAI's / open_clip's download cache (when the weights folder lacks it)."""
    return _from_cache(CLIP_FILE, clip_cache_path(), CLIP_URL, "OpenAI CLIP cache", weights_dir)


def _unreadable(weights: W.WeightFile, what: str, exc: BaseException) -> QualityError:
    return QualityError(
        f"cannot load {weights.path} as {what} ({type(exc).__name__}: {first_line(exc)[:160]}); "
        f"the file is corrupt, truncated or another model, download {weights.url} again"
    )


# ----------------------------------------------------------------------------- preprocessing


def pil_bicubic(x: torch.Tensor, size: int, crop: bool) -> torch.Tensor:
    """uint8 (N, 3, size, size) from a float [0, 255] NCHW batch: each image rounded to uint8
    (its values are uint8 already), centre-cropped to a square if `crop` (CMMD's reader), and
    resized by PIL's bicubic filter (antialiased, re-quantized to uint8), exactly what dgm-eval
    and CMMD's reader do to a PIL image. A same-size resize is PIL's identity."""
    arr = x.detach().round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    out = []
    for img in arr:
        im = Image.fromarray(np.ascontiguousarray(img), "RGB")
        if crop:
            w, h = im.size
            side = min(w, h)
            left, top = (w - side) // 2, (h - side) // 2
            im = im.crop((left, top, left + side, top + side))
        out.append(np.asarray(im.resize((size, size), Image.Resampling.BICUBIC)))
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2)


def normalized(u8: torch.Tensor, mean, std, device) -> torch.Tensor:
    """(u8 / 255 - mean) / std in float32 on `device`."""
    x = u8.to(device, torch.float32) / 255
    m = torch.tensor(mean, device=device).view(1, 3, 1, 1)
    s = torch.tensor(std, device=device).view(1, 3, 1, 1)
    return (x - m) / s


def hub_pos_embed(pos_embed: torch.Tensor, grid: int, offset: float = 0.1) -> torch.Tensor:
    """The DINOv2 torch.hub model's position embedding for a grid x grid patch input: its
    `interpolate_pos_encoding` resizes the M x M table (bicubic, antialias off) with scale factor
    (grid + offset) / M, the offset the hub model is built with, in float32; the class token's
    entry is kept. Done once here instead of at every forward."""
    cls, patches = pos_embed[:, :1], pos_embed[:, 1:].float()
    m = round(patches.shape[1] ** 0.5)
    if m * m != patches.shape[1]:
        raise ValueError(f"position table of {patches.shape[1]} patches is not square")
    if m == grid:
        return pos_embed
    scale = (grid + offset) / m
    table = patches.reshape(1, m, m, -1).permute(0, 3, 1, 2)
    table = F.interpolate(table, scale_factor=(scale, scale), mode="bicubic", antialias=False)
    if table.shape[-2:] != (grid, grid):
        raise ValueError(f"resized position grid is {tuple(table.shape[-2:])}, not {grid}")
    table = table.permute(0, 2, 3, 1).reshape(1, grid * grid, -1).to(pos_embed.dtype)
    return torch.cat([cls, table], dim=1)


# ----------------------------------------------------------------------------- nets


class _ViTNet:
    """A net read from one verified weights file; `card()` is what the metric card records."""

    name = ""
    dim = 0
    library = ""
    preprocessing = ""

    def __init__(self, weights: W.WeightFile, device: torch.device):
        self.weights, self.device = weights, torch.device(device)
        self.sha256 = weights.sha256

    def card(self) -> dict:
        w = self.weights
        return {
            "file": str(w.path),
            "sha256": w.sha256,
            "url": w.url,
            "source": w.source,
            "library": self.library,
            "preprocessing": self.preprocessing,
            "dim": self.dim,
        }

    def __call__(self, x: torch.Tensor, resize: str) -> torch.Tensor:
        if resize != "none":
            raise ValueError(f"{self.name} resizes by itself (resize='none'), got {resize!r}")
        return torch.cat([self.embed(x[i : i + CHUNK]) for i in range(0, len(x), CHUNK)])


class DINOv2Net(_ViTNet):
    """DINOv2 ViT-L/14 CLS features as dgm-eval computes them (module docstring)."""

    name = "dinov2"
    dim = 1024
    size, patch = 224, 14
    preprocessing = (
        "PIL bicubic to 224x224 (uint8), /255, ImageNet mean/std; CLS token after the final "
        "norm; position grid 37->16 as torch.hub dinov2_vitl14 (bicubic, offset 0.1)"
    )

    def __init__(self, weights: W.WeightFile, device: torch.device):
        super().__init__(weights, device)
        import timm
        from timm.models.vision_transformer import checkpoint_filter_fn

        self.library = f"timm {timm.__version__} vit_large_patch14_dinov2"
        try:
            state = torch.load(weights.path, map_location="cpu", weights_only=True)
            state["pos_embed"] = hub_pos_embed(state["pos_embed"], self.size // self.patch)
            with torch.device("meta"):  # no random init of 300M weights that are replaced anyway
                model = timm.create_model(
                    "vit_large_patch14_dinov2", pretrained=False, num_classes=0, img_size=self.size
                )
            model.load_state_dict(checkpoint_filter_fn(state, model), strict=True, assign=True)
        except Exception as exc:  # noqa: BLE001 - pickle/zip/key/shape errors all mean "not it"
            raise _unreadable(weights, "Meta's DINOv2 ViT-L/14 checkpoint", exc) from None
        self.model = model.to(self.device).eval().requires_grad_(False)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        u8 = pil_bicubic(x, self.size, crop=False)
        return self.model(normalized(u8, IMAGENET_MEAN, IMAGENET_STD, self.device))


class CLIPNet(_ViTNet):
    """OpenAI CLIP ViT-L/14@336px image embeddings, L2-normalized, as CMMD's reference computes
    them (module docstring). Only the image tower is kept."""

    name = "clip"
    dim = 768
    size = 336
    preprocessing = (
        "centre crop to square, PIL bicubic to 336x336 (uint8), /255, CLIP mean/std; projected "
        "image embedding, L2-normalized"
    )

    def __init__(self, weights: W.WeightFile, device: torch.device):
        super().__init__(weights, device)
        import open_clip
        from open_clip.openai import load_openai_model

        self.library = f"open_clip {open_clip.__version__} ViT-L-14-336 (OpenAI loader)"
        try:
            with W.quiet_jit_load():  # OpenAI's file is TorchScript; a state dict also loads
                model = load_openai_model(str(weights.path), precision="fp32", device="cpu")
        except Exception as exc:  # noqa: BLE001 - jit/pickle/key errors all mean "not it"
            raise _unreadable(weights, "OpenAI's CLIP ViT-L/14@336px file", exc) from None
        self._check_architecture(model, open_clip.get_model_config("ViT-L-14-336"))
        self.visual = model.visual.to(self.device).eval().requires_grad_(False)
        self.official = weights.sha256 == CLIP_SHA256
        if not self.official:
            log.warning(
                "warning: %s is not OpenAI's ViT-L-14-336px.pt (sha256 %s…, OpenAI's is %s…); "
                "its CMMD is not comparable with published values",
                weights.path,
                weights.sha256[:16],
                CLIP_SHA256[:16],
            )

    def _check_architecture(self, model, config: dict) -> None:
        vision = config["vision_cfg"]
        v = model.visual
        found = {
            "image_size": v.image_size[0],
            "patch_size": v.patch_size[0],
            "layers": len(v.transformer.resblocks),
            "width": v.conv1.out_channels,
            "embed_dim": v.output_dim,
        }
        want = {**{k: vision[k] for k in found if k in vision}, "embed_dim": config["embed_dim"]}
        if found != want:
            raise QualityError(
                f"{self.weights.path} is a CLIP with {found}, not ViT-L-14-336 {want}; "
                f"download {CLIP_URL}"
            )

    def card(self) -> dict:
        return {**super().card(), "official_sha256": CLIP_SHA256, "official": self.official}

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        u8 = pil_bicubic(x, self.size, crop=True)
        emb = self.visual(normalized(u8, CLIP_MEAN, CLIP_STD, self.device))
        return emb / torch.linalg.vector_norm(emb, dim=-1, keepdim=True)
