"""The learned-not-copied panel (benchmarks.quality.nearest) from hand-made features: which
real images sit beside which sample, in which order, and where they land in the picture."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks.quality.errors import QualityError
from benchmarks.quality.nearest import nearest, panel, real_to_real_median


def test_nearest_picks_the_closest_reals_in_order():
    real = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 3.0], [1.0, 0.0], [0.0, -1.0]])
    gen = np.array([[0.9, 0.0], [9.0, 0.0]])
    idx, dist = nearest(gen, real, 3)
    # sample 0 at (0.9, 0): real 3 (0.1), real 0 (0.9), real 4 (sqrt(0.81 + 1))
    assert idx[0].tolist() == [3, 0, 4]
    np.testing.assert_allclose(dist[0], [0.1, 0.9, np.sqrt(1.81)], atol=1e-12)
    # sample 1 at (9, 0): real 1 (1), real 3 (8), real 0 (9)
    assert idx[1].tolist() == [1, 3, 0]
    np.testing.assert_allclose(dist[1], [1.0, 8.0, 9.0], atol=1e-12)


def test_ties_keep_the_lower_real_index_first():
    real = np.array([[1.0], [-1.0], [1.0]])
    idx, _ = nearest(np.array([[0.0]]), real, 3)
    assert idx[0].tolist() == [0, 1, 2]


def test_real_to_real_median_skips_the_image_itself():
    real = np.array([[0.0], [1.0], [3.0], [7.0]])  # nearest others: 1, 1, 2, 4
    assert real_to_real_median(real) == pytest.approx(1.5)


def test_bad_shapes_and_k_are_one_line_errors():
    with pytest.raises(QualityError, match="feature shapes differ"):
        nearest(np.zeros((2, 3)), np.zeros((4, 2)), 1)
    with pytest.raises(QualityError, match="k must be 1..4"):
        nearest(np.zeros((2, 2)), np.zeros((4, 2)), 5)


def test_panel_puts_each_sample_beside_its_neighbours():
    """Row i: generated i, a gap, then the reals idx[i] left to right (each framed by 2 px)."""
    s = 4
    gen = torch.stack([torch.full((3, s, s), 10 + i, dtype=torch.uint8) for i in range(2)])
    real = torch.stack([torch.full((3, s, s), 100 + j, dtype=torch.uint8) for j in range(5)])
    idx = np.array([[3, 0], [1, 4]])
    img = panel(gen, real, idx)
    cell, gap = s + 4, 6
    assert img.shape == (3, 2 * cell, cell + gap + 2 * cell)
    for i in range(2):
        y = i * cell + 2
        assert int(img[0, y, 2]) == 10 + i  # the generated image, first
        for col, j in enumerate(idx[i]):
            x = cell + gap + col * cell + 2
            assert int(img[0, y, x]) == 100 + j, (i, col)
        assert int(img[0, y, cell + 1]) == 255  # the gap is white
    with pytest.raises(QualityError, match="2 generated images but 1 rows"):
        panel(gen, real, idx[:1])
