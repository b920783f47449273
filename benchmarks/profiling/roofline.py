"""The device's measured roofline: a compute peak and a memory bandwidth, sampled in the timed
process between the model's timing rounds (the empirical-roofline approach of LBNL's ERT).

Why a sweep and not one matmul: no single kernel is the device's limit. On a 2-core CPU a
channels-last 3×3 conv outran a 1024³ sgemm, and a generator's own forward outran both; on a GPU
a 1024³ matmul is far below peak. So the compute peak is the best rate seen over several kernels
in the timed dtype (sgemm at several sizes, a channels-last 3×3 conv, a batched matmul) AND the
model's own achieved rate (`Roofline.offer`): utilization cannot exceed 1, and when a model set
the peak the roof says so (`peak_kernel` = "model:<name> batch <b>").

Bandwidth is STREAM's copy (2 arrays moved) and triad (3 arrays), each array several times the
last-level cache so the traffic is DRAM traffic, bytes counted the STREAM way (no write-allocate
traffic). The byte counter (bytecount.py) counts every operand from memory, an upper bound on
DRAM traffic; a model whose operands stay in cache moves them faster than DRAM, so its implied
byte rate (achieved MAC/s ÷ intensity) can exceed STREAM. That rate is offered to the bandwidth
roof like the model's MAC rate to the peak, so attainable = min(peak, bandwidth × intensity)
never falls below what the model did (`bandwidth_kernel` names the model then).

Rates are the best per kernel over the job's samples: load on a shared machine only slows a
kernel, so the best sample is the closest to the device's capability.
"""

from __future__ import annotations

import glob
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from common.provenance import machine_fingerprint

from .timing import sync

# sgemm sizes per device type; a size is skipped when the previous size predicts (×8 per
# doubling) a call longer than MAX_CALL_S, so a slow or loaded device stays within its budget
SGEMM_SIZES = {"cpu": (256, 512, 1024, 2048), "cuda": (1024, 2048, 4096, 8192)}
MAX_CALL_S = 0.1
SAMPLE_S = 0.05  # timed calls per sample continue until this long (at least MIN_CALLS calls)
MIN_CALLS = 2
STREAM_MIN_BYTES = 64 * 2**20  # array size floor when the cache size cannot be read
STREAM_CACHE_MULTIPLE = 4  # STREAM's rule: each array ≥ 4 × the last-level cache


@dataclass
class Kernel:
    """One roof kernel: `run()` does `work` units (MACs or bytes) per call."""

    name: str
    run: Callable[[], object]
    work: float
    unit: str  # "macs" | "bytes"


def best_rate(kernel: Kernel, device: torch.device) -> tuple[float, float]:
    """(best work/s over the sample's calls, seconds of one call): one untimed call, then calls
    until SAMPLE_S passed and at least MIN_CALLS were made."""
    kernel.run()
    sync(device)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < MIN_CALLS or time.perf_counter() - start < SAMPLE_S:
        t0 = time.perf_counter()
        kernel.run()
        sync(device)
        times.append(time.perf_counter() - t0)
    best = min(times)
    return kernel.work / best, best


def _sgemm(n: int, device, dtype) -> Kernel:
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    return Kernel(f"sgemm {n}", lambda: a @ b, float(n) ** 3, "macs")


def _conv(device, dtype) -> Kernel:
    """A 3×3, 128→128-channel conv on a 64² channels-last map (a generator's typical layer)."""
    c, hw = 128, 64
    x = torch.randn(1, c, hw, hw, device=device, dtype=dtype).to(memory_format=torch.channels_last)
    w = torch.randn(c, c, 3, 3, device=device, dtype=dtype).to(memory_format=torch.channels_last)
    run = lambda: torch.nn.functional.conv2d(x, w, padding=1)  # noqa: E731
    return Kernel("conv3x3 channels-last 128ch 64²", run, float(hw * hw * c * c * 9), "macs")


def _bmm(device, dtype) -> Kernel:
    b, n = 8, 512
    x = torch.randn(b, n, n, device=device, dtype=dtype)
    y = torch.randn(b, n, n, device=device, dtype=dtype)
    return Kernel(f"bmm {b}×{n}³", lambda: torch.bmm(x, y), float(b * n**3), "macs")


