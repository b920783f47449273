"""The intermediate RGB images of a trained generator, stage by stage (the paper's Fig. 6):
PixelFolder's per-stage outputs beside the skip-RGB outputs of StyleGAN2 and CIPS.

python -m reports.stages --checkpoint CKPT --out stages.png --json stages.json [--seeds 0,1,2,3]
"""

from __future__ import annotations

import argparse
import sys

import torch
import torch.nn.functional as F
from torchvision.utils import make_grid

from reports.io import atomic_path, write_json


@torch.no_grad()
def stage_images(G, seeds=(0, 1, 2, 3), psi: float = 1.0) -> list[torch.Tensor]:
    """One (N,3,R_s,R_s) batch per stage, values in [-1, 1] as the generator produced them."""
    z = torch.stack(
        [torch.randn(G.z_dim, generator=torch.Generator().manual_seed(s)) for s in seeds]
    )
    z = z.to(next(G.parameters()).device)
    _, stages = G(z, truncation_psi=psi, noise_mode="const", return_stages=True)
    return [s.float().cpu() for s in stages]


MIN_TILE = 128  # px: small CPU-run images are enlarged (nearest) so the report shows them


def stage_grid(stages: list[torch.Tensor]) -> torch.Tensor:
    """Rows = samples, columns = stages, each stage upsampled (nearest) to the final size."""
    size = max(stages[-1].shape[-1], MIN_TILE)
    cols = [F.interpolate(s, size=(size, size), mode="nearest") for s in stages]
    tiles = torch.stack(cols, dim=1).flatten(0, 1)  # sample-major: row per sample
    return make_grid(tiles, nrow=len(stages), padding=2, normalize=True, value_range=(-1, 1))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m reports.stages", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True, help="PNG grid: one row per seed, one column per stage")
    p.add_argument("--json", required=True, help="what each column is (stage sizes, model, kimg)")
    p.add_argument("--seeds", default="0,1,2,3")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    from torchvision.utils import save_image

    from training.checkpoint import CheckpointError, load_generator

    try:
        seeds = [int(s) for s in args.seeds.split(",")]
        G, meta = load_generator(args.checkpoint, device=args.device)
    except (CheckpointError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stages = stage_images(G, seeds)
    with atomic_path(args.out) as tmp:
        save_image(stage_grid(stages), tmp, format="png")
    write_json(
        args.json,
        {
            "model": meta["model"],
            "kimg": meta.get("kimg"),
            "variant": meta.get("variant"),
            "seeds": seeds,
            "stage_sizes": [int(s.shape[-1]) for s in stages],
            "kind": G.stage_label,
            "image": str(args.out),
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
