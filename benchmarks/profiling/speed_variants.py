"""The speed-variant grid: eager fp32 and its faster variants, each timed the way the latency
measure times a forward, its output compared with eager fp32 on fixed z, and judged.

Variants (settings.SPEED_VARIANTS; `eager` is always the first row, the baseline):

    channels_last  every 4-D parameter and buffer channels-last (training.fastpath.to_channels_last)
    compile        torch.compile, inductor (models.base.Generator.enable_compile); on CPU inductor
                   writes C++, so it needs a C++ compiler on PATH
    bf16           torch.autocast in bfloat16 (on CPU only where AVX-512 BF16 or AMX runs it:
                   elsewhere oneDNN converts in software, slower than fp32 by construction)
    tf32, fp16     CUDA only: TF32 convs and matmuls (training.fastpath.backend_flags), fp16 autocast
    cuda_graphs    CUDA only: one forward captured once, replayed

Why one process and one roofline: a speed-up is a ratio of two timings, and two timings from two
jobs carry two loads. The grid times eager fp32 and every variant with `timing.time_adaptive`
(the latency measure's function), its roof kernels sampled between rounds, and the speed-up
interval is `timing.ratio_interval`, the speed claims' log-space quadrature.

Error model (docs/roofline.md, "Speed variants"; docs/numerics.md's models 1-2). The output
difference is normwise: max|y − y_eager| ÷ max|y_eager| (an elementwise relative error is
unbounded where a pixel crosses zero). A forward is modelled as L reducing layers (conv, mm,
bmm: `error_model` counts them in the forward as timed, with the largest reduction length K);
normalised activations (demodulation, pixel norm) keep each layer's gain near 1. Per layer:

* a reordering-only variant (channels-last, compile, CUDA graphs) sums the same fp32 products in
  another order; each order's error is ≈ u32·√K of the output when rounding errors are
  independent (Higham & Mary's probabilistic bound, the √n form of γ_n), so the two differ by
  ≤ 2·u32·√K;
* a reduced-precision variant (bf16, fp16, TF32) also rounds both operands of every product to
  the format, 2·u_f relative, u_f its unit roundoff (2⁻⁸ bf16, 2⁻¹¹ fp16 and TF32).

The layers' errors are independent too, so they add in quadrature over the depth:

    bound = √L · (2·u_f + 2·u32·√K)        (u_f = 0 for reordering-only variants)

(The worst case, L · (…), is 0.3–0.6 of the output's range for bf16 in these generators: it
would pass any bf16 output short of garbage and judge nothing.) A model, not a proof: it leaves
out the epilogue's roundings in the format and a layer gain above 1. What it separates is a format working as designed from a variant that breaks the output
(a wrong kernel, a layout bug, an fp16 overflow), which moves it by O(1), orders above.

Each variant's speed-up is against eager timed just before and just after it, pooled
(`reference`), so load that drifts during the grid does not pass for a gain. Verdicts:
`inconclusive: <why>` when either timing's CI is wider than ±latency_ci_target (noisy, as the
latency table and the speed claims say); else `no gain` when the speed-up interval's low end
is ≤ 1; else `fast but changes the output beyond <bound>` when the error exceeds the bound (or
the output is not finite); else `fast and faithful`. A variant that cannot run here is `skipped: <why>`; one that raises is
`failed: <why>` in one line (its traceback in the debug log), and the grid goes on.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import os
import shutil
import statistics
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode

import models
from common.settings import SPEED_VARIANTS, Profile, Train
from training.fastpath import backend_flags, to_channels_last
from training.speed_variant import FAITHFUL  # the verdict that lets training take a variant

from .noise import LoadMeter, bootstrap_median_ci, relative_half_width
from .timing import ratio_interval, sync, time_adaptive

log = logging.getLogger("pixbench.profiling")

EAGER = "eager"
TF32 = dataclasses.replace(Train(), tf32=True)  # the training fast path's switch, alone
U32 = 2.0**-24
UNIT_ROUNDOFF = {"bf16": 2.0**-8, "fp16": 2.0**-11, "tf32": 2.0**-11}
NO_GAIN, BASELINE = "no gain", "baseline"
INCONCLUSIVE = "inconclusive"
BEYOND = "fast but changes the output beyond"
WHY_MAX = 160  # a reason is one line of at most this many characters


def beyond(bound: float) -> str:
    return f"{BEYOND} {bound:.1e} (max |Δ| ÷ max |y|)"


def verdict(speedup_lo: float, rel_err: float | None, bound: float) -> str:
    """The grid's judgement of one variant, from its speed-up interval's low end, its normwise
    output error (None: the output was not finite) and its error bound."""
    if not speedup_lo > 1.0:
        return NO_GAIN
    if rel_err is None or not rel_err <= bound:
        return beyond(bound)
    return FAITHFUL


def error_bound(unit_roundoff: float, depth: int, k_max: int) -> float:
    """√L · (2·u_f + 2·u32·√K): the module docstring's model of a variant's normwise error."""
    return math.sqrt(depth) * (2 * unit_roundoff + 2 * U32 * math.sqrt(k_max))


# --------------------------------------------------------------------------- depth and K
_MM = ("mm", "addmm", "bmm", "baddbmm")


class _Reductions(TorchDispatchMode):
    """Reduction length of every conv and matmul op of a forward (meta device: free)."""

    def __init__(self):
        super().__init__()
        self.lengths: list[int] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if name == "convolution":
            w, transposed, groups = args[1], args[6], args[8]
            fan = w.shape[0] // groups if transposed else w.shape[1]
            self.lengths.append(int(fan * math.prod(w.shape[2:])))
        elif name in _MM:
            a = args[1] if name in ("addmm", "baddbmm") else args[0]  # (bias,) a @ b
            self.lengths.append(int(a.shape[-1]))
        return func(*args, **(kwargs or {}))


def reduction_lengths(module, *args, **kwargs) -> list[int]:
    """The reduction length of every conv and matmul op of one no-grad call, in call order."""
    with torch.no_grad(), _Reductions() as seen:
        module(*args, **kwargs)
    return seen.lengths


def error_model(name: str, resolution: int, batch: int, device_type: str, **build) -> dict:
    """L (conv and matmul ops of one eval, const-noise forward, as timed; every op counts, an
    upper bound on the longest chain) and K (the largest reduction length), counted on meta."""
    if device_type == "cuda" and "modconv_mode" not in build:
        build = {**build, "modconv_mode": "grouped"}  # the path no-grad CUDA takes (bytecount.py)
    with torch.device("meta"):
        g = models.build(name, resolution, **build).eval()
    z = torch.zeros(batch, g.z_dim, device="meta")
    lengths = reduction_lengths(g, z, noise_mode="const")
    return {
        "depth": len(lengths),
        "k_max": max(lengths),
        "u32": U32,
        "formula": "bound = √L·(2·u_f + 2·u32·√K), u_f = 0 for reordering-only variants",
    }


# --------------------------------------------------------------------------- the variants
def _cxx() -> str | None:
    names = [os.environ["CXX"]] if os.environ.get("CXX") else ["g++", "c++", "clang++"]
    return next((shutil.which(n) for n in names if shutil.which(n)), None)


def _native_bf16_cpu() -> bool:
    cpu = torch.cpu
    return any(
        getattr(cpu, f, lambda: False)()
        for f in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    )


def why_not(variant: str, device: torch.device) -> str | None:
    """Why `variant` cannot run on `device` here (one line), None when it can."""
    cuda_only = ("tf32", "fp16", "cuda_graphs")
    if variant in cuda_only and device.type != "cuda":
        return f"{variant} is a CUDA variant; this job runs on {device.type}"
    if variant == "compile" and device.type == "cpu" and _cxx() is None:
        return (
            "no C++ compiler on PATH (g++, c++, clang++ or $CXX): inductor compiles C++ on CPU; "
            "install one (apt-get install g++) or drop compile from profile.variants"
        )
    if variant == "bf16" and device.type == "cpu" and not _native_bf16_cpu():
        return (
            "this CPU has neither AVX-512 BF16 nor AMX, so oneDNN would emulate bf16 "
            "(converting every operand: slower than fp32)"
        )
    return None


def prepare(variant: str, G, z: torch.Tensor) -> Callable[[], torch.Tensor]:
    """A thunk computing the variant's forward of `z` (const noise, no_grad, fp32 output).
    Variants that change the module work on a copy, so `G` stays the eager baseline."""
    dev = z.device

    def run(net, ctx=nullcontext):
        def forward():
            with torch.no_grad(), ctx():
                return net(z, noise_mode="const").float()

        return forward

    if variant == EAGER:
        return run(G)
    if variant == "channels_last":
        g = copy.deepcopy(G)
        to_channels_last(g)
        return run(g)
    if variant == "compile":
        return run(copy.deepcopy(G).enable_compile(backend="inductor"))
    if variant in ("bf16", "fp16"):
        dtype = torch.bfloat16 if variant == "bf16" else torch.float16
        return run(G, lambda: torch.autocast(dev.type, dtype=dtype))
    if variant == "tf32":
        return run(G, lambda: backend_flags(TF32))
    if variant == "cuda_graphs":
        return _graphed(G, z)
    raise ValueError(f"unknown speed variant {variant!r}; known: {', '.join(SPEED_VARIANTS)}")


def _graphed(G, z: torch.Tensor) -> Callable[[], torch.Tensor]:
    """One const-noise forward captured into a CUDA graph (after 3 warm-up calls on a side
    stream, PyTorch's capture recipe); each call replays it into the same output tensor."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side), torch.no_grad():
        for _ in range(3):
            G(z, noise_mode="const")
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph), torch.no_grad():
        out = G(z, noise_mode="const")

    def replay():
        graph.replay()
        return out

    return replay


