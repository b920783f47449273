"""Generator forward throughput, eager vs compiled (pytest-benchmark).

    .venv/bin/python -m pytest benchmarks/suites/test_generators.py --benchmark-enable
    .venv/bin/python -m pytest benchmarks/suites/test_generators.py --benchmark-enable -k "64"

Each case records images/s, achieved MAC/s (batch-1 MACs × batch / median time) and
"utilization": achieved MAC/s ÷ the MAC/s of a dense fp32 matmul (the roof), sampled by
benchmarks.profiling.timing.Roof just before and just after the case's timed rounds, so the
denominator moves with the load the case ran under; `roof` records the samples and
`invalid_reason` why a row cannot be trusted (roof drift, utilization > 1), else None.
Compare runs with --benchmark-autosave / --benchmark-compare (see benchmarks/README.md).
"""

import pytest
import torch

import models
from benchmarks.profiling.counting import build_for_counting, count_macs, example_input
from benchmarks.profiling.timing import Roof
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
    roof = Roof(DEVICE)
    if not benchmark.disabled:
        roof.sample()
    benchmark.pedantic(forward, rounds=3, iterations=1, warmup_rounds=1)
    if benchmark.disabled:  # quick mode: the call ran once, untimed
        return
    roof.sample()
    seconds = benchmark.stats.stats.median
    achieved = macs * batch / seconds
    utilization = achieved / roof.median
    benchmark.extra_info.update(
        {
            "batch": batch,
            "macs_per_image": macs,
            "images_per_s": batch / seconds,
            "achieved_macs_per_s": achieved,
            "matmul_macs_per_s": roof.median,
            "utilization": utilization,
            "roof": roof.summary(),
            "invalid_reason": roof.check_row(utilization, torch.get_num_threads()),
            **device_info(DEVICE),
        }
    )
