"""Table 1's speed column judged as ratios: PixelFolder's images/s over CIPS's, StyleGAN2's and
INR-GAN's at 256 px, from this run's own latencies.

Why ratios: absolute images/s belong to a device (the paper names no GPU, batch or precision),
but how much faster one generator is than another can be checked on any device, and the verdict
names the device it was checked on. The ratio's meaning is device-dependent all the same (a CPU
is compute-bound where a GPU is launch- or bandwidth-bound), so a ratio that does not hold on a
CPU is "not reproduced on this device", never a refutation of the paper's GPU figure.

Batch: 1 at 256 px (the profiler's claim row, measures/latency.py `CLAIM_RESOLUTION` and
`CLAIM_BATCH`, timed to a tighter CI than other rows), because that is the one batch size at
which all four are timed in the default CPU run; a run that times a larger batch at 256 px for
all four may pass `batch=`.

Every figure is read from the latency table's row (`measure_registry.table_rows`, the device's
roofline given first), by its column name, so a claim quotes what the table shows.

The interval follows the measurement (INTERVAL_METHOD, also the claims table's caption). Each
median latency comes with a 95 % interval: the table's bootstrap CI columns when the profile
has them, else the boxplot-notch interval median ± 1.57 · IQR / √n (McGill, Tukey & Larsen 1978;
≈ 95 % for a median from n repeats). The two timings are independent jobs and their errors
multiplicative, so the ratio's interval adds the two relative half-widths in quadrature in log
space.

Why a verdict needs more than "the paper's ratio is inside": a wide interval contains the
paper's ratio and its rivals alike, and then it has confirmed nothing. So a claim is
`reproduced` only when the interval contains the paper's ratio AND excludes the plausible
alternatives, equal speed (1.0) and the ratio the MACs alone predict (where either prints
differently from the paper's ratio), and neither timing is noisy; `not reproduced` when the
interval excludes the paper's ratio, saying on which side; `inconclusive` otherwise, saying why.

Why a ratio differs from the MAC ratio, in one line: time ratio = MAC ratio × (achieved MAC/s of
PixelFolder ÷ that of the other), and the achieved rate is utilization × attainable rate on the
device's roofline (benchmarks/profiling/device_roof.py, the one the latency table uses).
"""

from __future__ import annotations

import math

import models
from benchmarks.claims import paper
from benchmarks.claims.rows import (
    INCONCLUSIVE,
    NOT_MEASURED,
    NOT_REPRODUCED,
    REPRODUCED,
    ClaimRow,
)
from benchmarks.profiling import registry as measure_registry
from benchmarks.profiling.device_roof import device_roofs, with_device_roofs
from benchmarks.profiling.measures.latency import CLAIM_BATCH, CLAIM_RESOLUTION
from benchmarks.profiling.timing import log_half, ratio_interval
from common.evidence import latency_ref

SUBJECT = "pixelfolder"
RESOLUTION = CLAIM_RESOLUTION
BATCH = CLAIM_BATCH
NOTCH = 1.57  # median ± 1.57·IQR/√n: the boxplot notch, ≈ 95 % for a median
UNIT = "× speed"
WHY_BATCH = (
    f"batch {BATCH} at {RESOLUTION} px: the batch at which all four models are timed in the "
    "default run (the paper states none)"
)
TOLERANCE = "paper ratio inside the measured ratio's 95 % interval, 1.00 and the MAC ratio outside"
INTERVAL_METHOD = (
    "Speed ratios: PixelFolder's images/s over the other model's = the other's median latency ÷ "
    "PixelFolder's, from the latency table's median and 95 % CI columns. Interval = ratio × "
    "e^(±δ), δ = √(δ₁² + δ₂²), where δᵢ is the larger of ln(CI high ÷ median) and ln(median ÷ CI "
    "low) of each row: two independent timings with multiplicative errors, so their relative "
    "half-widths add in quadrature in log space. Reproduced: the paper's ratio inside, and both "
    "1.00 (equal speed) and the ratio MACs alone predict outside, with no noisy row; not "
    "reproduced: the paper's ratio outside; inconclusive otherwise."
)


