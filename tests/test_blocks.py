"""Time by block (benchmarks/profiling/blocks.py): each model's blocks are the ones its
architecture has (names and MACs, exact), the blocks cut a forward into consecutive spans whose
times add up to the whole hooked forward in every run, and the hooks cost next to nothing."""

from __future__ import annotations

import statistics
import time

import pytest
import torch

import models
from benchmarks.profiling import blocks, counting
from common.settings import Profile
from models.base import Generator
from models.layers import ConstantInput, StyledConv, ToRGB

NARROW = {"width": 0.0625, "z_dim": 64, "n_mlp": 2}
FEW = Profile(latency_warmup=1, latency_repeats=blocks.MIN_REPEATS)  # exactly MIN_REPEATS timed


@pytest.fixture(autouse=True)
def one_thread():
    """These tests check the mechanism, not a speed: one thread, because two OpenMP threads on a
    machine whose cores other jobs hold spin-wait at every op (a 64-px narrow forward went from
    6 ms to 630 ms under such load), which would only make the tests slow."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _meta(name: str, resolution: int):
    return counting.build_generator(name, resolution, "meta")


EXPECTED_256 = {
    "pixelfolder": ["stage 0 (16 px)", "stage 1 (64 px)", "stage 2 (256 px)"],
    "stylegan2": [f"{r} px" for r in (4, 8, 16, 32, 64, 128, 256)],
    "inr_gan": [f"b{r} ({r} px)" for r in (4, 8, 16, 32, 64, 128, 256)],
    "cips": ["input (Fourier features, embedding, conv1)"]
    + [f"group {i} ({c} ch)" for i, c in enumerate((512, 512, 512, 512, 512, 256, 128))],
}


@pytest.mark.parametrize("name", sorted(EXPECTED_256))
def test_blocks_are_the_architectures_and_own_every_mac(name):
    """Names follow the architecture (stages, resolution blocks, layer groups of CIPS's
    official widths), and the blocks' MACs add up to the headline count exactly (integer
    counts of the same FlopCounterMode pass: no MAC outside a block, none counted twice)."""
    G = _meta(name, 256)
    layout = blocks.layout(G)
    assert [b.name for b in layout] == [blocks.MAPPING, *EXPECTED_256[name]]
    named = dict(G.named_modules())
    assert all(p in named for b in layout for p in b.modules)
    macs, rest = blocks.block_macs(name, 256, layout)
    headline = counting.count_macs(
        *(lambda g: (g, counting.example_input(g)))(counting.build_for_counting(name, 256))
    )
    assert rest == 0 and sum(macs) == headline.macs
    assert all(m > 0 for m in macs)


def test_a_layout_that_does_not_match_the_forward_is_refused():
    with pytest.raises(RuntimeError, match="out of layout order"):
        blocks.check_order([0, 1, 2, 1], [blocks.Block(str(k), ()) for k in range(3)])
    with pytest.raises(RuntimeError, match="never called"):
        blocks.check_order([0, 2], [blocks.Block(str(k), ()) for k in range(3)])


@pytest.mark.parametrize("name", sorted(EXPECTED_256))
def test_block_spans_partition_every_forward(name):
    """Per run, the block times and the tail add up to the whole hooked forward (a telescoping
    sum of clock stamps: only float rounding of perf_counter differences, < 1 ns), and every
    block's modules ran in layout order (check_order runs on the warm-up)."""
    G = models.build(name, 32, **NARROW).eval()
    layout = blocks.layout(G)
    z = torch.randn(1, G.z_dim)
    t = blocks.time_blocks(G, layout, z, torch.device("cpu"), FEW)
    assert len(t["blocks_s"]) == len(layout)
    for r, whole in enumerate(t["whole_s"]):
        parts = sum(b[r] for b in t["blocks_s"]) + t["tail_s"][r]
        assert parts == pytest.approx(whole, abs=1e-9)
        assert all(b[r] > 0 for b in t["blocks_s"])
    assert not G._forward_hooks and not G._forward_pre_hooks  # hooks removed


