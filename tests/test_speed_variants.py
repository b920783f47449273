"""The speed-variant grid (benchmarks/profiling/speed_variants.py, measures/variants.py): its
verdicts, its error model, a variant that fails without stopping the grid, and one real grid on
a narrow generator through the profiler, the measure's rows and the report's plot.

No test here asserts a time: speeds are only checked to be positive and their intervals to
contain their medians; what a variant gains is the benchmark suite's business
(benchmarks/suites/test_speed_variants.py)."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from benchmarks.profiling import counting, registry
from benchmarks.profiling import profile as efficiency
from benchmarks.profiling import speed_variants as sv
from common import settings
from reports import variant_plots
from training import speed_variant

NARROW = {"width": 0.0625, "z_dim": 64, "n_mlp": 2}


@pytest.fixture(autouse=True)
def one_thread():
    """Mechanism, not speed: one thread (two OpenMP threads spin-wait on a loaded 2-core box)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --------------------------------------------------------------------------- verdicts
def test_verdicts_on_synthetic_numbers():
    """Faster with the low end of its interval above 1 and within the bound: faithful; faster
    but past the bound (or not finite): says the bound; an interval reaching 1 or below: no
    gain, whatever the error."""
    assert sv.verdict(1.2, 1e-6, 1e-4) == sv.FAITHFUL
    assert sv.verdict(1.2, 1e-4, 1e-4) == sv.FAITHFUL  # on the bound: within it
    beyond = sv.verdict(1.2, 3e-3, 1e-4)
    assert beyond.startswith(sv.BEYOND) and "1.0e-04" in beyond
    assert sv.verdict(1.2, None, 1e-4).startswith(sv.BEYOND)  # NaN/inf output
    assert sv.verdict(1.2, float("nan"), 1e-4).startswith(sv.BEYOND)
    assert sv.verdict(1.0, 1e-6, 1e-4) == sv.NO_GAIN  # interval touches 1
    assert sv.verdict(0.7, 1e-6, 1e-4) == sv.NO_GAIN  # slower
    assert sv.verdict(0.7, 1.0, 1e-4) == sv.NO_GAIN


def test_a_noisy_timing_is_inconclusive_and_eager_around_a_variant_is_pooled():
    """A variant is judged against eager timed just before and after it (both pooled), and a
    CI wider than the target on either side makes the verdict inconclusive, whatever the
    ratio says (the latency table's and speed claims' rule)."""
    before = {"times_ms": [10.0] * 6}
    after = {"times_ms": [12.0] * 6}
    ref = sv.reference(before, after)
    assert ref["ci95_ms"][0] == 10.0 and ref["ci95_ms"][1] == 12.0  # straddles the change
    y0 = torch.ones(4)
    rec = {"variant": "channels_last", "median_ms": 5.0, "ci95_ms": [4.9, 5.1]}
    rec.update(ci_half_width=0.02, output=y0.clone())
    model = {"depth": 4, "k_max": 16}
    sv.judge(rec, ref, y0, model, ci_target=0.05)
    assert rec["verdict"].startswith(sv.INCONCLUSIVE) and "eager ±9 %" in rec["verdict"]  # 1 ÷ 11
    quiet = sv.reference({"times_ms": [10.0] * 6}, {"times_ms": [10.0] * 6})
    sv.judge(rec, quiet, y0, model, ci_target=0.05)
    assert rec["verdict"] == sv.FAITHFUL and rec["speedup"] == pytest.approx(2.0)


# --------------------------------------------------------------------------- error model
def test_error_bound_is_the_stated_formula_and_reduction_lengths_are_counted():
    """bound = √L·(2·u_f + 2·u32·√K); L and K are the conv/matmul ops of a forward and the
    largest of their reduction lengths (conv: in/groups·kh·kw; linear: in features)."""
    assert sv.error_bound(0.0, 16, 4096) == pytest.approx(4 * 2 * 2**-24 * 64)
    assert sv.error_bound(2**-8, 9, 1) == pytest.approx(3 * (2 * 2**-8 + 2 * 2**-24))
    toy = nn.Sequential(
        nn.Conv2d(4, 8, 3), nn.Conv2d(8, 8, 3, groups=2), nn.Flatten(), nn.LazyLinear(5)
    )
    toy(torch.zeros(1, 4, 8, 8))  # materialise the lazy layer
    assert sv.reduction_lengths(toy, torch.zeros(1, 4, 8, 8)) == [36, 36, 8 * 4 * 4]
    m = sv.error_model("stylegan2", 32, 1, "cpu", **NARROW)
    assert m["depth"] >= 10 and m["k_max"] == max(
        sv.reduction_lengths(*_meta_forward("stylegan2", 32))
    )