def median_interval(row: dict) -> tuple[float, float, float, str]:
    """(median, lo, hi, how) of one latency-table row (`table_rows`), in ms."""
    med = float(row["median_ms"])
    lo, hi = row.get("ci95_lo_ms"), row.get("ci95_hi_ms")
    if measure_registry.known(lo) and measure_registry.known(hi):
        return med, float(lo), float(hi), "bootstrap 95 % CI"
    iqr = row.get("iqr_ms") if measure_registry.known(row.get("iqr_ms")) else 0.0
    n = int(row["repeats"]) if measure_registry.known(row.get("repeats")) else 1
    half = NOTCH * float(iqr) / math.sqrt(max(n, 1))
    return med, max(med - half, 1e-12), med + half, "IQR notch ≈ 95 %"


def _shown(x: float) -> str:
    return f"{x:.2f}"


def judge(
    want: float, ratio: float, lo: float, hi: float, mac_ratio: float, noisy=(), us="", them=""
) -> tuple[str, str]:
    """(verdict, why) of a measured ratio with its interval [lo, hi] against the paper's `want`:
    module docstring. An alternative counts only where it prints differently from the paper's
    ratio (2 decimals, as the claim shows both): one that reads the same is no alternative.
    `noisy` names the models whose timing row is noisy."""
    interval = f"interval {lo:.2f}–{hi:.2f}"
    if not lo <= want <= hi:
        above = lo > want
        side, pace = ("above", "faster") if above else ("below", "slower")
        who = f"{us or 'the subject'} measured {pace} relative to {them or 'the other'}"
        why = (
            f"not reproduced: measured {ratio:.2f}× is {side} the paper's {want:.2f}× ({who} than "
            f"the paper claims; {interval})"
        )
        if noisy:
            why += f"; noisy timing for {', '.join(noisy)}, the interval still excludes the paper's"
        return NOT_REPRODUCED, why
    rivals = [
        f"{_shown(x)} ({what})"
        for x, what in ((1.0, "equal speed"), (mac_ratio, "what MACs alone predict"))
        if _shown(x) != _shown(want) and lo <= x <= hi
    ]
    reasons = []
    if rivals:
        reasons.append("the interval also contains " + " and ".join(rivals))
    if noisy:
        reasons.append(
            f"the timing of {', '.join(noisy)} is noisy (CI wider than its target, see the "
            "latency table), so its interval cannot back a verdict"
        )
    if reasons:
        return INCONCLUSIVE, f"inconclusive: {'; '.join(reasons)} ({interval})"
    outside = ", ".join(
        _shown(x) for x in dict.fromkeys((1.0, mac_ratio)) if _shown(x) != _shown(want)
    )
    return REPRODUCED, (
        f"reproduced: the paper's {want:.2f}× is inside and {outside or 'no alternative'} outside "
        f"({interval})"
    )


def _ms(x: float) -> str:
    """4 significant digits, as the latency table shows its median and CI columns."""
    decimals = max(0, 3 - math.floor(math.log10(abs(x)))) if x else 0
    return f"{x:.{decimals}f}"


def recompute_line(us: str, ia: tuple, them: str, ib: tuple) -> str:
    """The numbers behind the interval, as the latency table shows them, and the arithmetic."""
    da, db = log_half(*ia[:3]), log_half(*ib[:3])
    how = ia[3] if ia[3] == ib[3] else f"{ia[3]} / {ib[3]}"
    return (
        f"latency table: {us} {_ms(ia[0])} ms [{_ms(ia[1])}–{_ms(ia[2])}], {them} "
        f"{_ms(ib[0])} ms [{_ms(ib[1])}–{_ms(ib[2])}] ({how}); δ = √({da:.4f}² + {db:.4f}²) = "
        f"{math.hypot(da, db):.4f}, interval = ratio × e^(±δ)"
    )


def _timed(profile: dict | None, batch: int) -> dict | None:
    """The latency table's row of `batch` in `profile`, None where it was not timed."""
    rows = measure_registry.table_rows("latency", profile) if profile else []
    return next((r for r in rows if r["batch"] == batch), None)


def device_roof(profiles: dict, device: str) -> dict | None:
    """The device's roofline over every timed job of the run (device_roof.device_roofs): the
    one the latency table's utilization is against, so the two say the same."""
    return device_roofs(profiles.values()).get(device)