def _iqr(xs):
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[2] - q[0]


@pytest.mark.numerics
def test_block_times_add_up_to_the_plain_forward():
    """The sum of the block medians is the plain (unhooked) forward's median, within an error
    model:

    * hooks: each of the forward's hook calls reads the clock and appends to a list, ≤ 20 µs
      even on a loaded machine (≈ 1 µs idle);
    * medians do not add: when all blocks slow down together (a load spike) the sum of their
      medians is the median of the sums; per-block noise that is independent moves each median
      by at most about its block's IQR, so the sum moves by at most the sum of the IQRs;
    * two medians of the same forward (hooked vs plain, interleaved so they share the load)
      differ by less than 2 IQRs: the standard error of a difference of two medians of n = 9
      is ≈ 1.3 · IQR / √9 ≈ 0.44 IQR for a normal spread, so 2 IQRs is > 4 standard errors.

    The tail after the last block (one `.contiguous()` of the output image) must be a small part
    of the forward: its median at most 5 % of the whole at 64 px (it is microseconds against
    milliseconds)."""
    G = models.build("pixelfolder", 64, **NARROW).eval()
    layout = blocks.layout(G)
    z = torch.randn(1, G.z_dim)
    n_hooks = 2 + len(layout) + sum(len(b.modules) for b in layout)
    hooked = {"blocks": [[] for _ in layout], "tail": [], "whole": []}
    plain = []
    with torch.no_grad():
        for _ in range(2):
            G(z, noise_mode="const")
        for _ in range(9):  # interleaved: hooked, then plain, under the same load
            clock = blocks._Clock(G, layout, torch.device("cpu"))
            G(z, noise_mode="const")
            parts, tail, whole = clock.split()
            clock.remove()
            for k, p in enumerate(parts):
                hooked["blocks"][k].append(p)
            hooked["tail"].append(tail)
            hooked["whole"].append(whole)
            t0 = time.perf_counter()
            G(z, noise_mode="const")
            plain.append(time.perf_counter() - t0)
    med = statistics.median
    block_sum = sum(med(b) for b in hooked["blocks"])
    additivity = sum(_iqr(b) for b in hooked["blocks"]) + _iqr(hooked["whole"])
    noise = 2 * max(_iqr(hooked["whole"]), _iqr(plain))
    hooks = n_hooks * 20e-6
    assert med(hooked["tail"]) <= 0.05 * med(hooked["whole"])
    assert abs(block_sum + med(hooked["tail"]) - med(hooked["whole"])) <= additivity
    assert abs(med(hooked["whole"]) - med(plain)) <= noise + hooks
    assert block_sum <= med(plain) + noise + hooks
    assert block_sum >= med(plain) - noise - additivity - med(hooked["tail"])


def test_measure_blocks_section_shape():
    """The profile's `blocks` section (what the report reads): one row per block with MACs,
    time and both shares; each share column sums to 1."""
    sec = blocks.measure_blocks("stylegan2", 32, torch.device("cpu"), FEW, **NARROW)
    assert sec["batch"] == 1 and sec["resolution"] == 32 and sec["repeats"] >= blocks.MIN_REPEATS
    names = [r["block"] for r in sec["rows"]]
    assert names == [blocks.MAPPING, "4 px", "8 px", "16 px", "32 px"]
    assert sum(r["share_macs"] for r in sec["rows"]) == pytest.approx(1.0)
    assert sum(r["share_time"] for r in sec["rows"]) == pytest.approx(1.0)
    assert all(r["q1_ms"] <= r["ms"] <= r["q3_ms"] for r in sec["rows"])
    assert sec["rest_macs"] == 0


