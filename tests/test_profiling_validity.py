"""A latency measurement cannot print an impossible or unflagged figure: utilization is against
the attainable rate min(peak, bandwidth × intensity) of a roof that includes the model's own
rates, so it never exceeds 1 and the roof says when a model set it; the roof kernels are sampled
between the timing rounds; a row whose CI stays wide is `noisy` (still valid, figures shown);
only a changed thread count makes a row INVALID. Roof kernels are mocked here (fixed rates), so
the arithmetic is exact."""

import pandas as pd
import pytest
import torch

from benchmarks.profiling import roofline, timing
from benchmarks.profiling.measures import latency as profile
from common.settings import Profile

TINY = {"width": 0.0625, "z_dim": 32, "n_mlp": 2}
BATCHES = (1, 2)
BYTES = {1: 1e6, 2: 0.8e6}  # bytes per image at each batch (mocked)


def _roof(monkeypatch, rates, events=None):
    def rate(k, device):
        if events is not None:
            events.append("roof")
        return rates[k.name][0], 0.0

    monkeypatch.setattr(roofline, "best_rate", rate)
    kernels = [roofline.Kernel(n, None, 1.0, unit) for n, (_, unit) in rates.items()]
    return roofline.Roofline(torch.device("cpu"), kernels=kernels)


def _fake_times(monkeypatch, times, events=None):
    """Timed calls return `times` in turn without running the forward, one call per round."""
    it = iter(times)

    def timed(fn, device, flush):
        if events is not None:
            events.append("time")
        return next(it)

    monkeypatch.setattr(timing, "_timed_call", timed)
    monkeypatch.setattr(timing, "ROUND_S", 0.0)


def _latency(monkeypatch, rates, events=None, macs=1e6, times=None, **kw):
    """measure_latency of a tiny StyleGAN2 against a mocked roof; every forward timed at 10 ms
    unless `times` says otherwise; `kw` are `profile:` fields over the ones set here."""
    roof = _roof(monkeypatch, rates, events)
    _fake_times(monkeypatch, times or iter(lambda: 0.01, None), events)
    kw = {"latency_warmup": 0, "latency_repeats": 6, "latency_ci_target": 0.05,
          "latency_max_time": 0.0, **kw}  # fmt: skip
    return profile.measure_latency(
        "stylegan2", 32, "cpu", BATCHES, macs, Profile(**kw), roof=roof,
        bytes_per_image=BYTES.__getitem__, **TINY,
    )  # fmt: skip


HIGH = {"sgemm 256": (1e15, "macs"), "conv": (5e14, "macs"), "stream copy": (1e15, "bytes")}


def test_roof_kernels_are_sampled_between_timing_rounds(monkeypatch):
    events = []
    _latency(monkeypatch, HIGH, events)
    # a sweep of all three kernels first, then timed calls with roof turns between them
    assert events[:3] == ["roof"] * 3 and events[3] == "time"
    timed = [i for i, e in enumerate(events) if e == "time"]
    assert any(e == "roof" for e in events[timed[0] : timed[-1]])
    assert events[-1] == "roof"  # one more turn after the last batch


def test_attainable_and_utilization_follow_the_roofline(monkeypatch):
    lat = _latency(monkeypatch, HIGH, macs=1e6)
    roof = lat["roof"]
    assert roof["peak_macs_per_s"] == 1e15 and roof["peak_kernel"] == "sgemm 256"
    assert roof["kernels"] == {"sgemm 256": 1e15, "conv": 5e14}
    assert roof["bandwidth_bytes_per_s"] == 1e15 and roof["bandwidth_kernel"] == "stream copy"
    assert set(roof) >= {"isa", "theoretical_peak_macs_per_s", "dtype"}
    for b, s in lat["by_batch"].items():
        intensity = 1e6 / BYTES[int(b)]
        assert s["intensity_macs_per_byte"] == pytest.approx(intensity)
        assert s["attainable_macs_per_s"] == pytest.approx(min(1e15, 1e15 * intensity))
        assert s["utilization"] == pytest.approx(
            s["achieved_macs_per_s"] / s["attainable_macs_per_s"]
        )
        assert 0 < s["utilization"] < 1 and s["valid"] is True
        assert s["ci95_ms"] == [10.0, 10.0] and s["median_ms"] == 10.0
        assert s["noisy"] is False and s["repeats"] == 6  # identical times: the CI is a point
    assert set(lat["load"]) >= {"loadavg", "steal_fraction", "cpu_busy_other"}


def test_a_model_faster_than_every_kernel_sets_the_peak(monkeypatch):
    """A roof of 1 MAC/s: the model is faster, so its rate is the peak and named; utilization
    is exactly 1 for the fastest row and ≤ 1 for all, never an INVALID row."""
    slow = {"sgemm 256": (1.0, "macs"), "stream copy": (1e15, "bytes")}
    lat = _latency(monkeypatch, slow)
    roof = lat["roof"]
    assert roof["peak_kernel"].startswith("model:stylegan2 batch ")
    best = max(s["achieved_macs_per_s"] for s in lat["by_batch"].values())
    assert roof["peak_macs_per_s"] == best
    utils = [s["utilization"] for s in lat["by_batch"].values()]
    assert max(utils) == pytest.approx(1.0) and all(u <= 1 for u in utils)
    assert all(s["valid"] for s in lat["by_batch"].values())