def _meta_forward(name, res):
    with torch.device("meta"):
        import models

        g = models.build(name, res, **NARROW).eval()
    return g, torch.zeros(1, g.z_dim, device="meta")


def _chain(depth: int, k: int, seed: int = 0):
    """`depth` normalised layers of width k (unit gain: the model's assumption made true)."""
    gen = torch.Generator().manual_seed(seed)
    ws = [torch.randn(k, k, generator=gen) / math.sqrt(k) for _ in range(depth)]

    def run(x, dtype=None, perm=None):
        for w in ws:
            if dtype is not None:
                x = (x.to(dtype) @ w.to(dtype)).float()
            elif perm is not None:  # the same sums in another order
                x = x[:, perm] @ w[perm]
            else:
                x = x @ w
            x = x / x.pow(2).mean().sqrt()
        return x

    return run, torch.randn(64, k, generator=gen), ws


@pytest.mark.numerics
def test_error_model_separates_rounding_from_a_broken_output():
    """On a chain of L unit-gain layers (K = 256), where the model's assumptions hold: fp32 in
    another summation order stays within the reordering bound and bf16 operands within the bf16
    bound, both against fp32 in torch's order (measured: 0.14 and 0.37 of them); a real change
    (one weight entry per layer moved by 1 % of the largest) lands ~140× outside the reordering
    bound. The error is max |Δ| ÷ max |y|, as the grid reads it."""
    L, K = 12, 256
    run, x, ws = _chain(L, K)
    exact = run(x)
    perm = torch.randperm(K, generator=torch.Generator().manual_seed(1))
    reordered = run(x, perm=perm)
    bf16 = run(x, dtype=torch.bfloat16)
    rel = lambda y: float((y - exact).abs().max() / exact.abs().max())  # noqa: E731
    assert rel(reordered) <= sv.error_bound(0.0, L, K)
    assert rel(bf16) <= sv.error_bound(sv.UNIT_ROUNDOFF["bf16"], L, K)
    assert rel(bf16) > sv.error_bound(0.0, L, K)  # bf16 is not a reordering
    for w in ws:
        w[0, 0] += 0.01 * w.abs().max()
    assert rel(run(x)) > 10 * sv.error_bound(0.0, L, K)


