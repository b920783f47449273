"""Single layers against their closed-form MACs and parameter counts (docs/macs.md#closed-forms),
counted on the meta device at batch 1 in both conventions: styled convs with and without
upsampling (the FIR blur apart), ToRGB with and without its upsampled skip, EqualLinear and the
mapping network, LFF and 1×1 convs. A counter that misses or double-counts a layer is off by a
whole term here, where a whole network's total would hide it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from benchmarks.profiling import counting
from models import coords, layers


# --------------------------------------------------------------------------- closed forms (docs/macs.md#closed-forms)
class Call(nn.Module):
    """Give a layer that takes extra arguments the single-input call the counters use."""

    def __init__(self, layer, *extra):
        super().__init__()
        self.layer, self.extra = layer, extra

    def forward(self, x):
        return self.layer(x, *self.extra)


def _count(layer, x_shape, *extra):
    m = Call(layer, *extra) if extra else layer
    x = torch.zeros(*x_shape, device="meta")
    true, paper = counting.count_macs(m, x, "true"), counting.count_macs(m, x, "paper")
    return true, paper, sum(p.numel() for p in layer.parameters())


def _meta(ctor, *args, **kw):
    with torch.device("meta"):
        return ctor(*args, **kw)


def _style():
    return torch.zeros(1, 512, device="meta")


@pytest.mark.parametrize("i,o,h", [(64, 32, 16), (128, 128, 8)])
def test_styled_conv_closed_form(i, o, h):
    layer = _meta(layers.StyledConv, i, o, 3, 512, mode="grouped")
    true, paper, params = _count(layer, (1, i, h, h), _style(), "none")
    assert params == o * i * 9 + 513 * i + 1 + o
    assert true.macs == paper.macs == h * h * i * o * 9 + 512 * i
    assert true.fir == 0


@pytest.mark.parametrize("i,o,h", [(64, 32, 8), (32, 16, 4)])
def test_upsampling_styled_conv_closed_form(i, o, h):
    layer = _meta(layers.StyledConv, i, o, 3, 512, upsample=True, mode="grouped")
    true, paper, params = _count(layer, (1, i, h, h), _style(), "none")
    assert params == o * i * 9 + 513 * i + 1 + o
    assert true.macs == h * h * i * o * 9 + 512 * i
    assert paper.macs == 4 * h * h * i * o * 9 + 512 * i
    assert true.fir == o * (2 * h) ** 2 * 16  # 4×4 blur over the 2H×2W output


@pytest.mark.parametrize("i,h", [(128, 16), (512, 8)])
def test_to_rgb_closed_form(i, h):
    layer = _meta(layers.ToRGB, i, 512, mode="grouped")
    true, _, params = _count(layer, (1, i, h, h), _style())
    assert params == 516 * i + 3
    assert true.macs == 3 * h * h * i + 512 * i and true.fir == 0
    skip = torch.zeros(1, 3, h // 2, h // 2, device="meta")
    with_skip, _, _ = _count(layer, (1, i, h, h), _style(), skip)
    assert with_skip.macs == true.macs
    assert with_skip.fir == 3 * h * h * 16  # skip upsampled to H×W with the 4×4 FIR


def test_equal_linear_and_mapping_closed_form():
    true, _, params = _count(_meta(layers.EqualLinear, 512, 256), (1, 512))
    assert params == 512 * 256 + 256 and true.macs == 512 * 256
    true, _, params = _count(_meta(layers.MappingNetwork, 512, 512, 8), (1, 512))
    assert params == 2_101_248 and true.macs == 2_097_152


@pytest.mark.parametrize("c,h", [(512, 16), (128, 64)])
def test_lff_closed_form(c, h):
    true, _, params = _count(_meta(coords.LFF, c), (1, 2, h, h))
    assert params == 3 * c and true.macs == 2 * h * h * c


@pytest.mark.parametrize("i,o,h", [(1024, 512, 16), (128, 32, 64)])
def test_conv_layer_1x1_closed_form(i, o, h):
    true, _, params = _count(_meta(layers.ConvLayer, i, o, 1), (1, i, h, h))
    assert params == i * o + o and true.macs == h * h * i * o
