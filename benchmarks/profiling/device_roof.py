"""One roofline per device for a whole run: the best peak and the best bandwidth over every timed
job on that device, and each timed row's attainable rate and utilization on it.

Why not each job's own roofline: a job samples its kernels for seconds only, and in one quiet
default run the conv kernel read 117 GMAC/s in one job against 214–234 GMAC/s in the eight others;
against its own slow roof that job's model looked better used than the others. Other load only
ever slows a kernel, so the best rate any job saw is the closest to what the device can do.

Every place that shows a utilization reads it from here: the latency table (`measures/latency.py`
`rows`, given the run's profiles through `with_device_roofs`), the roofline plot and the speed
claims' explanation (benchmarks/claims/speed.py), so a row has one utilization in the report.
Utilization stays ≤ 1: each job offered its own model's rates to its roofs, and the device's
roofs are at least every job's.
"""

from __future__ import annotations

from common.provenance import device_label

DEVICE_ROOF = "device_roof"  # the latency-section key `with_device_roofs` adds (report time)


def device_roofs(profiles) -> dict[str, dict]:
    """{device label: its roofline}: the best peak and the best bandwidth over every timed job
    among `profiles` on that device, with the kernel and job that set each and how many jobs
    there were. Profiles from before the measured roofline (no peak or bandwidth) take no part."""
    out: dict[str, dict] = {}
    for p in profiles:
        lat = p.get("latency") or {}
        roof = lat.get("roof") or {}
        if not (roof.get("peak_macs_per_s") and roof.get("bandwidth_bytes_per_s")):
            continue
        job = f"{p.get('model')}@{p.get('resolution')}"
        best = out.setdefault(
            device_label(lat["device_info"]),
            {"peak_macs_per_s": 0.0, "bandwidth_bytes_per_s": 0.0, "jobs": 0},
        )
        best["jobs"] += 1
        if roof["peak_macs_per_s"] > best["peak_macs_per_s"]:
            best.update(
                peak_macs_per_s=roof["peak_macs_per_s"],
                peak_kernel=roof.get("peak_kernel", ""),
                peak_job=job,
            )
        if roof["bandwidth_bytes_per_s"] > best["bandwidth_bytes_per_s"]:
            best.update(
                bandwidth_bytes_per_s=roof["bandwidth_bytes_per_s"],
                bandwidth_kernel=roof.get("bandwidth_kernel", ""),
                bandwidth_job=job,
            )
    return out


def with_device_roofs(profiles) -> list[dict]:
    """The profiles, each timed one given its device's roofline over all of them (a copy with
    `latency.device_roof`): what a report passes to `rows` so every row of a run is judged
    against one roofline per device."""
    profiles = list(profiles)
    roofs = device_roofs(profiles)
    out = []
    for p in profiles:
        lat = p.get("latency")
        roof = roofs.get(device_label(lat["device_info"])) if lat else None
        out.append({**p, "latency": {**lat, DEVICE_ROOF: roof}} if roof else p)
    return out


def roof_of(profile: dict) -> dict | None:
    """The device roofline a profile was given (`with_device_roofs`); alone, its own job's."""
    lat = profile.get("latency") or {}
    if not lat:
        return None
    return lat.get(DEVICE_ROOF) or device_roofs([profile]).get(device_label(lat["device_info"]))


def row_utilization(row: dict, roof: dict | None) -> tuple[float, float] | None:
    """(attainable MAC/s, utilization) of one timed row on `roof`: attainable = min(peak,
    bandwidth × the row's intensity). Without a roof (a profile from before the measured
    roofline) the figures the row was written with, None when it has none."""
    intensity, achieved = row.get("intensity_macs_per_byte"), row.get("achieved_macs_per_s")
    if roof and intensity and achieved:
        attainable = min(roof["peak_macs_per_s"], roof["bandwidth_bytes_per_s"] * intensity)
        return attainable, achieved / attainable
    if row.get("attainable_macs_per_s") is not None and row.get("utilization") is not None:
        return row["attainable_macs_per_s"], row["utilization"]
    return None
