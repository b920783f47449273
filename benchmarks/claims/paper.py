"""The paper's own numbers, in one place, each with where it comes from in the paper (abstract,
Table 1, Table 2, supplementary Table B; all transcribed in docs/paper.md). Claims checking and
reports read them from here; nothing else in pixbench should hard-code a paper value.

Model keys are registry names (`models.available()`; each model's spelling in the paper is its
registered `models.display_name`); a model of the paper's tables that is not registered keeps
its rows for the reports' paper columns only.
"""

from __future__ import annotations

from typing import NamedTuple


class PaperNumber(NamedTuple):
    value: float
    unit: str
    source: str
    note: str = ""


def _t1(params, gmacs, speed, note=""):
    src = "paper Table 1 (256×256)"
    return {
        "params_m": PaperNumber(params, "M params", src, note),
        "gmacs": PaperNumber(gmacs, "GMACs", src, note),
        "speed_img_s": PaperNumber(speed, "images/s", src, "GPU, batch and precision not stated"),
    }


_INR_NOTE = (
    "INR-GAN here is its released code (config inr-gan-bil, the one with public weights; the "
    "measured column is its count); the paper's figures match no released config "
    "(docs/architectures.md#inr-gan)"
)
TABLE1 = {
    "inr_gan": _t1(107.03, 38.76, 84.55, _INR_NOTE),
    "cips": _t1(44.32, 223.36, 11.005),
    "stylegan2": _t1(30.03, 83.77, 44.133),
    "pixelfolder": _t1(20.84, 23.78, 77.735),
}


def _t2(fid_ffhq, p_ffhq, r_ffhq, fid_church, p_church, r_church):
    src = "paper Table 2"
    vals = {
        "ffhq_fid": fid_ffhq,
        "ffhq_precision": p_ffhq,
        "ffhq_recall": r_ffhq,
        "church_fid": fid_church,
        "church_precision": p_church,
        "church_recall": r_church,
    }
    return {k: PaperNumber(v, k.split("_")[1], src) for k, v in vals.items() if v is not None}


TABLE2_METRICS = ("fid", "pr")  # registered metric names of what Table 2 reports
TABLE2 = {
    "inr_gan": _t2(4.95, 0.631, 0.465, 4.04, 0.590, 0.465),
    "cips": _t2(4.38, 0.670, 0.407, 2.92, 0.603, 0.474),
    "stylegan2": _t2(3.83, 0.661, 0.528, 3.86, None, None),
    "pixelfolder": _t2(3.77, 0.683, 0.526, 2.45, 0.630, 0.542),
}

_TB = "paper supplementary Table B (FFHQ)"
TABLE_B_PARAMS = {  # {model: {resolution: PaperNumber(M params)}}
    "inr_gan": {
        512: PaperNumber(112.43, "M params", _TB),
        1024: PaperNumber(117.30, "M params", _TB),
    },
    "cips": {
        512: PaperNumber(145.12, "M params", _TB),
        1024: PaperNumber(
            574.32,
            "M params",
            _TB + "; docs/architectures.md#cips",
            "released code gives 547.85 M at 1024; the paper's digits look transposed or another config was used",
        ),
    },
    "stylegan2": {
        512: PaperNumber(30.28, "M params", _TB),
        1024: PaperNumber(30.37, "M params", _TB),
    },
    "pixelfolder": {
        512: PaperNumber(
            20.84,
            "M params",
            _TB + "; docs/architectures.md#pixelfolder",
            "the table repeats the 256 value; released code at 512 (stages 32/128/512, 64-ch last stage) has 17.48 M",
        ),
        1024: PaperNumber(21.14, "M params", _TB),
    },
}
TABLE_B_FID = {
    "inr_gan": {1024: PaperNumber(16.32, "FID", _TB)},
    "stylegan2": {512: PaperNumber(4.15, "FID", _TB), 1024: PaperNumber(2.84, "FID", _TB)},
    "pixelfolder": {512: PaperNumber(4.08, "FID", _TB), 1024: PaperNumber(2.98, "FID", _TB)},
}

_ABS = "paper abstract (final version)"
ABSTRACT = {  # PixelFolder's reductions, in percent
    "params_reduction_vs_cips": PaperNumber(53, "%", _ABS),
    "macs_reduction_vs_cips": PaperNumber(89, "%", _ABS),
    "params_reduction_vs_stylegan2": PaperNumber(31, "%", _ABS),
    "macs_reduction_vs_stylegan2": PaperNumber(72, "%", _ABS),
    "ffhq_fid": PaperNumber(3.77, "FID", _ABS),
    "church_fid": PaperNumber(2.45, "FID", _ABS),
}
