"""Generator forward throughput, eager vs compiled (pytest-benchmark).

    .venv/bin/python -m pytest benchmarks/suites/test_generators.py --benchmark-enable
    .venv/bin/python -m pytest benchmarks/suites/test_generators.py --benchmark-enable -k "64"

Each case records images/s, achieved MAC/s (batch-1 MACs × batch / median time), operational
intensity (benchmarks.profiling.bytecount) and utilization = achieved ÷ attainable on the
device's measured roofline (benchmarks.profiling.roofline: a kernel sweep and STREAM just before
and just after the case's timed rounds, plus the case's own rates), the same definition as the
profiler's latency measure (docs/roofline.md), so it cannot exceed 1.
Compare runs with --benchmark-autosave / --benchmark-compare (see benchmarks/README.md).
"""

import pytest
import torch

import models
from benchmarks.profiling.bytecount import forward_bytes_per_image
from benchmarks.profiling.counting import build_for_counting, count_macs, example_input
from benchmarks.profiling.roofline import Roofline
from common.device import DEFAULT_DEVICE, resolve_device
from common.provenance import device_info

DEVICE = resolve_device(DEFAULT_DEVICE)
# (resolution, batch): batch 8 at 256 (CIPS: 2, its activations are 16x larger), 8 at 64
CASES = [
    pytest.param(
        name,
        res,
        batch,
        compiled,
        id=f"{name}-{res}-b{batch}-{mode}",
        marks=[pytest.mark.heavy] if res > 64 or compiled else [],
    )
    for name in models.available()
    for res in (64, 256)
    for batch in [2 if name == "cips" and res == 256 else 8]
    for compiled, mode in ((False, "eager"), (True, "compiled"))
]


@pytest.mark.parametrize("name,res,batch,compiled", CASES)
def test_generator_forward(benchmark, name, res, batch, compiled):
    macs = count_macs(
        build_for_counting(name, res), example_input(build_for_counting(name, res))
    ).macs
    G = models.build(name, resolution=res, compile=compiled).to(DEVICE).eval()
    z = torch.randn(batch, G.z_dim, generator=torch.Generator().manual_seed(0)).to(DEVICE)

    def forward():
        with torch.no_grad():
            out = G(z, noise_mode="const")
        if DEVICE.type == "cuda":
            torch.cuda.synchronize()
        return out

    forward()  # compile / allocator warm-up outside the timed rounds
    roof = Roofline(DEVICE)
    if not benchmark.disabled:
        roof.sweep()
    benchmark.pedantic(forward, rounds=3, iterations=1, warmup_rounds=1)
    if benchmark.disabled:  # quick mode: the call ran once, untimed
        return
    roof.sweep()
    seconds = benchmark.stats.stats.median
    achieved = macs * batch / seconds
    intensity = macs / forward_bytes_per_image(name, res, batch, DEVICE.type)
    roof.offer_macs(f"model:{name} batch {batch}", achieved)
    roof.offer_bytes(f"model:{name} batch {batch}", achieved / intensity)
    attainable = roof.attainable(intensity)
    benchmark.extra_info.update(
        {
            "batch": batch,
            "macs_per_image": macs,
            "images_per_s": batch / seconds,
            "achieved_macs_per_s": achieved,
            "intensity_macs_per_byte": intensity,
            "attainable_macs_per_s": attainable,
            "utilization": achieved / attainable,
            "roof": roof.summary(),
            **device_info(DEVICE),
        }
    )
