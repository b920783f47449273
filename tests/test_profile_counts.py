"""Reference counts of the released architectures (docs/architectures.md, docs/macs.md): exact
parameter and MAC totals at 256 (G within 0.2 % of the documented figure), the FIR work and the
paper's MAC convention, the three counters agreeing on one definition (ptflops' bias adds left
out) at full and narrow width, a counter disagreement failing loudly, the discriminator, and
CIPS at 1024 counted on the meta device only.

Everything counts on the meta device at batch 1, except fvcore (one batch-1 CPU forward per
model, in the session's `profiles256`, tests/conftest.py)."""

from __future__ import annotations

import json

import pytest
import torch

import models
from benchmarks.gate import check
from benchmarks.profiling import __main__ as profiling_cli
from benchmarks.profiling import counting, registry
from benchmarks.profiling import profile as efficiency
from common import settings
from common.cli import EXIT_FAILURE, run
from models import activations

AVAILABLE = models.available()

# exact totals of the released architectures (docs/architectures.md), G within 0.2 %
REFERENCE = {
    "pixelfolder": {
        "params": 20_843_614,
        "macs": 23_740_891_136,
        "paper": 23_740_891_136,
        "g": 23.741,
    },
    "cips": {"params": 44_317_092, "macs": 222_917_820_416, "paper": 222_917_820_416, "g": 222.918},
    "stylegan2": {
        "params": 30_034_338,
        "macs": 45_124_673_536,
        "paper": 83_741_630_464,
        "g": 45.125,
    },
}


# --------------------------------------------------------------------------- reference values
@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_reference_counts(profiles256, name):
    if name not in profiles256:
        pytest.skip(f"{name} not registered")
    prof, ref = profiles256[name], REFERENCE[name]
    assert prof["params"] == ref["params"]
    assert prof["macs"] == ref["macs"]
    assert prof["macs_paper_convention"] == ref["paper"]
    assert abs(prof["macs"] / 1e9 / ref["g"] - 1) < 0.002
    assert prof["params_mapping"] == 2_101_248
    assert prof["macs_by_module"]["style"] == 2_097_152


def test_stylegan2_fir_and_paper_convention(profiles256):
    prof = profiles256["stylegan2"]
    assert prof["macs_with_fir"] == 45_374_757_888  # 45.375 G, what fvcore/FlopCounterMode report
    assert prof["macs_fir"] == prof["macs_with_fir"] - prof["macs"]
    assert abs(prof["macs_paper_convention"] / 83.77e9 - 1) < 0.002  # the paper's number
    # the difference is exactly 3× the six upsampling transposed convs, all inside `convs`
    diff = {
        k: prof["macs_by_module_paper_convention"][k] - v for k, v in prof["macs_by_module"].items()
    }
    assert {k for k, v in diff.items() if v} == {"convs"}


def test_pixelfolder_breakdown_matches_spec(profiles256):
    """docs/architectures.md#pixelfolder: module totals, and the FIR work of the ToRGB skip upsampling (4.19 M)."""
    by = profiles256["pixelfolder"]["macs_by_module"]
    assert abs(by["convs"] / 20_914.6e6 - 1) < 1e-4
    assert abs(by["posfolders"] / 2_755.7e6 - 1) < 1e-4
    assert abs(by["lffs"] / 21.2e6 - 1) < 0.01
    assert profiles256["pixelfolder"]["macs_fir_by_module"] == {"to_rgbs": 4_190_208}


@pytest.mark.parametrize("name", AVAILABLE)
def test_counters_agree(profiles256, name):
    """One definition (conv/linear/matmul MACs, no bias adds) in every counter: equal totals."""
    prof = profiles256[name]
    by = prof["macs_by_counter"]
    assert set(by) == set(counting.COUNTERS)
    ref = by["flop_counter_mode"]["macs_with_fir"]
    assert {entry["macs_with_fir"] for entry in by.values()} == {ref}
    assert by["fvcore"]["macs"] == prof["macs"]  # fvcore attributes FIR modules too
    assert prof["counter_agreement"]["max_rel_diff"] == 0 == counting.COUNTER_TOLERANCE


NARROW = {"width": 0.0625, "z_dim": 64, "n_mlp": 2}  # the default run's trained variants


@pytest.mark.parametrize("name", AVAILABLE)
def test_narrow_variant_counters_agree_with_default_counters(name):
    """A narrow network, where bias adds are a larger share (0.6 % of PixelFolder's MACs at
    width 1/16), profiles with all three counters: ptflops' bias adds are left out."""
    prof = efficiency.profile(name, 64, settings.Profile(), NARROW, latency=False)
    by = prof["macs_by_counter"]
    assert set(by) == set(counting.COUNTERS)
    assert {e["macs_with_fir"] for e in by.values()} == {prof["macs_with_fir"]}


def test_ptflops_counts_bias_adds_only_without_our_hooks():
    """What the hooks remove is exactly the bias adds: one per output element of each biased
    conv/addmm, summed here independently from the modules' shapes."""

    def fresh():  # ptflops leaves hooks on the model it counts
        return counting.build_for_counting("pixelfolder", 64, **NARROW)

    z = counting.example_input(fresh())
    raw = counting.count_macs_ptflops(fresh(), z).total  # what ptflops itself reports
    ours = counting.count_macs_ptflops(fresh(), z, bias_adds=False).total
    assert ours == counting.count_macs(fresh(), z).total
    assert raw - ours == _bias_adds(fresh(), z) > 0


