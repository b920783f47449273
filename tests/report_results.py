"""Hand-made results for the report and compare tests: a small synthetic-but-realistic results
folder (build_results: the shapes of the tiny run's files, the numbers of the real full-width
architectures, claims through the real claim writer) and single latency profiles with the
device fingerprint of a mocked roofline."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pandas as pd
import torch
from PIL import Image

from benchmarks.claims.__main__ import to_csv, to_markdown
from benchmarks.claims.verdicts import claim_rows
from benchmarks.profiling import roofline
from common import settings
from common.layout import Layout

ROOT = Path(__file__).resolve().parents[1]

MODELS = {  # real full-width counts: params, true MACs, paper-convention MACs, FIR MACs at 64/256
    "pixelfolder": {
        64: (18_013_268, 6.774292480e9, 6.774292480e9, 258_048),
        256: (20_843_614, 23.740891136e9, 23.740891136e9, 4_190_208),
    },
    "cips": {
        64: (11_824_154, 12.927107072e9, 12.927107072e9, 0),
        256: (44_317_092, 222.917820416e9, 222.917820416e9, 0),
    },
    "stylegan2": {
        64: (27_032_600, 16.095109120e9, 25.721036800e9, 44_825_600),
        256: (30_034_338, 45.124673536e9, 83.741630464e9, 250_084_352),
    },
}

ROOF = 20e9  # MAC/s: a plausible 2-core CPU roof

# per model at 64 px: roof samples (before batch 1, before batch 4, after) and ms per batch
TIMING = {
    "stylegan2": ([20e9, 21e9, 19.5e9], {1: 2100.0, 4: 7900.0}),  # valid
    "pixelfolder": ([20e9, 20.5e9, 19.8e9], {1: 700.0, 4: 1000.0}),  # batch 4: utilization > 1
    "cips": ([12e9, 22e9, 18e9], {1: 1500.0, 4: 5600.0}),  # roof moved 56 %: all invalid
}

FD = {"pixelfolder": 19.9, "cips": 17.3, "stylegan2": 14.3}


def _png(path: Path, size=(96, 96), seed=0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.effect_noise(size, 40 + seed).convert("RGB").save(path)


def _write(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1))


ROOF_DRIFT_LIMIT = 0.25  # what profiles made before the measured roofline judged drift by


def _latency(model: str, macs: float) -> dict:
    samples, ms = TIMING[model]
    med = sorted(samples)[1]
    spread = (max(samples) - min(samples)) / med
    by_batch = {}
    for i, (b, t) in enumerate(ms.items()):
        util = macs * b / (t / 1e3) / med
        why = []
        if util > 1:
            why.append(f"utilization {util:.2f} > 1: the model cannot beat a dense matmul")
        if spread > ROOF_DRIFT_LIMIT:
            why.append(f"matmul roof moved {100 * spread:.0f} % during the job (limit 25 %)")
        by_batch[str(b)] = {
            "median_ms": t,
            "iqr_ms": t * 0.03,
            "repeats": 5,
            "threads": 2,
            "images_per_s": b / (t / 1e3),
            "achieved_macs_per_s": macs * b / (t / 1e3),
            "utilization": util,
            "roof_before_macs_per_s": samples[i],
            "roof_after_macs_per_s": samples[i + 1],
            "valid": not why,
            "invalid_reason": "; ".join(why) or None,
        }
    roof = {
        "median_macs_per_s": med,
        "min_macs_per_s": min(samples),
        "max_macs_per_s": max(samples),
        "spread": spread,
        "drift_limit": ROOF_DRIFT_LIMIT,
        "samples_macs_per_s": samples,
        "threads": [2],
    }
    info = {"device": "cpu", "device_name": "Intel(R) Xeon(R) Processor", "threads": 2}
    return {"device_info": info, "matmul_macs_per_s": med, "roof": roof, "by_batch": by_batch}


def _profile(model: str, res: int) -> dict:
    params, macs, paper, fir = MODELS[model][res]
    modules = {"style": 2_097_152, "convs": macs - 2_097_152}
    prof = {
        "schema": "pixbench.efficiency/1",
        "model": model,
        "resolution": res,
        "overrides": {},
        "params": params,
        "macs": macs,
        "macs_paper_convention": paper,
        "macs_fir": fir,
        "macs_by_module": modules,
        "macs_by_module_paper_convention": {**modules, "convs": paper - 2_097_152},
        "activation_bytes": {"train_saved": params * 24.0, "inference_peak_live": params * 4.0},
        "counter_agreement": {"max_rel_diff": 3e-4},
        "versions": {"python": "3.11.7", "torch": "2.14.1"},
    }
    if res == 64:
        prof["latency"] = _latency(model, macs)
    return prof


def _quality(model: str, kimg: float, fd: float, seeds=(0, 1)) -> dict:
    def stat(v, spread):
        per = [v - spread, v + spread][: len(seeds)]
        return {"per_seed": per, "mean": v, "std": spread * 1.414 if len(seeds) > 1 else None}

    per_mode = {
        m: stat(fd * f, fd * 0.15) for m, f in (("clean", 1.0), ("legacy_tensorflow", 0.98))
    }
    kd = {m: stat(fd / 150, fd / 600) for m in ("clean", "legacy_tensorflow")}
    single = {
        "precision_proxy": 0.02,
        "recall_proxy": 0.3,
        "density_proxy": 0.01,
        "coverage_proxy": 0.015,
    }
    metrics = {
        "fd_proxy": per_mode,
        "kd_proxy": kd,
        **{k: stat(v, v / 4) for k, v in single.items()},
    }
    summary = {
        f"{k}_{m}": s["mean"] for k in ("fd_proxy", "kd_proxy") for m, s in metrics[k].items()
    }
    summary.update(single)
    card = {
        "extractor": "proxy",
        "label": "PROXY random conv net - NOT Inception/VGG16",
        "comparable": False,
        "num_gen": 64,
        "num_real": 128,
        "seeds": list(seeds),
    }
    gen = {
        "model": model,
        "resolution": 32,
        "kimg": kimg,
        "overrides": {"width": 0.0625, "z_dim": 32, "n_mlp": 2},
    }
    return {
        "schema": "pixbench.quality/1",
        "metrics": metrics,
        "summary": summary,
        "generator": gen,
        "card": card,
    }


def _training(lay: Layout, model: str, i: int) -> None:
    wc = {"dataset": "faces", "model": model}
    log = pd.DataFrame(
        {
            "step": [4, 8, 12, 16],
            "kimg": [0.032, 0.064, 0.096, 0.128],
            "loss_D": [1.3, 1.2, 1.1, 1.0],
            "loss_G": [0.9, 1.0, 1.1, 1.2],
            "sec_per_kimg": [120.0 + 10 * i] * 4,
            "img_per_s": [8.0] * 4,
        }
    )
    lay.path("train_log", **wc).parent.mkdir(parents=True, exist_ok=True)
    log.to_csv(lay.path("train_log", **wc), index=False)
    _write(
        lay.path("train_meta", **wc),
        {
            "model": model,
            "variant": "narrow variant (width=0.0625)",
            "batch": 16,
            "train": {"kimg": 0.128, "batch": 16, "preset": "cpu-auto"},
            "off_recipe": {"r1_gamma": {"official": 10.0, "used": 0.0128}},
        },
    )
    _png(lay.path("nearest_png", **wc), size=(280, 204), seed=i)
    _write(
        lay.path("nearest_json", **wc),
        {
            "model": model,
            "real_to_real_median": 0.9,
            "samples": [
                {"index": j, "nearest": [1, 2, 3], "distances": [1.5, 1.6, 1.7]} for j in range(3)
            ],
        },
    )
    _png(lay.path("samples", **wc) / "grid-00000128.png", seed=i)
    for k, kimg in enumerate((0.0, 0.064, 0.128)):
        curve = _quality(model, kimg, FD[model] * (1.6 - 0.3 * k), seeds=(0,))
        _write(lay.path("curve_dir", **wc) / f"ckpt-{k * 64:08d}.json", curve)
    _write(lay.path("metrics", **wc), _quality(model, 0.128, FD[model]))
    _write(
        lay.path("variant", **wc),
        {"model": model, "params": 150_000 + 1000 * i, "macs": (5 + i) * 1e6},
    )
    _png(lay.path("stages_png", **wc), size=(160, 40), seed=i)
    _write(
        lay.path("stages_json", **wc),
        {"model": model, "kind": "RGB at the end of each stage", "stage_sizes": [8, 16, 32]},
    )


def build_results(root: Path, claims_numbers: bool = True) -> tuple[Path, dict]:
    """A results/<run>/ folder shaped like the tiny run's, and the run's full config."""
    lay = Layout(root)
    profiles = {}
    for i, model in enumerate(MODELS):
        for res in (64, 256):
            profiles[(model, res)] = _profile(model, res)
            _write(lay.path("profile", model=model, res=res), profiles[(model, res)])
        _training(lay, model, i)
    rows = claim_rows(profiles, {})
    csv_text = to_csv(rows)
    if not claims_numbers:  # a claims.csv from before the numeric columns
        df = pd.read_csv(pd.io.common.StringIO(csv_text))
        csv_text = df.drop(columns=["paper_value", "measured_value", "unit"]).to_csv(index=False)
    lay.path("claims_csv").write_text(csv_text)
    lay.path("claims_md").write_text(to_markdown(rows))
    cfg = yaml_config()
    return root, cfg


def yaml_config() -> dict:
    import yaml

    raw = yaml.safe_load((ROOT / "tests/workflow/tiny.yaml").read_text())
    raw["run"] = "synthetic"
    raw["profile"]["latency"] = [{"resolution": 64, "batch_sizes": [1, 4]}]
    return settings.as_dict(settings.load(raw))


# ---------------------------------------- latency profiles


def mocked_roof(monkeypatch, rates: dict) -> roofline.Roofline:
    """A Roofline whose kernels return `rates[name]` (unit, [rate per sample in turn, repeated])."""
    turns = {name: itertools.cycle(seq) for name, (_, seq) in rates.items()}
    monkeypatch.setattr(roofline, "best_rate", lambda k, device: (next(turns[k.name]), 0.0))
    kernels = [roofline.Kernel(n, None, 1.0, unit) for n, (unit, _) in rates.items()]
    return roofline.Roofline(torch.device("cpu"), kernels=kernels)


def roof_fingerprint(monkeypatch, peaks, stream=(19e9, 20e9, 20.5e9), cpu=None) -> dict:
    """Roofline.fingerprint of a job whose conv kernel read `peaks` (MAC/s) in its sweeps."""
    rates = {"conv": ("macs", peaks), "stream copy": ("bytes", stream)}
    roof = mocked_roof(monkeypatch, rates)
    for _ in peaks:
        roof.sweep()
    fp = roof.fingerprint()
    if cpu:
        fp["cpu"].update(cpu)
    return fp


def latency_profile(model: str, ms: float, fp: dict | None, name="AMD EPYC") -> dict:
    """A profile with one timed row (batch 1) as the latency measure writes it."""
    lat = {
        "device_info": {"device": "cpu", "device_name": name, "threads": 2},
        "matmul_macs_per_s": None,
        "by_batch": {"1": {"median_ms": ms, "ci95_ms": [0.99 * ms, 1.01 * ms], "valid": True}},
    }
    if fp is not None:
        lat["fingerprint"] = fp
    return {"model": model, "resolution": 64, "latency": lat}