def test_a_model_above_stream_bandwidth_sets_the_bandwidth(monkeypatch):
    """Operands served from cache move faster than STREAM: the model's implied byte rate is the
    bandwidth roof then, so a memory-bound row still has utilization ≤ 1."""
    starved = {"sgemm 256": (1e15, "macs"), "stream copy": (1.0, "bytes")}
    lat = _latency(monkeypatch, starved)
    assert lat["roof"]["bandwidth_kernel"].startswith("model:stylegan2 batch ")
    assert all(0 < s["utilization"] <= 1 + 1e-12 for s in lat["by_batch"].values())


def test_sgemm_sizes_too_slow_for_the_budget_are_skipped(monkeypatch):
    rates = {"sgemm 256": (1e6, "macs"), "sgemm 512": (1e6, "macs")}
    roof = _roof(monkeypatch, rates)
    roof.sweep()
    assert "sgemm 512" in roof.skipped and "sgemm 512" not in roof.samples


def test_wide_ci_is_noisy_not_invalid(monkeypatch):
    lat = _latency(monkeypatch, HIGH, times=[1e-3, 3e-3] * 100)
    for s in lat["by_batch"].values():
        assert s["noisy"] is True and s["valid"] is True and s["invalid_reason"] is None
        assert "95 % CI" in s["noisy_reason"] and "target ±5 %" in s["noisy_reason"]


def test_too_few_repeats_for_a_ci_is_noisy(monkeypatch):
    lat = _latency(monkeypatch, HIGH, latency_repeats=2)
    for s in lat["by_batch"].values():
        assert s["repeats"] >= 2
        if s["repeats"] < timing.CI_MIN_REPEATS:
            assert s["noisy"] and "cannot bound a median" in s["noisy_reason"]


def test_thread_change_makes_rows_invalid(monkeypatch):
    roof = _roof(monkeypatch, HIGH)
    _fake_times(monkeypatch, iter(lambda: 0.01, None))
    roof.threads.append(torch.get_num_threads() + 1)  # as if the roof ran on other threads
    lat = profile.measure_latency(
        "stylegan2", 32, "cpu", (1,), 1e6,
        Profile(latency_warmup=0, latency_repeats=6, latency_ci_target=1.0, latency_max_time=0.0),
        roof=roof, bytes_per_image=BYTES.__getitem__, **TINY,
    )  # fmt: skip
    s = lat["by_batch"]["1"]
    assert s["valid"] is False and "thread count" in s["invalid_reason"]


def test_report_shows_noisy_rows_with_figures_and_invalid_rows_without(monkeypatch, tmp_path):
    """The report's latency table: a noisy row keeps its figures and says `noisy: <why>`; an
    invalid row has its reason in `status` and no figures; the throughput plot draws valid rows."""
    from reports import columns, tables
    from reports.collect import RunResults
    from reports.efficiency_plots import throughput_frame

    good = _latency(monkeypatch, HIGH)
    noisy = _latency(monkeypatch, HIGH, times=[1e-3, 3e-3] * 100)
    bad = _latency(monkeypatch, HIGH)
    for s in bad["by_batch"].values():
        s.update(valid=False, invalid_reason="thread count changed during the job ([1, 2])")
    profiles = [
        {"model": "stylegan2", "resolution": 64, "latency": good},
        {"model": "cips", "resolution": 64, "latency": noisy},
        {"model": "pixelfolder", "resolution": 64, "latency": bad},
    ]
    keyed = {(p["model"], p["resolution"]): p for p in profiles}
    res = RunResults(root=tmp_path, config={"models": {}, "datasets": {}}, profiles=keyed)
    lat = tables.latency_table(res)
    assert set(lat.columns) >= {
        "model", "batch", "valid", "invalid_reason", "noisy", "noisy_reason", "ci95_lo_ms",
        "ci95_hi_ms", "intensity_at_batch", "attainable_GMAC_per_s", "utilization_vs_attainable",
    }  # fmt: skip
    human = columns.display("latency", lat)
    shown_bad = human[lat.model == "pixelfolder"]
    assert shown_bad.filter(like="Utilization").iloc[:, 0].eq("—").all()
    assert shown_bad["Status"].str.startswith("INVALID: thread count").all()
    shown_noisy = human[lat.model == "cips"]
    assert shown_noisy["Status"].str.startswith("noisy: 95 % CI").all()
    assert not shown_noisy.filter(like="Utilization").iloc[:, 0].eq("—").any()
    assert human[lat.model == "stylegan2"]["Status"].eq("valid").all()
    drawn = throughput_frame(lat)  # what the throughput plot may draw: valid rows only
    assert "pixelfolder" not in set(drawn.model) and {"stylegan2", "cips"} <= set(drawn.model)
    assert isinstance(lat, pd.DataFrame)
