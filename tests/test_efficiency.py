"""Efficiency suite: reference counts (docs/architectures.md, docs/macs.md), counter agreement,
closed-form single layers, claims verdicts, the scaling table, the CI gate, CLI input handling and
the measure registry (benchmarks/profiling/registry.py: a measure added as its docs say goes
through the profile into the report's tables).

Everything counts on the meta device at batch 1, except fvcore (one batch-1 CPU forward per
model, in the shared `profiles256` fixture) and one tiny latency run at 32×32.
"""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import models
from benchmarks.claims import __main__ as claims_cli
from benchmarks.claims import paper
from benchmarks.claims import verdicts as claims
from benchmarks.gate import __main__ as gate_cli
from benchmarks.gate import check
from benchmarks.profiling import __main__ as profiling_cli
from benchmarks.profiling import activations, counting, registry
from benchmarks.profiling import profile as efficiency
from common import settings
from common.cli import EXIT_FAILURE, UsageError, run
from models import coords, layers
from models import registry as model_registry

ROOT = Path(__file__).resolve().parents[1]
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


@pytest.fixture(scope="module")
def profiles256():
    """Every registered generator at 256 with all three counters (no latency)."""
    return {n: efficiency.profile(n, 256, settings.Profile(), latency=False) for n in AVAILABLE}


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
        efficiency.profile_model(
            "stylegan2", 64, latency=False, counters=("flop_counter_mode", "ptflops_aten")
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


# --------------------------------------------------------------------------- latency (tiny)
def test_latency_section_small():
    prof = efficiency.profile_model(
        "stylegan2",
        32,
        device="cpu",
        batch_sizes=(1, 2),
        counters=(counting.PRIMARY,),
        warmup=0,
        repeats=2,
        max_time=0.0,  # the minimum repeats only: this test is about the section's shape
    )
    lat = prof["latency"]
    assert set(lat["by_batch"]) == {"1", "2"} and lat["matmul_macs_per_s"] > 0
    assert lat["device_info"]["device"] == "cpu"
    for b, s in lat["by_batch"].items():
        assert s["median_ms"] > 0 and s["repeats"] >= 2 and s["utilization"] > 0
        assert s["achieved_macs_per_s"] == pytest.approx(
            prof["macs"] * int(b) / (s["median_ms"] / 1e3)
        )


# --------------------------------------------------------------------------- claims
@pytest.fixture(scope="module")
def profile_dir(profiles256, tmp_path_factory):
    """Full profiles at 256; at 512/1024 (params only matter) the CI gate's lighter entries."""
    d = tmp_path_factory.mktemp("profiles")
    for name in AVAILABLE:
        (d / f"{name}-256.json").write_text(json.dumps(profiles256[name]))
        for r in (r for r in (512, 1024) if r in models.resolutions(name)):
            entry = {
                "schema": efficiency.SCHEMA,
                "overrides": {},
                **check.measure("generator", name, r),
            }
            (d / f"{name}-{r}.json").write_text(json.dumps(entry))
    (d / "unrelated.json").write_text("{}")  # not a profile: skipped with a warning
    return d


def test_claims_verdicts(profile_dir, tmp_path):
    out_csv, out_md = tmp_path / "c.csv", tmp_path / "c.md"
    assert (
        run(
            claims_cli.main,
            ["--profiles", str(profile_dir), "--out-csv", str(out_csv), "--out-md", str(out_md)],
        )
        == 0
    )
    rows = {r["claim"]: r for r in csv.DictReader(out_csv.open())}
    verdict = {k: r["verdict"] for k, r in rows.items()}
    assert verdict["PixelFolder has 72 % fewer MACs than StyleGAN2 (256)"] == claims.PAPER_ONLY
    assert "47.39" in rows["PixelFolder has 72 % fewer MACs than StyleGAN2 (256)"]["measured"]
    for claim in (
        "53 % fewer parameters than CIPS",
        "89 % fewer MACs than CIPS",
        "31 % fewer parameters than StyleGAN2",
    ):
        assert verdict[f"PixelFolder has {claim} (256)"] == claims.REPRODUCED
    assert verdict["PixelFolder has 20.84 M parameters at 256 (Table 1)"] == claims.REPRODUCED
    assert verdict["StyleGAN2 needs 83.77 GMACs at 256 (Table 1)"] == claims.PAPER_ONLY
    not_reproduced = {k for k, v in verdict.items() if v == claims.NOT_REPRODUCED}
    assert not_reproduced == {
        "PixelFolder has 20.84 M parameters at 512 (Table B)",
        "CIPS has 574.32 M parameters at 1024 (Table B)",
        "INR-GAN has 107.03 M parameters at 256 (Table 1)",
        "INR-GAN needs 38.76 GMACs at 256 (Table 1)",
        "PixelFolder has 80.5 % fewer parameters than INR-GAN (256, Table 1)",
        "PixelFolder has 38.6 % fewer MACs than INR-GAN (256, Table 1)",
    }
    assert "72,436,573" in rows["INR-GAN has 107.03 M parameters at 256 (Table 1)"]["explanation"]
    for res in (512, 1024):  # no released INR-GAN config above 256: not measured, with why
        row = rows[
            f"INR-GAN has {paper.TABLE_B_PARAMS['inr_gan'][res].value:.2f} M parameters at {res} (Table B)"
        ]
        assert (
            row["verdict"] == claims.NOT_MEASURED and f"no {res}-px network" in row["explanation"]
        )
    macs = rows["PixelFolder has 38.6 % fewer MACs than INR-GAN (256, Table 1)"]
    assert "PixelFolder has 58.8 % more MACs than INR-GAN" in macs["explanation"]
    assert "INR-GAN has 37.0 % fewer than PixelFolder" in macs["explanation"]
    assert float(macs["paper_value"]) == pytest.approx(38.6, abs=0.05)
    assert float(macs["measured_value"]) == pytest.approx(-58.8, abs=0.05)
    assert all(r["explanation"] and "\n" not in r["explanation"] for r in rows.values())
    md = out_md.read_text()
    assert md.startswith(
        "| claim | source | paper | measured | tolerance | verdict | explanation |"
    )
    assert md.count("\n") == len(rows) + 2


def test_claims_missing_profile_is_not_measured(profile_dir, tmp_path):
    profiles = claims_cli.load_profiles(
        [profile_dir / "pixelfolder-256.json", profile_dir / "cips-256.json"]
    )
    rows = {r.claim: r for r in claims.claim_rows(profiles)}
    assert rows["PixelFolder has 89 % fewer MACs than CIPS (256)"].verdict == claims.REPRODUCED
    assert (
        rows["PixelFolder has 72 % fewer MACs than StyleGAN2 (256)"].verdict == claims.NOT_MEASURED
    )


def _quality_result(path, model, summary, resolution=256, overrides=None):
    gen = {"model": model, "resolution": resolution, "overrides": overrides or {}, "kimg": 25000}
    card = {"num_gen": 50000, "num_real": 70000, "seeds": [0, 1, 2]}
    path.write_text(json.dumps({"summary": summary, "generator": gen, "card": card}))


def test_fid_claims_need_inception_fid_of_the_full_model(profile_dir, tmp_path):
    profiles = claims_cli.load_profiles([profile_dir])
    fid_ffhq, fid_church = (
        "PixelFolder reaches FID 3.77 on FFHQ-256",
        "PixelFolder reaches FID 2.45 on LSUN Church-256",
    )
    rows = {r.claim: r for r in claims.claim_rows(profiles)}
    assert rows[fid_ffhq].verdict == rows[fid_church].verdict == claims.NOT_MEASURED
    assert "proxy" in rows[fid_ffhq].explanation

    metrics = tmp_path / "metrics"
    metrics.mkdir()
    _quality_result(
        metrics / "ffhq_pixelfolder.json", "pixelfolder", {"fid_legacy_tensorflow": 3.9}
    )
    _quality_result(
        metrics / "church_pixelfolder.json", "pixelfolder", {"fid_legacy_tensorflow": 3.1}
    )
    _quality_result(metrics / "faces_pixelfolder.json", "pixelfolder", {"fd_proxy_clean": 0.3}, 32)
    rows = {r.claim: r for r in claims.claim_rows(profiles, claims_cli.load_metrics(metrics))}
    assert (rows[fid_ffhq].verdict, rows[fid_ffhq].measured) == (claims.REPRODUCED, "3.90")
    assert (rows[fid_church].verdict, rows[fid_church].measured) == (claims.NOT_REPRODUCED, "3.10")

    # a proxy number or a narrow variant under the right name never counts
    _quality_result(metrics / "ffhq_pixelfolder.json", "pixelfolder", {"fd_proxy_clean": 1.0})
    _quality_result(
        metrics / "church_pixelfolder.json",
        "pixelfolder",
        {"fid_legacy_tensorflow": 2.0},
        overrides={"width": 0.125},
    )
    rows = {r.claim: r for r in claims.claim_rows(profiles, claims_cli.load_metrics(metrics))}
    assert rows[fid_ffhq].verdict == rows[fid_church].verdict == claims.NOT_MEASURED

    # a rehearsal judges the narrow variant's stand-in FID, and says so on the row
    rows = {r.claim: r for r in claims.claim_rows(profiles, claims_cli.load_metrics(metrics), True)}
    church = rows[fid_church]
    assert (church.verdict, church.measured) == (claims.REPRODUCED, "2.00")
    assert church.explanation.startswith("REHEARSAL") and church.measured_value == 2.0
    assert rows[fid_ffhq].verdict == claims.NOT_MEASURED  # still no FID protocol number there


def test_paper_numbers_have_sources():

    tables = [paper.ABSTRACT, *paper.TABLE1.values(), *paper.TABLE2.values()]
    tables += [*paper.TABLE_B_PARAMS.values(), *paper.TABLE_B_FID.values()]
    for table in tables:
        for num in table.values():
            assert num.source.startswith("paper ")


# --------------------------------------------------------------------------- scaling
def test_scaling_table_from_profiles(profile_dir):
    from reports.collect import RunResults
    from reports.tables import scaling_table

    profs = [json.loads(p.read_text()) for p in sorted(profile_dir.glob("*.json"))]
    profs = [p for p in profs if p.get("schema") == efficiency.SCHEMA]
    res = RunResults(root=profile_dir, config={}, profiles=profs)
    table = scaling_table(res)
    assert {"model", "resolution", "params", "GMACs", "GMACs_paper_convention"} <= set(table)
    for name in set(table.model):
        macs = table[table.model == name].sort_values("resolution").GMACs.tolist()
        assert macs == sorted(macs) and macs[0] > 0
    assert (table.GMACs_paper_convention >= table.GMACs).all()


# --------------------------------------------------------------------------- CI gate
def test_check_passes_on_clean_tree():
    status, drifts = check.run_check(check.DEFAULT_BASELINE)
    assert status == 0, check.format_table(drifts)


def test_committed_baseline_covers_the_grid():
    entries = json.loads(check.DEFAULT_BASELINE.read_text())["entries"]
    for name in AVAILABLE:
        for r in (64, 256, 1024):
            if r in models.resolutions(name):
                assert check.entry_key("generator", name, r) in entries
    assert "discriminator/stylegan2@256" in entries


@pytest.fixture
def small_baseline(tmp_path):
    path = tmp_path / "baseline.json"
    check.write_baseline(path, check.measure_all(check.current_grid((64,))), (64,))
    return path


def test_check_fails_when_a_layer_gets_wider(small_baseline, monkeypatch, capsys):
    import models.stylegan2 as sg2

    real = sg2.stylegan_channels

    def wider(*args, **kwargs):
        ch = real(*args, **kwargs)
        return {**ch, 64: ch[64] + 16}

    monkeypatch.setattr(sg2, "stylegan_channels", wider)
    assert run(gate_cli.main, ["--baseline", str(small_baseline)]) == 1
    out = capsys.readouterr().out
    assert "generator/stylegan2@64" in out and "params" in out and "changed" in out
    assert "pixelfolder" not in out and "cips" not in out


def test_check_reports_new_models(small_baseline, monkeypatch):
    """A model the baseline never saw is listed as new and passes (tests/test_gate.py)."""
    builder = model_registry._GENERATORS["pixelfolder"]
    monkeypatch.setitem(model_registry._GENERATORS, "zz_new_model", builder)
    status, drifts = check.run_check(small_baseline)
    assert status == 0
    assert [(d.key, d.status) for d in drifts] == [("generator/zz_new_model@64", check.NEW)]


def test_check_update_then_clean(small_baseline, monkeypatch):
    import models.stylegan2 as sg2

    real = sg2.stylegan_channels
    monkeypatch.setattr(sg2, "stylegan_channels", lambda *a, **k: {**real(*a, **k), 64: 1024})
    assert run(gate_cli.main, ["--baseline", str(small_baseline), "--update"]) == 0
    assert json.loads(small_baseline.read_text())["generator_resolutions"] == [64]
    assert check.run_check(small_baseline)[0] == 0
    assert not list(small_baseline.parent.glob(".*.tmp"))


def test_check_macs_tolerance():
    base = {
        "k": {"params": 10, "macs": 1_000_000, "macs_paper_convention": 1_000_000, "macs_fir": 0}
    }
    close = {"k": {**base["k"], "macs": 1_000_900}}
    far = {"k": {**base["k"], "macs": 1_001_100}}
    assert check.compare(base, close) == []
    assert [d.field for d in check.compare(base, far)] == ["macs"]
    assert [d.field for d in check.compare(base, {"k": {**base["k"], "params": 11}})] == ["params"]


# --------------------------------------------------------------------------- bad input
BAD_ARGS = {
    "unknown model": ["--model", "nope", "--resolution", "256"],
    "not a power of two": ["--model", "stylegan2", "--resolution", "100"],
    "too large": ["--model", "stylegan2", "--resolution", "2048"],
    "too small": ["--model", "stylegan2", "--resolution", "16"],
    "not an int": ["--model", "stylegan2", "--resolution", "abc"],
    "batch zero": [
        "--model",
        "stylegan2",
        "--resolution",
        "64",
        "--latency",
        "[{resolution: 64, batch_sizes: [1, 0]}]",
    ],
    "batch text": [
        "--model",
        "stylegan2",
        "--resolution",
        "64",
        "--latency",
        "[{resolution: 64, batch_sizes: [1, x]}]",
    ],
    "batch empty": [
        "--model",
        "stylegan2",
        "--resolution",
        "64",
        "--latency",
        "[{resolution: 64, batch_sizes: []}]",
    ],
    "latency not YAML": ["--model", "stylegan2", "--resolution", "64", "--latency", "[{"],
    "repeats zero": ["--model", "stylegan2", "--resolution", "64", "--latency-repeats", "0"],
    "fvcore text": ["--model", "stylegan2", "--resolution", "64", "--fvcore-max-resolution", "x"],
    "override syntax": ["--model", "stylegan2", "--resolution", "64", "--build", "width"],
    "override key": ["--model", "stylegan2", "--resolution", "64", "--build", "bogus=1"],
}


@pytest.mark.parametrize("case", sorted(BAD_ARGS))
def test_bad_input_exits_2_without_output(case, tmp_path, capsys):
    out = tmp_path / "out.json"
    assert run(profiling_cli.main, [*BAD_ARGS[case], "--no-latency", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err and len(err.splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["folder cannot be made", "is a directory"])
def test_unwritable_out_exits_2(where, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    out = tmp_path / "file" / "x.json" if where == "folder cannot be made" else tmp_path
    argv = ["--model", "stylegan2", "--resolution", "64", "--no-latency", "--out", str(out)]
    assert run(profiling_cli.main, argv) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_cli_subprocess_exit_code(tmp_path):
    out = tmp_path / "x.json"
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.profiling",
        "--model",
        "nope",
        "--resolution",
        "256",
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and not out.exists()
    assert (
        proc.stderr.strip().splitlines() == [proc.stderr.strip()] and "unknown model" in proc.stderr
    )


def test_cli_writes_profile_atomically(tmp_path):
    out = tmp_path / "pf.json"
    argv = [
        "--model",
        "pixelfolder",
        "--resolution",
        "64",
        "--no-latency",
        "--latency",
        "[{resolution: 64, batch_sizes: [1]}]",
        "--out",
        str(out),
    ]
    assert run(profiling_cli.main, argv) == 0
    prof = json.loads(out.read_text())
    assert prof["model"] == "pixelfolder" and prof["macs"] > 0 and "latency" not in prof
    timed = ("latency", "blocks", "variants")  # the measures that run the model
    assert prof["measures"] == [m for m in registry.measure_names() if m not in timed]
    assert [p.name for p in tmp_path.iterdir()] == ["pf.json"]


# --------------------------------------------------------------------------- the profile section
def test_cli_flags_are_the_profile_section(tmp_path):
    """The job's knobs are the config's `profile` section, generated from settings.Profile: the
    rule's to_argv(section) parses back to the same section, and the batch sizes timed are the
    section's for this resolution only."""
    from common.sections import from_args, to_argv

    section = settings.Profile(
        latency=[settings.Latency(32, [1, 2])],
        latency_repeats=2,
        latency_warmup=0,
        latency_max_time=0.0,
        fvcore_max_resolution=16,
    )
    argv = to_argv(section, exclude=profiling_cli.NOT_PER_JOB)
    args = profiling_cli.parse_args([*args_of(32, argv), "--out", "x.json"])
    assert from_args(settings.Profile, args, exclude=profiling_cli.NOT_PER_JOB) == section
    cfg = section
    assert cfg.batch_sizes_at(32) == [1, 2] and cfg.batch_sizes_at(64) == []
    out = tmp_path / "sg.json"
    assert run(profiling_cli.main, [*args_of(32, argv), "--out", str(out)]) == 0
    prof = json.loads(out.read_text())
    assert set(prof["latency"]["by_batch"]) == {"1", "2"}
    assert set(prof["macs_by_counter"]) == {"flop_counter_mode", "ptflops_aten"}  # 32 > 16
    out64 = tmp_path / "sg64.json"
    assert run(profiling_cli.main, [*args_of(64, argv), "--out", str(out64)]) == 0
    assert "latency" not in json.loads(out64.read_text())  # not listed at 64: counted only


def args_of(resolution: int, section_argv: list[str]) -> list[str]:
    return [
        "--model",
        "stylegan2",
        "--resolution",
        str(resolution),
        "--device",
        "cpu",
        "--build",
        "width=0.0625",
        *section_argv,
    ]


# --------------------------------------------------------------------------- measure registry
TOY = {
    "name": "weight_mib",
    "label": "Weights, fp32",
    "unit": "MiB",
    "lower_is_better": True,
    "protocol": "parameters × 4 bytes (toy)",
}


@pytest.fixture
def clean_registry():
    """The registry as it was, after the test (a toy measure must not leak into other tests)."""
    saved = dict(registry._MEASURES)
    yield registry
    registry._MEASURES.clear()
    registry._MEASURES.update(saved)


BUILTIN = ["params", "macs", "fir", "memory", "traffic", "latency", "blocks", "variants"]


def test_builtin_measures_and_columns_declared():
    assert registry.measure_names() == BUILTIN
    for m in registry.measures():
        assert m.label and m.protocol and m.keys and m.columns
        assert isinstance(m.lower_is_better, bool)
    eff = [c.name for c in registry.columns("efficiency")]
    assert {"params", "GMACs", "GMACs_paper_convention", "GMACs_fir", "train_saved_MiB"} <= set(eff)
    assert registry.get("latency").table == "latency" and registry.get("macs").table is None
    lat = {c.name: c for c in registry.columns("latency")}
    assert lat["median_ms"].lower_is_better is True and lat["images_per_s"].lower_is_better is False
    assert lat["matmul_GMAC_per_s"].lower_is_better is None  # context: not a figure of merit
    assert registry.measure_of("GMACs_fir").name == "fir" and registry.measure_of("nope") is None


def test_every_builtin_column_reads_a_real_profile(profiles256):
    """No column reads a key the profile does not write (a typo would show as an empty cell)."""
    prof = profiles256["stylegan2"]
    timed = ("latency", "blocks", "variants")
    assert prof["measures"] == [m for m in BUILTIN if m not in timed]  # not timed
    written = {k for m in registry.measures() if m.name in prof["measures"] for k in m.keys}
    assert written <= set(prof)
    for c in registry.columns():
        if registry.measure_of(c.name).table is None:  # a row measure's columns read its rows
            value = c.value(prof)
            assert value == value, c.name  # not NaN
    assert registry.column("GMACs").value(prof) == pytest.approx(45.124673536)
    assert math.isnan(registry.column("GMACs").value({"model": "old"}))  # absent: empty cell


def test_latency_rows_read_every_latency_column():
    prof = efficiency.profile_model(
        "stylegan2",
        32,
        device="cpu",
        batch_sizes=(2, 1),
        warmup=0,
        repeats=2,
        max_time=0.0,
        counters=(counting.PRIMARY,),
        width=0.0625,
    )
    m = registry.get("latency")
    rows = m.rows(prof)
    assert [r["batch"] for r in rows] == [1, 2]
    for r in rows:
        for c in m.columns:
            value = c.value(r)
            assert value is None or value == value, c.name


def test_an_added_measure_goes_through_the_profile_into_the_tables(clean_registry, tmp_path):
    """What the docs promise: one decorated function registers a measure; the profile runs it
    and writes its key, and the report's tables show its column with label, unit and arrow."""
    from reports import tables
    from reports.collect import RunResults

    @registry.register_measure(**TOY)
    def weight_mib(ctx):
        return sum(p.numel() for p in ctx.generator().parameters()) * 4 / 2**20

    prof = efficiency.profile(
        "pixelfolder", 64, settings.Profile(), latency=False, counters=(counting.PRIMARY,)
    )
    assert prof["measures"][-1] == "weight_mib"
    assert prof["weight_mib"] == pytest.approx(prof["params"] * 4 / 2**20)
    res = RunResults(root=tmp_path, config={}, profiles=[prof])
    eff = tables.efficiency_table(res)
    assert eff["weight_mib"].iloc[0] == pytest.approx(prof["weight_mib"])
    assert "weight_mib" in tables.scaling_table(res)
    md = tables.to_markdown(eff, "efficiency")
    assert (
        "Weights, fp32 (MiB) ↓" in md and "`weight_mib` = Weights, fp32 (MiB) ↓: parameters" in md
    )


def test_registry_rejects_bad_declarations(clean_registry):
    def fn(ctx):
        return 1.0

    with pytest.raises(ValueError, match="registered twice"):
        registry.register_measure("params", **{k: v for k, v in TOY.items() if k != "name"})(fn)
    with pytest.raises(ValueError, match="profile key 'macs'"):
        registry.register_measure(**{**TOY, "keys": ["macs"]})(fn)
    with pytest.raises(ValueError, match="profile key 'model'"):
        registry.register_measure(**{**TOY, "keys": ["model"]})(fn)
    with pytest.raises(ValueError, match="column 'GMACs'"):
        registry.register_measure(**{**TOY, "columns": [registry.Column("GMACs", "x")]})(fn)
    with pytest.raises(ValueError, match="fmt"):
        registry.register_measure(**{**TOY, "columns": [registry.Column("w", "x", fmt="sig")]})(fn)
    assert registry.measure_names() == BUILTIN
    registry.register_measure(**{**TOY, "keys": ["a", "b"]})(fn)
    ctx = efficiency.context("pixelfolder", 64, settings.Profile())
    with pytest.raises(ValueError, match="declared"):
        registry.get("weight_mib")(ctx)  # returned one value for two declared keys


def test_profile_takes_the_typed_section():
    with pytest.raises(UsageError, match="counters must include"):
        efficiency.profile("pixelfolder", 64, settings.Profile(), counters=("fvcore",))
    with pytest.raises(UsageError, match="cannot build"):
        efficiency.profile("pixelfolder", 64, settings.Profile(), {"bogus": 1})
