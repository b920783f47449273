"""Generator forward throughput, eager vs compiled (pytest-benchmark; not in the default test run).

    .venv/bin/python -m pytest benchmarks/test_generators.py            # all cases
    .venv/bin/python -m pytest benchmarks/test_generators.py -k "64"    # the quick ones

Each case records images/s, achieved MAC/s (batch-1 MACs × batch / median time) and
"utilization": achieved MAC/s ÷ the MAC/s of a dense fp32 matmul measured in the same session.
Compare runs with --benchmark-autosave / --benchmark-compare (see benchmarks/README.md).
"""

import pytest
import torch

import models
from benchmarks.profiling.counting import build_for_counting, count_macs, example_input
from benchmarks.profiling.timing import matmul_macs_per_s
from common.provenance import device_info
from common.device import resolve_device

DEVICE = resolve_device("auto")
# (resolution, batch): batch 8 at 256 (CIPS: 2, its activations are 16x larger), 8 at 64
CASES = [
    (name, res, (2 if name == "cips" and res == 256 else 8))
    for name in models.available()
    for res in (64, 256)
]


@pytest.fixture(scope="session")
def roof():
    return matmul_macs_per_s(DEVICE)


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("name,res,batch", CASES, ids=[f"{n}-{r}-b{b}" for n, r, b in CASES])
def test_generator_forward(benchmark, roof, name, res, batch, compiled):
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
    benchmark.pedantic(forward, rounds=3, iterations=1, warmup_rounds=1)
    seconds = benchmark.stats.stats.median
    achieved = macs * batch / seconds
    benchmark.extra_info.update(
        {
            "batch": batch,
            "macs_per_image": macs,
            "images_per_s": batch / seconds,
            "achieved_macs_per_s": achieved,
            "matmul_macs_per_s": roof,
            "utilization": achieved / roof,
            **device_info(DEVICE),
        }
    )