def _bias_adds(module, z) -> int:
    """One add per output element of every aten conv/addmm called with a bias."""
    from torch.utils._python_dispatch import TorchDispatchMode

    aten, total = torch.ops.aten, [0]

    class Bias(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            packet = func._overloadpacket
            if packet in (aten.convolution, aten._convolution) and args[2] is not None:
                total[0] += out.numel()
            elif packet is aten.addmm and args[0] is not None:
                total[0] += out.numel()
            return out

    with torch.no_grad(), Bias():
        module.eval()(z, noise_mode="random")
    return total[0]


@pytest.mark.parametrize("name", AVAILABLE)
def test_profile_is_self_consistent(profiles256, name):
    p = profiles256[name]
    assert (
        sum(p["params_by_module"].values())
        == p["params"]
        == p["params_mapping"] + p["params_synthesis"]
    )
    assert sum(p["macs_by_module"].values()) == p["macs"]
    assert sum(p["macs_by_module_paper_convention"].values()) == p["macs_paper_convention"]
    assert sum(p["macs_fir_by_module"].values()) == p["macs_fir"] >= 0
    assert p["macs_paper_convention"] >= p["macs"]
    act = p["activation_bytes"]
    assert (
        act["train_saved"]
        > act["inference_peak_live"]
        >= act["inference_output"]
        == 3 * 256 * 256 * 4
    )
    json.dumps(p)  # serialisable as is


def test_counter_disagreement_fails_loudly(monkeypatch, tmp_path, capsys):
    real = counting.count_macs_ptflops

    def inflated(*args, **kwargs):
        m = real(*args, **kwargs)
        return counting.MacCount(total=int(m.total * 1.01), fir=0)

    monkeypatch.setattr(counting, "count_macs_ptflops", inflated)
    with pytest.raises(counting.CounterDisagreement, match="ptflops_aten"):
        efficiency.profile(
            "stylegan2",
            64,
            settings.Profile(),
            latency=False,
            counters=("flop_counter_mode", "ptflops_aten"),
        )
    out = tmp_path / "p.json"
    argv = [
        "--model",
        "stylegan2",
        "--resolution",
        "64",
        "--no-latency",
        "--fvcore-max-resolution",
        "32",
        "--out",
        str(out),
    ]
    assert run(profiling_cli.main, argv) == EXIT_FAILURE
    assert not out.exists()
    assert "disagree" in capsys.readouterr().err


def test_discriminator_reference():
    """docs/architectures.md#discriminator: 28,864,129 params, 46.53 G dense (+0.49 G blur)."""
    entry = check.measure("discriminator", "stylegan2", 256)
    assert entry["params"] == 28_864_129
    assert abs(entry["macs"] / 46.53e9 - 1) < 0.001
    assert abs((entry["macs"] + entry["macs_fir"]) / 47.024e9 - 1) < 0.001


def cips_closed_form(r: int, cm: int = 2) -> int:
    """docs/architectures.md#cips and docs/macs.md#closed-forms for CIPSskip: LFF + ModFC stack + ToRGBs per pixel, plus every
    modulation FC (512·in) and the mapping network."""
    widths = [512, 512, 512, 512, 256 * cm, 128 * cm, 64 * cm, 32 * cm, 16 * cm]
    px = r * r
    total = 2_097_152 + px * 2 * 512 + px * 1024 * widths[0] + 512 * 1024  # mapping, LFF, conv1
    c_in = widths[0]
    for out in widths[: r.bit_length() - 2]:
        total += px * c_in * out + 512 * c_in + px * out * out + 512 * out  # two ModFCs
        total += px * 3 * out + 512 * out  # ToRGB
        c_in = out
    return total


def test_cips_1024_counts_on_meta_only():
    """547 M parameters (2 GB): the primary counter and both memory figures stay on meta."""
    assert cips_closed_form(256) == REFERENCE["cips"]["macs"]
    ctx = efficiency.context("cips", 1024, settings.Profile(), counters=(counting.PRIMARY,))
    costs = {**registry.get("params")(ctx), **registry.get("macs")(ctx)}
    assert costs["params"] == 547_846_414
    assert costs["macs"] == cips_closed_form(1024)
    assert counting.counters_for(1024, settings.Profile().fvcore_max_resolution) == (
        "flop_counter_mode",
        "ptflops_aten",
    )
    act = activations.activation_bytes("cips", 1024)
    assert act["train_saved"] > act["inference_peak_live"] > 0


def test_macs_of_counts_a_training_step_through_its_double_backward():
    """counting.macs_of (the training-step suite's counter) uses FlopCounterMode's formulas, so a
    forward counts what count_macs' total counts; and it runs through R1's autograd.grad, which
    FlopCounterMode's module hooks refuse. R1's input gradient and its backward are counted: an
    R1 step is more than three forwards of D (forward, input gradient, and its backward's
    weight and input gradients)."""
    G = counting.build_for_counting("stylegan2", 32, "cpu", width=0.0625, z_dim=32, n_mlp=2)
    z = torch.zeros(1, 32)
    with torch.no_grad():
        assert counting.macs_of(counting.forward_thunk(G, z)) == counting.count_macs(G, z).total
    D = counting.build_discriminator(32, "cpu", width=0.0625).train()
    x = torch.randn(2, 3, 32, 32, requires_grad=True)

    def r1():
        (grad,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
        grad.square().sum().backward()

    with torch.no_grad():
        forward = counting.macs_of(lambda: D(x))
    assert counting.macs_of(r1) > 3 * forward > 0