# --------------------------------------------------------------------------- the grid
@dataclass(frozen=True)
class Work:
    """What a rate is made of: MACs per image, bytes per image (eager fp32's) and the batch."""

    macs: float
    bytes_per_image: float
    batch: int


def one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or "(no message)"
    text = f"{type(e).__name__}: {text}"
    return text if len(text) <= WHY_MAX else text[: WHY_MAX - 1] + "…"


def output_error(y: torch.Tensor, y0: torch.Tensor) -> tuple[float | None, float | None]:
    """(max |y − y0|, that ÷ max |y0|), in float64; (None, None) when y is not finite."""
    if not bool(torch.isfinite(y).all()):
        return None, None
    diff = float((y.double() - y0.double()).abs().max())
    return diff, diff / float(y0.double().abs().max())


def _timed(thunk, dev, p: Profile, roof) -> dict:
    with LoadMeter() as load:
        stats = time_adaptive(thunk, dev, p, between=roof.step)
    stats["cpu_busy_other"] = load.result()["cpu_busy_other"]
    return stats


def run_variant(variant: str, G, z, p: Profile, roof, y0=None) -> dict:
    """One row: prepare + first call (its seconds: compile or capture and warm-up), the output
    error against `y0` on the same z, then the adaptive timing. Failures are one line."""
    dev = z.device
    rec: dict = {"variant": variant, "status": "timed", "why": None}
    why = None if variant == EAGER else why_not(variant, dev)
    if why:
        log.info("variant %s skipped: %s", variant, why)
        return {**rec, "status": "skipped", "why": why, "verdict": f"skipped: {why}"}
    try:
        t0 = time.perf_counter()
        thunk = prepare(variant, G, z)
        y = thunk()
        sync(dev)
        rec["warmup_s"] = time.perf_counter() - t0
        rec["output"] = y.detach().clone()
        rec.update(_timed(thunk, dev, p, roof))
    except Exception as e:  # noqa: BLE001  (torch.compile, autocast and capture raise anything)
        if variant == EAGER:
            raise  # the baseline failing is a bug of ours: keep the traceback
        log.debug("variant %s failed", variant, exc_info=True)
        log.warning("variant %s failed: %s", variant, one_line(e))
        return {**rec, "status": "failed", "why": one_line(e), "verdict": f"failed: {one_line(e)}"}
    return rec


