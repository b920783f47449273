"""Table 1's speed column judged as ratios: PixelFolder's images/s over CIPS's, StyleGAN2's and
INR-GAN's at 256 px, from this run's own latencies.

Why ratios: absolute images/s belong to a device (the paper names no GPU, batch or precision),
but how much faster one generator is than another can be checked on any device, and the verdict
names the device it was checked on. The ratio's meaning is device-dependent all the same (a CPU
is compute-bound where a GPU is launch- or bandwidth-bound), so a ratio that does not hold on a
CPU is "not reproduced on this device", never a refutation of the paper's GPU figure.

Batch: 1 at 256 px, because that is the one batch size at which all four are timed in the
default CPU run (config/default.yaml); a run that times a larger batch at 256 px for all four
may pass `batch=`.

Tolerance follows the measurement. Each median latency comes with a 95 % interval: the profiler's
bootstrap `ci95_ms` when the profile has one, else the boxplot-notch interval median ± 1.57 ·
IQR / √n (McGill, Tukey & Larsen 1978; ≈ 95 % for a median from n repeats). The two timings are
independent jobs and their errors multiplicative, so the ratio's interval adds the two relative
half-widths in quadrature in log space: δ = √(δ₁² + δ₂²), δᵢ = the larger of ln(hiᵢ/medᵢ) and
ln(medᵢ/loᵢ); interval = ratio · e^(±δ). The claim holds when the paper's ratio lies inside it.

Why a ratio differs from the MAC ratio, in one line: time ratio = MAC ratio × (achieved MAC/s of
PixelFolder ÷ that of the other), and the achieved rate is utilization × attainable rate on the
device's roofline (attainable = min(peak, bandwidth × operational intensity)), which the latency
measure records when it has a roofline.
"""

from __future__ import annotations

import math

import models
from benchmarks.claims import paper
from benchmarks.claims.rows import NOT_MEASURED, NOT_REPRODUCED, REPRODUCED, ClaimRow
from common.provenance import device_label

SUBJECT = "pixelfolder"
RESOLUTION = 256
BATCH = 1
NOTCH = 1.57  # median ± 1.57·IQR/√n: the boxplot notch, ≈ 95 % for a median
UNIT = "× speed"
WHY_BATCH = (
    f"batch {BATCH} at {RESOLUTION} px: the batch at which all four models are timed in the "
    "default run (the paper states none)"
)


def median_interval(row: dict) -> tuple[float, float, float, str]:
    """(median, lo, hi, how) of one latency row, in ms."""
    med = float(row["median_ms"])
    ci = row.get("ci95_ms")
    if ci and len(ci) == 2 and all(v is not None for v in ci):
        return med, float(ci[0]), float(ci[1]), "bootstrap 95 % CI"
    half = NOTCH * float(row.get("iqr_ms", 0.0)) / math.sqrt(max(int(row.get("repeats", 1)), 1))
    return med, max(med - half, 1e-12), med + half, "IQR notch ≈ 95 %"


def _log_half(med: float, lo: float, hi: float) -> float:
    return max(math.log(hi / med), math.log(med / lo))


def ratio_interval(a: tuple, b: tuple) -> tuple[float, float, float]:
    """Ratio of b's median to a's (= a's images/s over b's at one batch) with its interval."""
    ratio = b[0] / a[0]
    delta = math.hypot(_log_half(*a[:3]), _log_half(*b[:3]))
    return ratio, ratio * math.exp(-delta), ratio * math.exp(delta)


def device_of(profile: dict) -> str:
    return device_label(profile["latency"]["device_info"])


def _timed(profile: dict | None, batch: int) -> dict | None:
    return ((profile or {}).get("latency") or {}).get("by_batch", {}).get(str(batch))


def device_roof(profiles: dict, device: str) -> tuple[float, float, int] | None:
    """(peak MAC/s, bandwidth B/s, jobs) of `device`: the best of each roof over every timed job
    of the run on it. Why not each row's own: a job samples its kernels for seconds, and a
    kernel that ran slow there (seen: 117 against 214–234 GMAC/s on the same quiet CPU) would
    make that one model's utilization look high; the device's roofline is the best seen."""
    roofs = [
        p["latency"]["roof"]
        for p in profiles.values()
        if (p.get("latency") or {}).get("roof") and device_of(p) == device
    ]
    peaks = [r["peak_macs_per_s"] for r in roofs if r.get("peak_macs_per_s")]
    bws = [r["bandwidth_bytes_per_s"] for r in roofs if r.get("bandwidth_bytes_per_s")]
    if not peaks or not bws:
        return None
    return max(peaks), max(bws), len(roofs)


