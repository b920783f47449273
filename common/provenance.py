"""What produced a result: library versions and the device it ran on, recorded in every output."""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
from importlib import metadata

from common import allocator
from common.cli import first_line

DISTRIBUTIONS = ("torch", "torchvision", "numpy", "scipy", "clean-fid", "fvcore", "ptflops")


def versions(dists=DISTRIBUTIONS) -> dict:
    out = {"python": platform.python_version()}
    for dist in dists:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_info(device) -> dict:
    import torch

    device = torch.device(device)
    info = {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "dtype": "float32",
        "allocator": allocator.state(),
    }
    if device.type == "cuda":
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
    return info


def device_label(info: dict) -> str:
    """One device_info as the line every table, claim and comparison names it by; two timings
    are comparable only when their labels are equal (same device, name and threads)."""
    return f"{info.get('device')} ({info.get('device_name')}, {info.get('threads')} threads)"


# The flags that decide which kernels torch, oneDNN and MKL may run, as Linux (x86, ARM) and
# py-cpuinfo spell them. Two machines with one model string can differ here (a hypervisor may
# report "AMD EPYC" for Zen 3 without AVX-512 and for Zen 4 with it).
ISA_FLAGS = (
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni",
    "avx512f", "avx512dq", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16",
    "amx_tile", "amx_bf16", "amx_int8", "amx_fp16",
    "asimd", "asimdhp", "sve", "sve2", "bf16", "i8mm", "sme",
)  # fmt: skip
SMI_FIELDS = (
    "clocks.sm", "clocks.max.sm", "clocks.applications.graphics", "clocks.mem", "clocks.max.mem",
    "power.limit", "memory.total", "driver_version",
)  # fmt: skip


def isa_flags(flags) -> list[str]:
    """The ISA_FLAGS present in `flags`; matched without underscores, since the kernel writes
    `avx512_vnni` where py-cpuinfo's CPUID decoder writes `avx512vnni`."""
    present = {str(f).lower().replace("_", "") for f in flags}
    return [f for f in ISA_FLAGS if f.replace("_", "") in present]


def isa_summary(flags: list[str]) -> str:
    """The widest vector ISA of an isa_flags list as a reader names it, e.g. `AVX-512 (bf16)`."""
    have = set(flags)
    if "avx512f" in have:
        extras = [x for f, x in (("avx512_bf16", "bf16"), ("avx512_fp16", "fp16")) if f in have]
        extras += ["AMX"] if "amx_tile" in have else []
        return "AVX-512" + (f" ({', '.join(extras)})" if extras else "")
    for flag, name in (("avx2", "AVX2"), ("avx", "AVX"), ("sve2", "SVE2"), ("sve", "SVE")):
        if flag in have:
            return name
    return "NEON" if "asimd" in have else "baseline ISA"


def cpu_fingerprint() -> dict:
    """The CPU as the OS describes it, from py-cpuinfo (CPUID and /proc/cpuinfo on Linux,
    sysctl on macOS; installed with pytest-benchmark) and psutil. The flags are kept as a
    sha256 of the sorted set (any difference shows) plus the subset that selects kernels."""
    import cpuinfo
    import psutil
    import torch

    info = cpuinfo.get_cpu_info()
    flags = sorted({str(f).lower() for f in info.get("flags", [])})
    affinity = getattr(os, "sched_getaffinity", None)
    return {
        "model": info.get("brand_raw") or cpu_name(),
        "vendor": info.get("vendor_id_raw"),
        "family": info.get("family"),
        "model_number": info.get("model"),
        "stepping": info.get("stepping"),
        "arch": info.get("arch_string_raw") or platform.machine(),
        "flags_sha256": hashlib.sha256(" ".join(flags).encode()).hexdigest() if flags else None,
        "isa_flags": isa_flags(flags),
        "torch_isa": torch.backends.cpu.get_cpu_capability(),
        "logical_cpus": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "usable_cpus": len(affinity(0)) if affinity else os.cpu_count(),
    }


