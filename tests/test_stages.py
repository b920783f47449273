"""The stage-by-stage grid (paper Fig. 6): one row per seed, one column per stage."""

import torch

import models
from benchmarks.stages import MIN_TILE, stage_grid, stage_images


def test_stage_grid_one_row_per_seed_one_column_per_stage_enlarged():
    G = models.build("pixelfolder", resolution=64, width=0.0625, z_dim=32, n_mlp=2).eval()
    stages = stage_images(G, seeds=(0, 1, 2))
    assert [s.shape[-1] for s in stages] == [16, 64]  # PixelFolder at 64: two stages
    grid = stage_grid(stages)
    pad = 2
    assert grid.shape == (3, 3 * (MIN_TILE + pad) + pad, 2 * (MIN_TILE + pad) + pad)
    assert torch.isfinite(grid).all() and grid.min() >= 0 and grid.max() <= 1