def last_level_cache_bytes(device: torch.device) -> int | None:
    """The largest cache the OS reports (CPU: sysfs of cpu0; CUDA: the L2), None if unknown."""
    if device.type == "cuda":
        return int(getattr(torch.cuda.get_device_properties(device), "L2_cache_size", 0)) or None
    sizes = []
    for path in glob.glob("/sys/devices/system/cpu/cpu0/cache/index*/size"):
        try:
            text = open(path).read().strip()
        except OSError:
            continue
        scale = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:], 1)
        digits = text.rstrip("KMG")
        if digits.isdigit():
            sizes.append(int(digits) * scale)
    return max(sizes) if sizes else None


def stream_elements(device: torch.device, dtype) -> int:
    cache = last_level_cache_bytes(device)
    nbytes = max(STREAM_MIN_BYTES, STREAM_CACHE_MULTIPLE * (cache or 0))
    return nbytes // torch.tensor([], dtype=dtype).element_size()


def _stream(device, dtype) -> list[Kernel]:
    n = stream_elements(device, dtype)
    a, b, c = (torch.ones(n, device=device, dtype=dtype) for _ in range(3))
    size = n * a.element_size()
    return [
        Kernel("stream copy", lambda: b.copy_(a), 2.0 * size, "bytes"),
        Kernel("stream triad", lambda: torch.add(b, c, alpha=3.0, out=a), 3.0 * size, "bytes"),
    ]


def isa(device: torch.device) -> str | None:
    """The vector ISA torch dispatches to on CPU (e.g. AVX2, AVX512), the compute capability on
    CUDA."""
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        return f"sm_{major}{minor}"
    get = getattr(torch.backends.cpu, "get_cpu_capability", None)
    return get() if get else None


THEORETICAL_PEAK_HOW = (
    "not derived: it needs the FMA pipes per core and their width (AMD Zen 4 runs AVX-512 on "
    "256-bit pipes, Intel server cores have one or two 512-bit FMA units; on a GPU the SM count "
    "times per-SM FMA rate and boost clock), which the OS and torch do not report"
)