def nvidia_smi(bus_id: str) -> dict:
    """Clocks, power limit and driver of one GPU by `nvidia-smi --query-gpu` (a GPU whose
    application clocks or power limit were lowered is another machine for timing). Guarded:
    without nvidia-smi, or when it fails, the entry says why instead."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return {"error": "nvidia-smi not found"}
    cmd = [exe, f"--query-gpu={','.join(SMI_FIELDS)}", "--format=csv,noheader,nounits"]
    try:
        done = subprocess.run(
            [*cmd, "-i", bus_id], capture_output=True, text=True, timeout=20, check=True
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return {"error": f"nvidia-smi failed: {first_line(exc)}"}
    values = [v.strip() for v in done.stdout.strip().split(",")]
    if len(values) != len(SMI_FIELDS):
        return {"error": f"nvidia-smi answered {done.stdout.strip()!r}"}
    return dict(zip(SMI_FIELDS, values, strict=True))


def gpu_fingerprint(device) -> dict:
    """A CUDA device's name, SMs, memory and maximum clocks from torch (its kHz made MHz),
    then its present clocks from nvidia-smi, addressed by PCI bus id (CUDA_VISIBLE_DEVICES
    renumbers devices; the bus id does not)."""
    import torch

    p = torch.cuda.get_device_properties(device)
    bus = f"{p.pci_domain_id:08X}:{p.pci_bus_id:02X}:{p.pci_device_id:02X}.0"
    mhz = lambda khz: khz / 1e3 if khz else None  # noqa: E731 (0: not reported)
    return {
        "name": p.name,
        "capability": f"{p.major}.{p.minor}",
        "sms": p.multi_processor_count,
        "memory_bytes": p.total_memory,
        "max_sm_clock_mhz": mhz(p.clock_rate),
        "max_memory_clock_mhz": mhz(p.memory_clock_rate),
        "memory_bus_bits": p.memory_bus_width,
        "pci_bus_id": bus,
        "uuid": str(p.uuid),
        "nvidia_smi": nvidia_smi(bus),
    }


def machine_fingerprint(device) -> dict:
    """What tells two machines apart without measuring them, beside device_label's three
    fields: the CPU (always: it runs the Python side of a CUDA job too) and, on CUDA, the GPU.
    benchmarks/profiling/roofline.py adds the measured part (Roofline.fingerprint)."""
    import torch

    device = torch.device(device)
    return {
        "device": str(device),
        "threads": torch.get_num_threads(),
        "cpu": cpu_fingerprint(),
        "gpu": gpu_fingerprint(device) if device.type == "cuda" else None,
    }


CODE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the clone's root


def package_version(root: str = CODE_ROOT) -> str | None:
    """The version pyproject.toml declares (pixbench runs from its clone, not installed)."""
    import tomllib

    try:
        with open(os.path.join(root, "pyproject.toml"), "rb") as f:
            return tomllib.load(f).get("project", {}).get("version")
    except (OSError, tomllib.TOMLDecodeError):
        return None


def code_version(root: str = CODE_ROOT) -> dict:
    """Which pixbench made a result: the version pyproject.toml declares, and the git commit of
    the clone with whether tracked files differ from it (`dirty`). A copy that is not a git
    checkout (or has no git) says so in `commit` instead of guessing."""
    out = {"version": package_version(root), "commit": None, "dirty": None}
    git = shutil.which("git")
    if git is None:
        out["commit"] = "unknown (git not installed)"
        return out
    try:
        head = subprocess.run(
            [git, "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=20
        )
        if head.returncode:
            out["commit"] = "unknown (not a git checkout)"
            return out
        changed = subprocess.run(
            [git, "-C", root, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        out["commit"] = f"unknown (git failed: {first_line(exc)})"
        return out
    out["commit"] = head.stdout.strip()
    out["dirty"] = bool(changed.stdout.strip()) if changed.returncode == 0 else None
    return out
