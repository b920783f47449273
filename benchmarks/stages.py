"""The intermediate RGB images of a trained generator, stage by stage (the paper's Fig. 6):
PixelFolder's per-stage outputs beside the skip-RGB outputs of StyleGAN2 and CIPS.

    python -m benchmarks.stages --checkpoint CKPT --out stages.png --json stages.json \
        [--seeds 0,1,2,3] [--device auto]

It runs the network, so it lives with the measurements; the report only shows its files.
"""

from __future__ import annotations

import json

import torch
import torch.nn.functional as F
from torchvision.utils import make_grid

from common.cli import OneLineParser, check_writable, parse_int_list, run
from common.device import add_device_flag, resolve_device
from common.io import atomic_output


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
    p = OneLineParser(prog="python -m benchmarks.stages", description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True, help="PNG grid: one row per seed, one column per stage")
    p.add_argument("--json", required=True, help="what each column is (stage sizes, model, kimg)")
    p.add_argument("--seeds", default="0,1,2,3")
    add_device_flag(p)
    args = p.parse_args(argv)
    from torchvision.utils import save_image

    from training.checkpoint import load_generator

    seeds = parse_int_list(args.seeds, "--seeds", minimum=0)
    for out in (args.out, args.json):
        check_writable(out)
    G, meta = load_generator(args.checkpoint, device=resolve_device(args.device))
    stages = stage_images(G, seeds)
    info = {
        "model": meta["model"],
        "kimg": meta.get("kimg"),
        "variant": meta.get("variant"),
        "seeds": seeds,
        "stage_sizes": [int(s.shape[-1]) for s in stages],
        "kind": G.stage_label,
        "image": str(args.out),
    }
    # both files are written before either is replaced: a failure leaves neither (nor a temp)
    with atomic_output(args.out, suffix=".png") as png, atomic_output(args.json) as js:
        save_image(stage_grid(stages), png, format="png")
        js.write_text(
            json.dumps(info, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8"
        )  # what common.io.write_json writes
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