class Roofline:
    """The roof of one timed job: kernels sampled between timing rounds, models offered.

    roof = Roofline(device, dtype); roof.sweep()      # every kernel once, at the job's start
    ... a timing round ...; roof.step()              # the next kernel in rotation
    roof.offer_macs("model:x batch 1", rate)         # the model's achieved MAC/s
    roof.offer_bytes("model:x batch 1", rate)        # the model's implied byte rate
    roof.attainable(intensity), roof.summary(), roof.fingerprint()
    """

    def __init__(self, device: torch.device, dtype=torch.float32, kernels=None):
        self.device, self.dtype = device, dtype
        self._kernels = kernels  # None: built lazily (tests pass their own)
        self._next = 0
        self.samples: dict[str, list[float]] = {}
        self.units: dict[str, str] = {}
        self.skipped: dict[str, str] = {}
        self.offered: dict[str, tuple[str, float]] = {}
        self.threads: list[int] = []

    def kernels(self) -> list[Kernel]:
        if self._kernels is None:
            dev, dt = self.device, self.dtype
            sizes = SGEMM_SIZES.get(dev.type, SGEMM_SIZES["cpu"])
            self._kernels = [_sgemm(n, dev, dt) for n in sizes]
            self._kernels += [_conv(dev, dt), _bmm(dev, dt), *_stream(dev, dt)]
        return self._kernels

    def _sample(self, k: Kernel) -> bool:
        if k.name.startswith("sgemm ") and self._too_slow(k):
            return False
        self.skipped.pop(k.name, None)
        rate, _ = best_rate(k, self.device)
        self.samples.setdefault(k.name, []).append(rate)
        self.units[k.name] = k.unit
        self.threads.append(torch.get_num_threads())
        return True

    def _too_slow(self, k: Kernel) -> bool:
        """Skip an sgemm size whose call the previous size's best rate so far predicts to exceed
        MAX_CALL_S (judged again at every turn: a slow first sample does not exclude it)."""
        n = int(k.name.split()[1])
        prev = self.samples.get(f"sgemm {n // 2}")
        if prev and (n**3) / max(prev) > MAX_CALL_S:
            if k.name not in self.samples:
                self.skipped[k.name] = (
                    f"a call would take > {MAX_CALL_S} s at sgemm {n // 2}'s best rate"
                )
            return True
        return False

    def sweep(self) -> None:
        for k in self.kernels():
            self._sample(k)

    def step(self) -> None:
        """Sample one kernel, the next in rotation (the reference round between model rounds)."""
        ks = self.kernels()
        for _ in range(len(ks)):
            k = ks[self._next % len(ks)]
            self._next += 1
            if self._sample(k):
                return

    def best(self, unit: str) -> dict[str, float]:
        return {k: max(v) for k, v in self.samples.items() if self.units[k] == unit}

    def offer_macs(self, name: str, rate: float) -> None:
        self._offer("macs", name, rate)

    def offer_bytes(self, name: str, rate: float) -> None:
        self._offer("bytes", name, rate)

    def _offer(self, unit: str, name: str, rate: float) -> None:
        if math.isfinite(rate) and rate > self.offered.get(unit, ("", 0.0))[1]:
            self.offered[unit] = (name, rate)

    def _roof(self, unit: str) -> tuple[str, float]:
        best = self.best(unit)
        name, rate = max(best.items(), key=lambda kv: kv[1]) if best else ("", 0.0)
        if unit in self.offered and self.offered[unit][1] > rate:
            return self.offered[unit]
        return name, rate

    @property
    def peak(self) -> float:
        return self._roof("macs")[1]

    @property
    def bandwidth(self) -> float:
        return self._roof("bytes")[1]

    def attainable(self, intensity: float) -> float:
        """min(peak, bandwidth × intensity): the roofline at `intensity` MACs per byte."""
        return min(self.peak, self.bandwidth * intensity)

    def summary(self) -> dict:
        peak_kernel, peak = self._roof("macs")
        bw_kernel, bw = self._roof("bytes")
        macs = self.best("macs")
        sgemm = [v for k, v in macs.items() if k.startswith("sgemm ")]
        samples = self.samples.get(peak_kernel, [])
        return {
            "peak_macs_per_s": peak,
            "peak_kernel": peak_kernel,
            "kernels": macs,
            "bandwidth_bytes_per_s": bw,
            "bandwidth_kernel": bw_kernel,
            "bandwidth_kernels": self.best("bytes"),
            "best_sgemm_macs_per_s": max(sgemm) if sgemm else None,
            "isa": isa(self.device) if self.device is not None else None,
            "theoretical_peak_macs_per_s": None,
            "theoretical_peak_how": THEORETICAL_PEAK_HOW,
            "dtype": str(self.dtype).removeprefix("torch."),
            "last_level_cache_bytes": last_level_cache_bytes(self.device)
            if self.device is not None
            else None,
            "samples": {k: list(v) for k, v in self.samples.items()},
            "skipped": dict(self.skipped),
            # how far the peak kernel's samples moved during the job (load indicator)
            "spread": (max(samples) - min(samples)) / sorted(samples)[len(samples) // 2]
            if len(samples) > 1
            else 0.0,
            "threads": sorted(set(self.threads)),
            "sample": f"best of ≥{MIN_CALLS} calls over ≥{SAMPLE_S} s after one untimed call; "
            "per kernel, the best sample of the job",
            "placement": "a full sweep at the job's start, then one kernel in rotation after "
            "every timing round, same process and threads",
        }

    def fingerprint(self) -> dict:
        """The device's fingerprint: what the OS and torch say of it
        (common.provenance.machine_fingerprint) and what its kernels did in this job
        (measured_roof), so two machines with one model string are told apart by speed."""
        return {**machine_fingerprint(self.device), "roof": measured_roof(self.summary())}


def measured_roof(summary: dict) -> dict:
    """The machine's part of a job's roof (a Roofline.summary()): per kind, the kernel with the
    best sample, that sample, and the range of that kernel's samples over the job (its spread).

    The model's own rates are left out although they may set the job's roof: a fingerprint must
    not move with the code being timed, or a comparison would call a model that got faster
    "another machine". Kernels sampled in no turn give None."""
    out: dict = {}
    for kind, unit, key in (
        ("peak", "macs", "kernels"),
        ("bandwidth", "bytes", "bandwidth_kernels"),
    ):
        best = summary.get(key) or {}
        name = max(best, key=best.get) if best else None
        samples = summary["samples"].get(name, []) if name else []
        out.update(
            {
                f"{kind}_{unit}_per_s": max(samples) if samples else None,
                f"{kind}_kernel": name,
                f"{kind}_range_{unit}_per_s": [min(samples), max(samples)] if samples else None,
                f"{kind}_samples": len(samples),
            }
        )
    out["excludes"] = "the model's own rates (a fingerprint does not move with the timed code)"
    return out
