"""k-NN manifold metrics: precision/recall exactly as NVIDIA `pr50k3_full`, plus density/coverage.

Precision/recall (Kynkäänniemi et al. 2019, NVIDIA stylegan2-ada/stylegan3 protocol):
  * radius of a manifold point = (k+1)-th smallest `torch.cdist` distance to the manifold set,
    the point itself included (so k real neighbours), taken in float32 and stored in the
    features' dtype;
  * a probe is inside if its distance to ANY manifold point is `<=` that point's radius;
  * precision: manifold = real, probes = generated; recall: manifold = generated, probes = real.
  * On CUDA the features are cast to float16 first, as NVIDIA does. On CPU they stay float32
    (float16 cdist is slow there and the extra rounding buys nothing); results can differ from
    a GPU run only where a distance ties a radius within float16 resolution.
Density/coverage (Naeem et al. 2020), from real radii of the same rule but with their strict `<`:
  density  = 1/k * mean over generated of #{real j : d(gen, real_j) < r_j}
  coverage = fraction of real j whose nearest generated sample is closer than r_j.
  The paper recommends k=5; we use the caller's k (default 3, shared with P/R) unless `k_dc`
  is given, and record it.
All distances are computed in row x column blocks, so memory is O(row_block * col_block).
The metrics pr and dc (metrics/pr.py, metrics/dc.py) share the real radii through FeatureSet.memo.
"""

from __future__ import annotations

import numpy as np
import torch


def as_tensor(x, device: torch.device) -> torch.Tensor:
    """float32 features on `device`, float16 on CUDA as NVIDIA does."""
    t = torch.as_tensor(np.asarray(x, dtype=np.float32), device=device)
    return t.half() if device.type == "cuda" else t


def _cdist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.cdist(a.unsqueeze(0), b.unsqueeze(0))[0]


def knn_radii(
    feats: torch.Tensor, ks: tuple[int, ...], row_block: int, col_block: int
) -> dict[int, torch.Tensor]:
    """For each k in `ks`: the (k+1)-th smallest distance of every row to all rows (self included).

    Column blocks are merged with a running top-(k+1), which gives exactly the value NVIDIA's
    `kthvalue(k+1)` takes over the full row, without ever holding a full row of distances.
    """
    kmax = max(ks) + 1
    if feats.shape[0] < kmax:
        raise ValueError(f"need more than {kmax - 1} points for k={kmax - 1}, got {feats.shape[0]}")
    out: dict[int, list[torch.Tensor]] = {k: [] for k in ks}
    for rows in feats.split(row_block):
        best = None
        for cols in feats.split(col_block):
            dist = _cdist(rows, cols).float()
            cand = dist if best is None else torch.cat([best, dist], dim=1)
            best = cand.topk(min(kmax, cand.shape[1]), dim=1, largest=False).values
        for k in ks:
            out[k].append(best[:, k].to(feats.dtype))
    return {k: torch.cat(v) for k, v in out.items()}


def _inside(
    probes: torch.Tensor,
    manifold: torch.Tensor,
    radii: torch.Tensor,
    row_block: int,
    col_block: int,
) -> torch.Tensor:
    """Bool per probe: within the radius (`<=`) of at least one manifold point."""
    hits = []
    for rows in probes.split(row_block):
        hit = torch.zeros(rows.shape[0], dtype=torch.bool, device=rows.device)
        for cols, rad in zip(manifold.split(col_block), radii.split(col_block), strict=True):
            hit |= (_cdist(rows, cols) <= rad.unsqueeze(0)).any(dim=1)
        hits.append(hit)
    return torch.cat(hits)


def precision_recall(
    real: torch.Tensor,
    fake: torch.Tensor,
    k: int,
    real_radii: torch.Tensor | None = None,
    row_block: int = 10_000,
    col_block: int = 10_000,
) -> dict[str, float]:
    """NVIDIA pr50k3: precision (generated inside the real manifold), recall (the reverse)."""
    if real_radii is None:
        real_radii = knn_radii(real, (k,), row_block, col_block)[k]
    fake_radii = knn_radii(fake, (k,), row_block, col_block)[k]
    return {
        "precision": float(_inside(fake, real, real_radii, row_block, col_block).double().mean()),
        "recall": float(_inside(real, fake, fake_radii, row_block, col_block).double().mean()),
    }


def density_coverage(
    real: torch.Tensor,
    fake: torch.Tensor,
    k: int,
    real_radii: torch.Tensor | None = None,
    row_block: int = 10_000,
    col_block: int = 10_000,
) -> dict[str, float]:
    """Naeem et al. 2020 density and coverage with real radii of k neighbours (strict <)."""
    if real_radii is None:
        real_radii = knn_radii(real, (k,), row_block, col_block)[k]
    count = 0.0
    nearest = torch.full((real.shape[0],), float("inf"), device=real.device)
    for rows in fake.split(row_block):
        start = 0
        for cols, rad in zip(real.split(col_block), real_radii.split(col_block), strict=True):
            dist = _cdist(rows, cols)
            count += float((dist < rad.unsqueeze(0)).sum(dtype=torch.float64))
            end = start + cols.shape[0]
            nearest[start:end] = torch.minimum(nearest[start:end], dist.float().min(dim=0).values)
            start = end
    return {
        "density": count / (k * fake.shape[0]),
        "coverage": float((nearest < real_radii.float()).double().mean()),
    }


def manifold_metrics(
    real_features,
    gen_features,
    k: int = 3,
    k_dc: int | None = None,
    row_block: int = 10_000,
    col_block: int = 10_000,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """Precision, recall (k) and density, coverage (k_dc, default k) of two feature arrays."""
    device = torch.device(device)
    k_dc = k if k_dc is None else k_dc
    real, fake = as_tensor(real_features, device), as_tensor(gen_features, device)
    radii = knn_radii(real, tuple(sorted({k, k_dc})), row_block, col_block)
    return {
        **precision_recall(real, fake, k, radii[k], row_block, col_block),
        **density_coverage(real, fake, k_dc, radii[k_dc], row_block, col_block),
    }


# ----------------------------------------------------------------------------- for metrics


def dtype_note(device: torch.device) -> str:
    return "float16 (CUDA, as NVIDIA)" if device.type == "cuda" else "float32 (CPU)"


def tensor_of(features, device: torch.device) -> torch.Tensor:
    """A FeatureSet's array as a (memoised) tensor on `device`."""
    return features.memo(("tensor", str(device)), lambda: as_tensor(features.array, device))


def real_radii(features, k: int, block: int, device: torch.device) -> torch.Tensor:
    """The k-NN radii of a FeatureSet, memoised: shared by P/R and D/C and by every seed."""
    t = tensor_of(features, device)
    return features.memo(
        ("radii", k, block, str(device)), lambda: knn_radii(t, (k,), block, block)[k]
    )