# --------------------------------------------------------------------------- a failing variant
def test_a_failing_compile_is_one_line_and_the_grid_goes_on(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("inductor exploded\n  at line 3\n  somewhere deep")

    monkeypatch.setattr(torch, "compile", broken)
    monkeypatch.setattr(sv, "_cxx", lambda: "/usr/bin/g++")  # the compiler check passes
    g = counting.build_generator("stylegan2", 32, "cpu", **NARROW).eval()
    z = torch.randn(1, g.z_dim, generator=torch.Generator().manual_seed(0))
    knobs = settings.Profile(
        latency_warmup=0, latency_repeats=2, latency_ci_target=1.0, latency_max_time=0.0
    )
    roof = SimpleNamespace(step=lambda: None)
    work = sv.Work(macs=1e6, bytes_per_image=1e6, batch=1)
    model = {"depth": 10, "k_max": 64}
    rows = sv.run_grid(g, z, ["compile", "channels_last"], knobs, roof, work, model)
    assert [r["variant"] for r in rows] == ["eager", "compile", "channels_last"]
    failed = rows[1]
    assert failed["status"] == "failed" and "\n" not in failed["why"]
    assert failed["why"] == "RuntimeError: inductor exploded at line 3 somewhere deep"
    assert failed["verdict"] == f"failed: {failed['why']}"
    assert rows[2]["status"] == "timed" and rows[2]["median_ms"] > 0  # the grid went on


def test_unavailable_variants_say_why_in_one_line(monkeypatch):
    cpu = torch.device("cpu")
    for v in ("tf32", "fp16", "cuda_graphs"):
        assert "CUDA" in sv.why_not(v, cpu)
    monkeypatch.setattr(sv.shutil, "which", lambda name: None)
    monkeypatch.delenv("CXX", raising=False)
    why = sv.why_not("compile", cpu)
    assert "C++ compiler" in why and "apt-get install g++" in why and "\n" not in why
    monkeypatch.setattr(sv, "_native_bf16_cpu", lambda: False)
    assert "AVX-512 BF16" in sv.why_not("bf16", cpu)
    assert sv.why_not("channels_last", cpu) is None


# --------------------------------------------------------------------------- a real small grid
@pytest.mark.numerics
def test_real_grid_on_a_narrow_generator_fills_every_field(tmp_path):
    """The profiler's job at 32 px, batch 1, narrow StyleGAN2: eager, channels-last, bf16 (timed
    where the CPU has native bf16, else skipped saying why) and tf32 (skipped on CPU). Every
    column of a timed row has a value; channels-last is a reordering (its error within the
    reordering bound, docs/roofline.md 'Speed variants'); the plot is drawn from the rows."""
    cfg = settings.validate(
        {
            "latency": [{"resolution": 32, "batch_sizes": [1]}],
            "latency_warmup": 1,
            "latency_repeats": 6,
            "latency_max_time": 0.5,
            "variants": ["channels_last", "bf16", "tf32"],
            "variants_at": {"resolution": 32, "batch": 1},
        },
        settings.Profile,
        where="test",
    )
    prof = efficiency.profile(
        "stylegan2", 32, cfg, NARROW, device="cpu", counters=(counting.PRIMARY,)
    )
    assert "variants" in prof["measures"]
    measure = registry.get("variants")
    rows = measure.rows(prof)
    assert [r["variant"] for r in rows] == ["eager", "channels_last", "bf16", "tf32"]
    timed = [r for r in rows if r["status"] == "timed"]
    assert [r["variant"] for r in timed][:2] == ["eager", "channels_last"]
    for r in timed:
        for c in measure.columns:
            if r["variant"] == "eager" and c.name in ("speedup_lo", "speedup_hi", "error_bound"):
                continue  # the baseline has no interval against itself and no bound
            v = c.value(r)
            assert v is not None and v == v, (r["variant"], c.name)
        assert r["median_ms"] > 0 and r["warmup_s"] > 0 and r["utilization"] > 0
        assert r["ci95_lo_ms"] <= r["median_ms"] <= r["ci95_hi_ms"]
    cl = rows[1]
    assert cl["speedup_lo"] <= cl["speedup"] <= cl["speedup_hi"]
    assert cl["max_rel_err"] <= cl["error_bound"]
    assert cl["verdict"] in (sv.FAITHFUL, sv.NO_GAIN) or cl["verdict"].startswith(sv.INCONCLUSIVE)
    assert cl["eager_ms"] > 0  # judged against eager timed around it
    bf16 = rows[2]
    if bf16["status"] == "timed":
        assert bf16["max_rel_err"] <= bf16["error_bound"]
    else:
        assert bf16["status"] == "skipped" and "AVX-512 BF16" in bf16["why"]
    assert rows[3]["status"] == "skipped" and "CUDA" in rows[3]["why"]
    # what `train.speed_variant: auto` takes from this very file (training.speed_variant)
    (tmp_path / "profile.json").write_text(json.dumps(prof))
    choice = speed_variant.pick(tmp_path / "profile.json", "stylegan2", torch.device("cpu"))
    faithful = {r["variant"]: r["speedup"] for r in rows if r["verdict"] == sv.FAITHFUL}
    expected = max(faithful, key=faithful.get) if faithful else "eager"
    assert choice["variant"] == expected, (choice, faithful)
    path, why = variant_plots.speedup_vs_error(
        SimpleNamespace(profiles={("stylegan2", 32): prof}), tmp_path
    )
    assert why is None and path.exists() and path.with_suffix(".svg").exists()


def test_plot_says_why_when_there_is_no_timed_variant(tmp_path):
    none = SimpleNamespace(profiles={("x", 64): {"model": "x", "resolution": 64}})
    assert variant_plots.figures(none, tmp_path) == {}  # no grid asked for: no figure, no note
    path, why = variant_plots.speedup_vs_error(none, tmp_path)
    assert path is None and "profile.variants" in why
