"""What produced a result: library versions and the device it ran on, recorded in every output."""

from __future__ import annotations

import platform
from importlib import metadata

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
    }
    if device.type == "cuda":
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
    return info


def device_label(info: dict) -> str:
    """One device_info as the line every table, claim and comparison names it by; two timings
    are comparable only when their labels are equal (same device, name and threads)."""
    return f"{info['device']} ({info['device_name']}, {info['threads']} threads)"
