"""Fixtures several test files share."""

from __future__ import annotations

import pytest
import torch
from threadpoolctl import threadpool_limits


@pytest.fixture
def one_thread():
    """One torch/BLAS thread: on a shared 2-core machine oversubscribed OpenMP/OpenBLAS pools
    spin and make small ops ~10x slower. Results do not depend on the thread count."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(old)
