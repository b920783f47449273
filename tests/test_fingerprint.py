"""The device fingerprint: recorded in every latency profile on CPU (what the OS and torch say of
the machine, and what the roof kernels did), named in the report's header, and absent from older
profiles without breaking anything. Roof kernels are mocked (fixed rates in turn), so the
measured part is exact; the static part is this machine's own, checked for consistency (torch
cannot dispatch to an ISA the flags lack), not against fixed values."""

from __future__ import annotations

import os
import stat

import pytest
import torch

from benchmarks.profiling import timing
from benchmarks.profiling.measures import latency as profile
from common import provenance as P
from common.settings import Profile
from reports import render
from reports.collect import RunResults
from reports.runs import device_line, fingerprint_line
from tests.report_results import latency_profile, mocked_roof, roof_fingerprint

TINY = {"width": 0.0625, "z_dim": 32, "n_mlp": 2}
# what torch's dispatch level implies the CPU flags must contain
IMPLIED = {"AVX2": {"avx2"}, "AVX512": {"avx2", "avx512f"}}


def test_the_latency_profile_records_the_fingerprint_on_cpu(monkeypatch):
    rates = {
        "sgemm 256": ("macs", [90e9, 95e9, 80e9, 99e9]),
        "conv": ("macs", [105e9, 116e9, 110e9, 112e9]),
        "stream copy": ("bytes", [18e9, 20e9, 19e9, 20e9]),
    }
    roof = mocked_roof(monkeypatch, rates)
    for _ in range(4):  # every rate above recorded once; the job's turns repeat them
        roof.sweep()
    monkeypatch.setattr(timing, "_timed_call", lambda fn, device, flush: 1.0)  # 1e12 MAC/s
    monkeypatch.setattr(timing, "ROUND_S", 0.0)
    lat = profile.measure_latency(
        "stylegan2", 32, "cpu", (1,), 1e12,
        Profile(latency_warmup=0, latency_repeats=2, latency_ci_target=0.05, latency_max_time=0.0),
        roof=roof, bytes_per_image=lambda b: 1e9, **TINY,
    )  # fmt: skip
    fp = lat["fingerprint"]
    assert lat["roof"]["peak_kernel"] == "model:stylegan2 batch 1"  # 1e12 MAC/s beat the kernels
    cpu = fp["cpu"]
    assert fp["device"] == "cpu" and fp["gpu"] is None
    assert fp["threads"] == torch.get_num_threads() == lat["device_info"]["threads"]
    assert isinstance(cpu["model"], str) and cpu["model"]
    assert len(cpu["flags_sha256"]) == 64 and set(cpu["isa_flags"]) <= set(P.ISA_FLAGS)
    assert IMPLIED.get(cpu["torch_isa"], set()) <= set(cpu["isa_flags"])
    assert cpu["logical_cpus"] == os.cpu_count() and cpu["usable_cpus"] <= cpu["logical_cpus"]
    assert cpu["physical_cores"] is None or cpu["physical_cores"] <= cpu["logical_cpus"]
    # the machine's part: the kernels only, not the model that set the job's roof
    r = fp["roof"]
    assert (r["peak_macs_per_s"], r["peak_kernel"]) == (116e9, "conv")
    assert r["peak_range_macs_per_s"] == [105e9, 116e9] and r["peak_samples"] >= 4
    assert (r["bandwidth_bytes_per_s"], r["bandwidth_range_bytes_per_s"]) == (20e9, [18e9, 20e9])


def test_isa_flags_take_either_spelling_and_the_summary_names_the_widest():
    assert P.isa_flags(["AVX2", "avx512vnni", "avx512f", "foo"]) == [
        "avx2",
        "avx512f",
        "avx512_vnni",
    ]
    assert P.isa_summary(["avx2", "avx512f", "avx512_bf16"]) == "AVX-512 (bf16)"
    assert P.isa_summary(["avx512f", "avx512_bf16", "avx512_fp16", "amx_tile"]) == (
        "AVX-512 (bf16, fp16, AMX)"
    )
    assert P.isa_summary(["sse4_2", "avx", "avx2"]) == "AVX2"
    assert P.isa_summary(["asimd", "sve"]) == "SVE" and P.isa_summary(["asimd"]) == "NEON"
    assert P.isa_summary([]) == "baseline ISA"