def _rates(rec: dict, work: Work) -> None:
    seconds = rec["median_ms"] / 1e3
    rec["images_per_s"] = work.batch / seconds
    rec["achieved_macs_per_s"] = work.macs * work.batch / seconds
    rec["intensity_macs_per_byte"] = work.macs / work.bytes_per_image


def reference(before: dict, after: dict) -> dict:
    """Eager's timings just before and just after a variant, pooled: (median, 95 % CI) of both.
    Why not the first eager row alone: load on a shared machine drifts, and a variant timed a
    minute after its baseline would inherit the drift as a speed-up (a CIPS grid read 6.8× on
    a machine whose load fell between the two; alternated, the two forwards ran within 10 %).
    A pool that straddles a load change is bimodal, which widens its CI: noisy, not a gain."""
    times = [*before["times_ms"], *after["times_ms"]]
    med = statistics.median(times)
    lo, hi = bootstrap_median_ci(times)
    return {
        "median_ms": med,
        "ci95_ms": [lo, hi],
        "ci_half_width": relative_half_width(med, (lo, hi)),
    }


def judge(rec: dict, ref: dict | None, y0: torch.Tensor, model: dict, ci_target: float) -> None:
    """Speed-up over eager (`ref`: eager around this variant) with its interval, output error
    against eager, bound and verdict; `inconclusive` when either timing's CI is wider than
    ±`ci_target` (a noisy row, as the latency table and the speed claims call it)."""
    if rec["variant"] == EAGER:  # a timing against itself has no second, independent error
        rec.update(speedup=1.0, speedup_ci95=None, max_abs_err=0.0, max_rel_err=0.0)
        rec.update(error_bound=None, verdict=BASELINE)
        return
    iv = lambda r: (r["median_ms"], *r["ci95_ms"])  # noqa: E731
    speedup, lo, hi = ratio_interval(iv(rec), iv(ref))  # eager's median ÷ the variant's
    rec.update(speedup=speedup, speedup_ci95=[lo, hi], eager_ms=ref["median_ms"])
    rec["eager_ci95_ms"] = ref["ci95_ms"]
    u = UNIT_ROUNDOFF.get(rec["variant"], 0.0)
    bound = error_bound(u, model["depth"], model["k_max"])
    abs_err, rel_err = output_error(rec["output"], y0)
    noisy = [
        f"{who} ±{100 * r['ci_half_width']:.0f} %"
        for who, r in (("eager", ref), (rec["variant"], rec))
        if not r["ci_half_width"] < ci_target
    ]
    rec.update(
        unit_roundoff=u,
        max_abs_err=abs_err,
        max_rel_err=rel_err,
        error_bound=bound,
        nonfinite_output=abs_err is None,
        noisy=bool(noisy),
        verdict=verdict(lo, rel_err, bound),
    )
    if noisy:
        rec["verdict"] = (
            f"{INCONCLUSIVE}: timing CI wider than ±{100 * ci_target:g} % ({', '.join(noisy)})"
        )