class _Unlisted(Generator):
    """A generator with no layout in blocks.LAYOUTS: one child never called, and (interleaved)
    one called before and after another."""

    def __init__(self, interleaved: bool):
        super().__init__(32, z_dim=16, n_mlp=1)
        self.interleaved = interleaved
        self.input = ConstantInput(16, size=8)
        self.conv = StyledConv(16, 16, 3, 16)
        self.to_rgb = ToRGB(16, 16, upsample=False)
        self.unused = torch.nn.Linear(2, 2)
        self.num_ws = 3

    def synthesis(self, ws, noise_mode="random", return_stages=False):
        x = self.conv(self.input(ws.shape[0]), ws[:, 0], noise="none")
        if self.interleaved:
            x = self.conv(
                self.to_rgb(x, ws[:, 1]).repeat(1, 6, 1, 1)[:, :16], ws[:, 2], noise="none"
            )
        return self.to_rgb(x, ws[:, 1])


@pytest.mark.parametrize("interleaved", [False, True])
def test_a_model_without_a_layout_is_probed(interleaved):
    G = _Unlisted(interleaved).eval()
    layout = blocks.layout(G)
    if interleaved:
        assert [b.name for b in layout] == [blocks.MAPPING, "synthesis"]
        assert layout[1].modules[-1] == "to_rgb"
    else:
        assert [b.name for b in layout] == [blocks.MAPPING, "input", "conv", "to_rgb"]
    t = blocks.time_blocks(G, layout, torch.randn(1, 16), torch.device("cpu"), FEW)
    assert len(t["blocks_s"]) == len(layout) and len(t["whole_s"]) == blocks.MIN_REPEATS


def test_a_smoke_config_gets_one_forward():
    """latency_warmup 0 and latency_repeats 1 (a smoke test's config): one hooked forward, the
    layout checked on it, its time as median and both quartiles."""
    smoke = Profile(latency_warmup=0, latency_repeats=1)
    sec = blocks.measure_blocks("inr_gan", 32, torch.device("cpu"), smoke, **NARROW)
    assert sec["repeats"] == 1 and sec["latency_warmup"] == 0
    assert all(r["q1_ms"] == r["ms"] == r["q3_ms"] for r in sec["rows"])


def test_block_rows_show_one_forward_time():
    """The report's block rows: each block's share of the hooked forward scaled onto the latency
    row's plain median (so the blocks add up to the time the latency table shows), the hooked
    forward kept only as its ratio to the plain one; with no valid latency row, the hooked
    times as measured, labelled so."""
    from benchmarks.profiling.measures import blocks as measure

    sec = {
        "batch": 1,
        "rows": [
            {"block": "a", "macs": 1e9, "ms": 30.0, "q1_ms": 27.0, "q3_ms": 33.0},
            {"block": "b", "macs": 3e9, "ms": 90.0, "q1_ms": 81.0, "q3_ms": 99.0},
        ],
        "sum_ms": 120.0,
        "whole_ms": 121.0,
        "whole_q1_ms": 118.0,
        "whole_q3_ms": 125.0,
    }
    plain = {"median_ms": 100.0, "iqr_ms": 4.0, "valid": True}
    rows = measure.rows({"blocks": sec, "latency": {"by_batch": {"1": plain}}})
    assert [r["ms"] for r in rows] == pytest.approx([25.0, 75.0, 100.0])  # 30/120, 90/120 of 100
    assert [r["iqr_ms"] for r in rows] == pytest.approx([5.0, 15.0, 4.0])
    assert rows[-1]["block"] == measure.WHOLE and rows[-1]["hooked_over_plain"] == 1.21
    assert rows[-1]["macs_per_s"] == pytest.approx(4e9 / 0.1)
    invalid = {**plain, "valid": False}
    hooked = measure.rows({"blocks": sec, "latency": {"by_batch": {"1": invalid}}})
    assert [r["ms"] for r in hooked] == [30.0, 90.0, 121.0]
    assert hooked[-1]["block"] == measure.WHOLE_HOOKED and "hooked_over_plain" not in hooked[-1]