def test_nvidia_smi_is_guarded_and_parsed(tmp_path, monkeypatch):
    """No CUDA here: the query runs against a stand-in nvidia-smi on PATH."""
    monkeypatch.setenv("PATH", str(tmp_path))
    assert P.nvidia_smi("00000000:3B:00.0") == {"error": "nvidia-smi not found"}
    smi = tmp_path / "nvidia-smi"
    smi.write_text('#!/bin/sh\necho "1980, 1980, 1755, 2619, 2619, 700.00, 81559, 580.1"\n')
    smi.chmod(smi.stat().st_mode | stat.S_IEXEC)
    got = P.nvidia_smi("00000000:3B:00.0")
    assert got["clocks.applications.graphics"] == "1755" and got["driver_version"] == "580.1"
    smi.write_text("#!/bin/sh\necho 'No devices were found' >&2\nexit 6\n")
    assert P.nvidia_smi("00000000:3B:00.0")["error"].startswith("nvidia-smi failed:")


def test_the_header_names_the_fingerprint_and_says_when_there_is_none(monkeypatch):
    cpu = {"model": "AMD EPYC 9R14", "isa_flags": ["avx2", "avx512f", "avx512_bf16"]}
    fp = roof_fingerprint(monkeypatch, [105e9, 110e9, 116e9], cpu=cpu)
    threads = torch.get_num_threads()
    assert fingerprint_line(fp) == (
        f"AMD EPYC 9R14, {threads} threads, AVX-512 (bf16), peak 116 GMAC/s [105–116], "
        "STREAM 20 GB/s"
    )
    gpu = {"name": "NVIDIA H100", "memory_bytes": 80 * 2**30, "max_sm_clock_mhz": 1980.0}
    smi = {"nvidia_smi": {"clocks.applications.graphics": "[N/A]"}}
    assert fingerprint_line({**fp, "gpu": {**gpu, **smi}}).startswith(
        "NVIDIA H100, 80 GiB, SM clock 1980 MHz, peak 116 GMAC/s"
    )  # application clocks not reported: the maximum
    res = RunResults(
        root=None, config={"run": "x"}, profiles={("cips", 64): latency_profile("cips", 9, fp)}
    )
    assert f"Timing device: cpu (AMD EPYC, 2 threads), machine: {fingerprint_line(fp)}" in (
        render.provenance(res)
    )
    old = [latency_profile("cips", 9, None)]
    assert device_line(old) == "cpu (AMD EPYC, 2 threads), machine: fingerprint not recorded"
    assert device_line([{"model": "cips"}]) == "not recorded"


def test_a_run_is_named_by_its_fastest_job(monkeypatch):
    """One job whose kernels ran slow does not make the run's machine slow (device_roof's
    rule); a job without a fingerprint next to one with it does not hide it."""
    slow = roof_fingerprint(monkeypatch, [117e9])
    fast = roof_fingerprint(monkeypatch, [214e9, 234e9])
    profiles = [latency_profile(m, 9, fp) for m, fp in (("a", None), ("b", slow), ("c", fast))]
    assert "peak 234 GMAC/s [214–234]" in device_line(profiles)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_the_gpu_part_is_recorded_on_cuda():
    fp = P.machine_fingerprint("cuda")
    gpu = fp["gpu"]
    assert gpu["name"] == torch.cuda.get_device_name(0) and gpu["memory_bytes"] > 0
    assert gpu["sms"] > 0 and "error" not in gpu["nvidia_smi"], gpu["nvidia_smi"]