ROOFLINE_COLUMNS = ("utilization_vs_attainable", "attainable_GMAC_per_s", "intensity_at_batch")


def roofline_line(us: str, a: dict, them: str, b: dict, mac_ratio: float, roof=None) -> str:
    """Why the time ratio is not the MAC ratio: each latency-table row's utilization, the one
    the table shows (on the device's roofline `roof`, whose job count the line names)."""
    line = (
        f"MACs alone predict {mac_ratio:.2f}×; achieved {a['achieved_GMAC_per_s']:.3g} vs "
        f"{b['achieved_GMAC_per_s']:.3g} GMAC/s"
    )
    if not all(measure_registry.known(r.get(c)) for r in (a, b) for c in ROOFLINE_COLUMNS):
        return (
            f"{line}; this profile has no roofline (intensity, attainable rate), so whether the "
            "gap is bandwidth or overhead is not known"
        )

    def part(name, r):
        return (
            f"{name} at {r['utilization_vs_attainable']:.2f} of its attainable "
            f"{r['attainable_GMAC_per_s']:.3g} GMAC/s (intensity {r['intensity_at_batch']:.3g} "
            "MAC/B)"
        )

    where = (
        f" (device roofline: best peak and bandwidth over the run's {roof['jobs']} timed jobs, "
        "as in the latency table)"
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

    def missing(why: str) -> ClaimRow:
        return ClaimRow(claim, mine.source, pv, "—", TOLERANCE, NOT_MEASURED, why, want, None, UNIT)

    roofed = dict(zip(profiles, with_device_roofs(profiles.values()), strict=True))
    pa, pb = roofed.get((SUBJECT, RESOLUTION)), roofed.get((other, RESOLUTION))
    a, b = _timed(pa, batch), _timed(pb, batch)
    absent = [m for m, r in ((SUBJECT, a), (other, b)) if r is None]
    if absent:
        return missing(
            f"no {RESOLUTION}-px latency at batch {batch} for {', '.join(absent)} in this run "
            f"(profile.latency must time {RESOLUTION} px at batch {batch} for both)"
        )
    dev_a, dev_b = a["device"], b["device"]
    if dev_a != dev_b:
        return missing(f"timed on different devices ({dev_a} vs {dev_b}): a ratio needs one")
    bad = [m for m, r in ((SUBJECT, a), (other, b)) if r[measure_registry.VALID] is False]
    if bad:
        return missing(f"the latency row of {', '.join(bad)} is invalid (see the latency table)")
    ia, ib = median_interval(a), median_interval(b)
    ratio, lo, hi = ratio_interval(ia, ib)
    gmacs = measure_registry.column("GMACs")  # the MACs measure's column, as the table reads it
    mac_ratio = gmacs.value(pb) / gmacs.value(pa)
    noisy = [name for name, r in ((us, a), (them, b)) if r.get("noisy") is True]
    verdict, why = judge(want, ratio, lo, hi, mac_ratio, noisy, us, them)
    measured = f"{ratio:.2f}× [{lo:.2f}–{hi:.2f}] on {dev_a}, batch {batch}"
    expl = "; ".join(
        (
            why,
            WHY_BATCH,
            recompute_line(us, ia, them, ib),
            roofline_line(us, a, them, b, mac_ratio, device_roof(profiles, dev_a)),
        )
    )
    if other == "inr_gan":
        expl += "; INR-GAN here is the released inr-gan-bil, not the paper's configuration"
    return ClaimRow(
        claim,
        *(mine.source, pv, measured, TOLERANCE, verdict, expl, want, ratio, UNIT),
        measured_lo=lo,
        measured_hi=hi,
        evidence=f"{latency_ref(SUBJECT, RESOLUTION, batch)} {latency_ref(other, RESOLUTION, batch)}",
    )


def speed_rows(profiles: dict) -> list[ClaimRow]:
    others = [m for m in paper.TABLE1 if m != SUBJECT and m in models.available()]
    core = [m for m in ("cips", "stylegan2") if m in others]
    return [speed_row(profiles, m) for m in core + [m for m in others if m not in core]]
