"""A latency measurement cannot print an impossible figure: the matmul roof is sampled in the same
process between the timed runs, and a row whose utilization exceeds 1, or that was timed while
the roof moved more than timing.ROOF_DRIFT_LIMIT, is written with `valid: false` and a reason,
and the report shows it as invalid, never as a result."""

import itertools

import pandas as pd
import pytest

from benchmarks.profiling import timing
from benchmarks.profiling.measures import latency as profile

TINY = {"width": 0.0625, "z_dim": 32, "n_mlp": 2}
BATCHES = (1, 2)


def _latency(monkeypatch, roof_values, events=None):
    """measure_latency of a tiny StyleGAN2 with the roof sample replaced by `roof_values`."""
    values = iter(roof_values)

    def fake_roof(device, *a, **k):
        if events is not None:
            events.append("roof")
        return next(values)

    monkeypatch.setattr(timing, "matmul_macs_per_s", fake_roof)
    if events is not None:
        real = profile.time_callable

        def timed(*a, **k):
            events.append("time")
            return real(*a, **k)

        monkeypatch.setattr(profile, "time_callable", timed)
    return profile.measure_latency(
        "stylegan2", 32, "cpu", BATCHES, macs=1e6, warmup=0, repeats=2, **TINY
    )


def test_roof_is_sampled_before_each_batch_and_after_the_last(monkeypatch):
    events = []
    lat = _latency(monkeypatch, itertools.repeat(1e15), events)
    assert events == ["roof", "time", "roof", "time", "roof"]
    roof = lat["roof"]
    assert len(roof["samples_macs_per_s"]) == len(BATCHES) + 1
    assert roof["min_macs_per_s"] == roof["median_macs_per_s"] == roof["max_macs_per_s"] == 1e15
    assert roof["spread"] == 0 and roof["drift_limit"] == timing.ROOF_DRIFT_LIMIT
    assert lat["matmul_macs_per_s"] == 1e15
    for stats in lat["by_batch"].values():
        assert stats["valid"] is True and stats["invalid_reason"] is None
        assert 0 < stats["utilization"] < 1
        assert stats["roof_before_macs_per_s"] == stats["roof_after_macs_per_s"] == 1e15


def test_tiny_roof_makes_every_row_invalid(monkeypatch):
    lat = _latency(monkeypatch, itertools.repeat(1.0))  # 1 MAC/s: utilization ≫ 1
    for stats in lat["by_batch"].values():
        assert stats["utilization"] > 1
        assert stats["valid"] is False
        assert "utilization" in stats["invalid_reason"] and "> 1" in stats["invalid_reason"]


def test_drifting_roof_makes_rows_invalid(monkeypatch):
    drifting = [1e15, 0.7e15, 0.4e15]  # moved 75 % of its median during the job
    lat = _latency(monkeypatch, drifting)
    assert lat["roof"]["samples_macs_per_s"] == drifting
    assert lat["roof"]["spread"] == pytest.approx(0.6 / 0.7)
    for stats in lat["by_batch"].values():
        assert stats["utilization"] < 1  # plausible figure, still not a result
        assert stats["valid"] is False and "moved" in stats["invalid_reason"]
        assert f"limit {100 * timing.ROOF_DRIFT_LIMIT:.0f} %" in stats["invalid_reason"]


def test_small_drift_within_the_limit_stays_valid(monkeypatch):
    lat = _latency(monkeypatch, [1e15, 0.95e15, 1.05e15])
    assert lat["roof"]["spread"] == pytest.approx(0.1)
    assert all(s["valid"] for s in lat["by_batch"].values())


def test_check_row_thread_change_and_nan():
    roof = timing.Roof(device=None)
    roof.samples, roof.threads = [1e12, 1e12], [2, 2]
    assert roof.check_row(0.5, threads=2) is None
    assert "thread count" in roof.check_row(0.5, threads=1)
    assert "utilization" in roof.check_row(float("nan"), threads=2)


def test_report_shows_invalid_rows_as_invalid(monkeypatch, tmp_path):
    """The report's latency table: an invalid row has its reason in `status` and no figures in the
    human rendering; the throughput plot and Table 1 speed use valid rows only."""
    from reports import columns, tables
    from reports.collect import RunResults
    from reports.efficiency_plots import throughput

    good = _latency(monkeypatch, itertools.repeat(1e15))
    bad = _latency(monkeypatch, itertools.repeat(1.0))
    profiles = [
        {"model": "stylegan2", "resolution": 64, "latency": good},
        {"model": "pixelfolder", "resolution": 64, "latency": bad},
    ]
    res = RunResults(root=tmp_path, config={"models": {}, "datasets": {}}, profiles=profiles)
    lat = tables.latency_table(res)
    assert set(lat.columns) >= {
        "model",
        "batch",
        "valid",
        "invalid_reason",
        "utilization_vs_matmul",
    }
    invalid = lat[lat.model == "pixelfolder"]
    assert (~invalid.valid).all() and invalid.invalid_reason.str.contains("utilization").all()
    human = columns.display("latency", lat)
    shown = human[lat.model == "pixelfolder"]
    assert shown.filter(like="Utilization").iloc[:, 0].eq("—").all()
    assert shown["Status"].str.startswith("INVALID").all()
    assert human[lat.model == "stylegan2"]["Status"].eq("valid").all()
    assert throughput(lat, tmp_path) is not None
    svg = (tmp_path / "throughput_vs_batch.svg").read_text()
    assert "pixelfolder" not in svg and "stylegan2" in svg
    assert isinstance(lat, pd.DataFrame)