def run_grid(G, z, variants, p: Profile, roof, work: Work, model: dict) -> list[dict]:
    """Eager fp32 first, then each of `variants`, eager timed again after each timed variant:
    one record each, in that order, each variant judged against eager just before and after
    it (`reference`). Every timing is a latency row's (time_adaptive under the `profile:`
    section `p`); `roof` is a roofline.Roofline whose kernels take turns between timing
    rounds; `model` is error_model's."""
    rows = [run_variant(EAGER, G, z, p, roof)]
    y0, eager, refs = rows[0]["output"], rows[0], {}
    thunk = prepare(EAGER, G, z)
    for v in variants:
        rec = run_variant(v, G, z, p, roof)
        rows.append(rec)
        if rec["status"] == "timed":
            after = _timed(thunk, z.device, p, roof)
            refs[v], eager = reference(eager, after), after
    for rec in rows:
        if rec["status"] == "timed":
            _rates(rec, work)
            judge(rec, refs.get(rec["variant"]), y0, model, p.latency_ci_target)
            log.info(
                "variant %s: %.4g ms (CI %.4g–%.4g), speed-up %.3g %s, error %s: %s",
                rec["variant"],
                rec["median_ms"],
                *rec["ci95_ms"],
                rec["speedup"],
                rec["speedup_ci95"],
                rec.get("max_rel_err"),
                rec["verdict"],
            )
    for rec in rows:
        rec.pop("output", None)
    return rows
