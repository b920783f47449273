"""The measure registry (benchmarks/profiling/registry.py): the built-in measures declare their
columns, every column reads a key a real profile writes, the latency measure's rows fill every
latency column, a measure added as the docs say goes through the profile into the report's
tables, and bad declarations are refused; the scaling table reads the same profiles. One tiny
latency run at 32×32; the 256-px profiles are the session's (tests/conftest.py)."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks.profiling import counting, registry
from benchmarks.profiling import profile as efficiency
from common import settings


# --------------------------------------------------------------------------- latency (tiny)
def tiny_timing(*batch_sizes: int) -> settings.Profile:
    """A `profile:` section timing `batch_sizes` at 32 px with two forwards each, no warm-up."""
    return settings.Profile(
        latency=[settings.Latency(32, list(batch_sizes))],
        latency_warmup=0,
        latency_repeats=2,
        latency_max_time=0.0,
    )


def test_latency_section_small():
    prof = efficiency.profile(
        "stylegan2",
        32,
        tiny_timing(1, 2),  # the minimum repeats only: this test is about the section's shape
        device="cpu",
        counters=(counting.PRIMARY,),
    )
    lat = prof["latency"]
    assert set(lat["by_batch"]) == {"1", "2"} and lat["matmul_macs_per_s"] > 0
    assert lat["device_info"]["device"] == "cpu"
    for b, s in lat["by_batch"].items():
        assert s["median_ms"] > 0 and s["repeats"] >= 2 and s["utilization"] > 0
        assert s["achieved_macs_per_s"] == pytest.approx(
            prof["macs"] * int(b) / (s["median_ms"] / 1e3)
        )


# --------------------------------------------------------------------------- scaling
def test_scaling_table_from_profiles(profile_dir):
    from reports.collect import RunResults
    from reports.tables import scaling_table

    profs = [json.loads(p.read_text()) for p in sorted(profile_dir.glob("*.json"))]
    profs = [p for p in profs if p.get("schema") == efficiency.SCHEMA]
    res = RunResults(
        root=profile_dir, config={}, profiles={(p["model"], p["resolution"]): p for p in profs}
    )
    table = scaling_table(res)
    assert {"model", "resolution", "params", "GMACs", "GMACs_paper_convention"} <= set(table)
    for name in set(table.model):
        macs = table[table.model == name].sort_values("resolution").GMACs.tolist()
        assert macs == sorted(macs) and macs[0] > 0
    assert (table.GMACs_paper_convention >= table.GMACs).all()


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
    prof = efficiency.profile(
        "stylegan2",
        32,
        tiny_timing(2, 1),
        {"width": 0.0625},
        device="cpu",
        counters=(counting.PRIMARY,),
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
    res = RunResults(root=tmp_path, config={}, profiles={("pixelfolder", 64): prof})
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


def test_a_measure_runs_after_what_it_needs_whatever_the_import_order(clean_registry):
    """`needs` orders the run, not the import line: a measure registered before the one it needs
    still runs after it; where that one does not run, neither does the measure; an unknown need
    or a cycle names itself."""
    ran = []

    def toy(name, needs=(), applies=None):
        def fn(ctx):
            ran.append(name)
            return 1.0

        spec = {**TOY, "name": name, "label": name, "needs": needs, "applies": applies}
        registry.register_measure(**spec)(fn)

    toy("late", needs=("early",))  # imported first, needs the one after it
    toy("early")
    assert [m.name for m in registry.run_order()][-2:] == ["early", "late"]
    assert registry.measure_names()[-2:] == ["late", "early"]  # columns keep the import order
    prof = efficiency.profile(
        "pixelfolder", 32, settings.Profile(), latency=False, counters=(counting.PRIMARY,)
    )
    assert ran == ["early", "late"] and prof["measures"][-2:] == ["early", "late"]

    toy("gated", applies=lambda ctx: False)
    toy("after_gated", needs=("gated",))
    ran.clear()
    prof = efficiency.profile(
        "pixelfolder", 32, settings.Profile(), latency=False, counters=(counting.PRIMARY,)
    )
    assert "after_gated" not in prof["measures"] and "after_gated" not in ran

    toy("orphan", needs=("nowhere",))
    with pytest.raises(ValueError, match="'orphan' needs 'nowhere', which is not registered"):
        registry.run_order()
    del registry._MEASURES["orphan"]
    toy("a", needs=("b",))
    toy("b", needs=("a",))
    with pytest.raises(ValueError, match="cycle: a -> b -> a"):
        registry.run_order()