def roofline_line(us: str, a: dict, them: str, b: dict, mac_ratio: float, roof=None) -> str:
    """Why the time ratio is not the MAC ratio, from the two rows' roofline keys; with `roof`
    (device_roof), utilization is taken against the device's roofline instead of each job's."""
    line = (
        f"MACs alone predict {mac_ratio:.2f}×; achieved {a['achieved_macs_per_s'] / 1e9:.3g} vs "
        f"{b['achieved_macs_per_s'] / 1e9:.3g} GMAC/s"
    )
    keys = ("intensity_macs_per_byte", "attainable_macs_per_s", "utilization")
    if not all(a.get(k) is not None and b.get(k) is not None for k in keys):
        return (
            f"{line}; this profile has no roofline (intensity, attainable rate), so whether the "
            "gap is bandwidth or overhead is not known"
        )

    def part(name, r):
        attainable, util = r["attainable_macs_per_s"], r["utilization"]
        if roof:
            attainable = min(roof[0], roof[1] * r["intensity_macs_per_byte"])
            util = r["achieved_macs_per_s"] / attainable
        return (
            f"{name} at {util:.2f} of its attainable {attainable / 1e9:.3g} GMAC/s (intensity "
            f"{r['intensity_macs_per_byte']:.3g} MAC/B)"
        )

    where = (
        f" (device roofline: best peak and bandwidth over the run's {roof[2]} timed jobs)"
        if roof
        else ""
    )
    return f"{line}: {part(us, a)}, {part(them, b)}{where}"


def speed_row(profiles: dict, other: str, batch: int = BATCH) -> ClaimRow:
    """PixelFolder's images/s over `other`'s at 256 px (paper Table 1) against this run's."""
    mine, theirs = paper.TABLE1[SUBJECT]["speed_img_s"], paper.TABLE1[other]["speed_img_s"]
    want = mine.value / theirs.value
    us, them = models.display_name(SUBJECT), models.display_name(other)
    claim = f"{us} generates {want:.2f}× the images/s of {them} (256, Table 1)"
    pv = f"{want:.2f}× ({mine.value:g} vs {theirs.value:g} images/s, GPU not stated)"
    tol = "paper ratio inside the measured ratio's 95 % interval"

    def missing(why: str) -> ClaimRow:
        return ClaimRow(claim, mine.source, pv, "—", tol, NOT_MEASURED, why, want, None, UNIT)

    pa, pb = profiles.get((SUBJECT, RESOLUTION)), profiles.get((other, RESOLUTION))
    a, b = _timed(pa, batch), _timed(pb, batch)
    absent = [m for m, r in ((SUBJECT, a), (other, b)) if r is None]
    if absent:
        return missing(
            f"no {RESOLUTION}-px latency at batch {batch} for {', '.join(absent)} in this run "
            f"(profile.latency must time {RESOLUTION} px at batch {batch} for both)"
        )
    dev_a, dev_b = device_of(pa), device_of(pb)
    if dev_a != dev_b:
        return missing(f"timed on different devices ({dev_a} vs {dev_b}): a ratio needs one")
    bad = [m for m, r in ((SUBJECT, a), (other, b)) if r.get("valid") is False]
    if bad:
        return missing(f"the latency row of {', '.join(bad)} is invalid (see the latency table)")
    ia, ib = median_interval(a), median_interval(b)
    ratio, lo, hi = ratio_interval(ia, ib)
    ok = lo <= want <= hi
    noisy = [m for m, r in ((SUBJECT, a), (other, b)) if r.get("noisy")]
    measured = f"{ratio:.2f}× [{lo:.2f}–{hi:.2f}] on {dev_a}, batch {batch}"
    expl = (
        f"{WHY_BATCH}; intervals from {ia[3]} / {ib[3]}"
        + (f"; noisy timing for {', '.join(noisy)}" if noisy else "")
        + "; "
        + roofline_line(us, a, them, b, pb["macs"] / pa["macs"], device_roof(profiles, dev_a))
    )
    if other == "inr_gan":
        expl += "; INR-GAN here is the released inr-gan-bil, not the paper's configuration"
    verdict = REPRODUCED if ok else NOT_REPRODUCED
    return ClaimRow(claim, mine.source, pv, measured, tol, verdict, expl, want, ratio, UNIT)


def speed_rows(profiles: dict) -> list[ClaimRow]:
    others = [m for m in paper.TABLE1 if m != SUBJECT and m in models.available()]
    core = [m for m in ("cips", "stylegan2") if m in others]
    return [speed_row(profiles, m) for m in core + [m for m in others if m not in core]]
