"""The byte counter (benchmarks/profiling/bytecount.py) against hand-computed ops: every op reads
its tensor inputs and writes its outputs in full (no cache), views move nothing, in-place ops
read and write `self`, broadcast dimensions are read once. Counts are exact integers, so the
checks are equalities."""

import pytest
import torch

from benchmarks.profiling import bytecount
from benchmarks.profiling.bytecount import ByteCounterMode

F32 = 4


def _count(fn, device="cpu"):
    with torch.no_grad(), ByteCounterMode() as bc:
        fn()
    return bc


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_elementwise_add_reads_two_writes_one(device):
    n = 1000
    a, b = torch.ones(n, device=device), torch.ones(n, device=device)
    bc = _count(lambda: a + b)
    assert (bc.read, bc.written, bc.total) == (2 * F32 * n, F32 * n, 3 * F32 * n)
    assert bc.by_op == {"add": 3 * F32 * n}


def test_same_tensor_twice_is_read_once():
    a = torch.ones(100)
    assert _count(lambda: a + a).total == 2 * F32 * 100


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_matmul(device):
    m, k, n = 3, 5, 7
    x, w = torch.ones(m, k, device=device), torch.ones(k, n, device=device)
    assert _count(lambda: x @ w).total == F32 * (m * k + k * n + m * n)


def test_conv2d_with_bias():
    """input + weight + bias read, output written; the bias is read once, not per pixel."""
    conv = torch.nn.Conv2d(3, 8, 3, padding=1)
    x = torch.ones(2, 3, 10, 10)
    expected = F32 * (2 * 3 * 10 * 10 + 8 * 3 * 3 * 3 + 8 + 2 * 8 * 10 * 10)
    assert _count(lambda: conv(x)).total == expected


def test_linear_with_bias_broadcast_read_once():
    lin = torch.nn.Linear(4, 6)
    x = torch.ones(3, 4)
    # addmm(bias, x, Wᵀ): bias 6 read once (its expand is a view), x 12, W 24, out 18
    assert _count(lambda: lin(x)).total == F32 * (6 + 12 + 24 + 18)


def test_inplace_reads_and_writes_self():
    a, b = torch.ones(50), torch.ones(50)
    bc = _count(lambda: a.add_(b))
    assert (bc.read, bc.written) == (2 * F32 * 50, F32 * 50)
    assert _count(lambda: a.relu_()).total == 2 * F32 * 50


def test_overwriting_ops_do_not_read_self():
    a, b = torch.ones(50), torch.ones(50)
    assert _count(lambda: b.copy_(a)).total == 2 * F32 * 50
    assert _count(lambda: b.zero_()).total == F32 * 50
    out = torch.empty(50)
    assert _count(lambda: torch.add(a, b, out=out)).total == 3 * F32 * 50


def test_views_move_nothing_and_copies_do():
    a = torch.ones(6, 4)
    assert _count(lambda: a.view(4, 6).t().unsqueeze(0).expand(3, 6, 4)).total == 0
    assert _count(lambda: a[:, 1:]).total == 0
    # a transposed view made contiguous is a real copy: read 24, write 24
    assert _count(lambda: a.t().contiguous()).total == 2 * F32 * 24


def test_allocations_and_factories():
    a = torch.ones(10)
    assert _count(lambda: torch.empty(10)).total == 0
    assert _count(lambda: torch.empty_like(a)).total == 0
    assert _count(lambda: torch.zeros(10)).total == F32 * 10
    assert _count(lambda: torch.zeros_like(a)).total == F32 * 10  # a is not read


def test_dtype_sizes_and_broadcast_tensor_bytes():
    assert bytecount.tensor_bytes(torch.ones(3, 5, dtype=torch.float16)) == 2 * 15
    assert bytecount.tensor_bytes(torch.ones(5).expand(3, 5)) == F32 * 5
    assert bytecount.tensor_bytes(torch.ones(0, 5)) == 0


def test_a_generator_forward_is_counted_on_meta_per_image():
    """A whole (tiny) model on meta: positive, and larger than its weights and output alone."""
    tiny = {"width": 0.0625, "z_dim": 32, "n_mlp": 2}
    per_image = bytecount.forward_bytes_per_image("stylegan2", 32, 1, "cpu", **tiny)
    with torch.device("meta"):
        g = __import__("models").build("stylegan2", 32, **tiny)
    weights = sum(p.numel() for p in g.parameters()) * F32
    assert per_image > weights + 3 * 32 * 32 * F32
    # per image at batch 4 is below batch 1: weights are read once per batch
    assert bytecount.forward_bytes_per_image("stylegan2", 32, 4, "cpu", **tiny) < per_image
