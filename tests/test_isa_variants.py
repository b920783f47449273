"""The numerical tests (marker `numerics`) once more under other CPU instruction sets.

A tolerance fitted on one CPU can fail on another: PyTorch, oneDNN, MKL, OpenBLAS and NumPy each
pick their kernels by the instruction set they find (AVX-512, AVX2, SSE4.1 …), and the kernels
sum in different orders, so the last bits of every result move. docs/numerics.md gives each
tolerance's error model and the values measured under each setting.

Each setting caps every library's dispatch through its environment variable, read once when the
library loads, so each runs `pytest -m "numerics and not slow"` in a fresh subprocess, on one
thread and with its own inductor cache (see below). Before that, a probe in the same environment
checks that the setting took effect: the ISA each library reports must not be above the cap. The
default dispatch (the best the CPU has, all cores) is the main test run itself.

Setting CPU caps only ever lowers the ISA: on a CPU without AVX-512 the `avx2` cap changes no
kernel, so the numerical tests under it would repeat the main run; there only its probe runs
(the caps are harmless and hold); on a CPU without AVX2 it is skipped (OpenBLAS would fault on
Haswell kernels); on other architectures both are skipped.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# NumPy's SIMD dispatch targets to switch off: its 2.4+ names (x86-64-v3/v4 groups) and the
# older per-feature ones (unknown names are ignored, so one list serves both)
_NUMPY_AVX512 = "X86_V4,AVX512F,AVX512CD,AVX512_KNL,AVX512_KNM,AVX512_SKX,AVX512_CLX,AVX512_CNL,AVX512_ICL,AVX512_SPR"
_NUMPY_AVX2 = "X86_V3,AVX2,FMA3,F16C"

VARIANTS = {
    # AVX2 + FMA, no AVX-512: the CPUs most users have (Intel Haswell-Skylake client, AMD Zen 1-3)
    "avx2": {
        "ATEN_CPU_CAPABILITY": "avx2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",
        "OPENBLAS_CORETYPE": "Haswell",
        "NPY_DISABLE_CPU_FEATURES": _NUMPY_AVX512,
    },
    # the oldest code paths: ATen's unvectorised kernels, oneDNN's SSE4.1 JIT, MKL's compatible
    # (SSE2) branch, OpenBLAS's Nehalem kernels, NumPy's baseline
    "baseline": {
        "ATEN_CPU_CAPABILITY": "default",
        "ONEDNN_MAX_CPU_ISA": "SSE41",
        "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
        "MKL_CBWR": "COMPATIBLE",
        "OPENBLAS_CORETYPE": "Nehalem",
        "NPY_DISABLE_CPU_FEATURES": f"{_NUMPY_AVX2},{_NUMPY_AVX512}",
    },
}

PROBE = r"""
import json
import sys
import torch
try:
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
except ImportError:  # NumPy 1.x
    from numpy.core._multiarray_umath import __cpu_dispatch__, __cpu_features__

torch.manual_seed(0)
# a conv large enough for oneDNN (ONEDNN_VERBOSE names its ISA) and a matmul (MKL_VERBOSE)
torch.nn.functional.conv2d(torch.randn(2, 32, 33, 33), torch.randn(48, 32, 3, 3), padding=1)
torch.randn(64, 64) @ torch.randn(64, 64)
found = {
    "aten": torch.backends.cpu.get_cpu_capability(),
    "mkl": torch.backends.mkl.is_available(),
    "numpy": sorted(k for k in __cpu_dispatch__ if __cpu_features__.get(k)),
}
try:
    from threadpoolctl import threadpool_info
    found["openblas"] = [i.get("architecture") for i in threadpool_info()
                         if i.get("internal_api") == "openblas"]
except ImportError:
    found["openblas"] = []
print("PROBE " + json.dumps(found), file=sys.stderr)  # stdout: the libraries' verbose lines
"""
ATEN_ORDER = ("DEFAULT", "AVX2", "AVX512")
# every numerical test but the few marked slow (CIPS's 256-px golden forward): ~2 min a pass
SELECTION = "numerics and not slow"


def run_probe(env: dict) -> dict:
    """What each library dispatches to in a fresh process with `env`: ATen's capability,
    oneDNN's ISA line, MKL's reproducibility branch, OpenBLAS's core, NumPy's SIMD targets."""
    env = {**env, "ONEDNN_VERBOSE": "1", "MKL_VERBOSE": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    probe = next(ln for ln in proc.stderr.splitlines() if ln.startswith("PROBE "))
    found = json.loads(probe[6:])
    found["onednn"] = next((ln.split("isa:")[1] for ln in lines if ",isa:" in ln), None)
    mkl = [ln for ln in lines if ln.startswith("MKL_VERBOSE")]
    found["mkl_version_line"] = next(
        (ln for ln in mkl if "oneMKL" in ln or "Intel(R) MKL" in ln), ""
    )
    found["mkl_cnr"] = next((w[4:] for ln in mkl for w in ln.split() if w.startswith("CNR:")), None)
    return found


@pytest.fixture(scope="module")
def default_dispatch() -> dict:
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip(f"the variants cap x86 instruction sets; this CPU is {platform.machine()}")
    return run_probe(dict(os.environ))


def check_caps(name: str, found: dict, default: dict) -> None:
    """Every library reports an ISA at or below the variant's cap."""
    cap = VARIANTS[name]["ATEN_CPU_CAPABILITY"].upper()
    assert ATEN_ORDER.index(found["aten"]) <= ATEN_ORDER.index(cap), found
    isa = found["onednn"] or ""
    if name == "avx2":
        assert isa and not any(s in isa for s in ("AVX-512", "AMX", "AVX10")), isa
        assert all(arch != "SkylakeX" for arch in found["openblas"]), found["openblas"]
        assert not any("512" in t or t == "X86_V4" for t in found["numpy"]), found["numpy"]
        assert "AVX-512" not in found["mkl_version_line"], found["mkl_version_line"]
    else:
        assert "SSE4.1" in isa, isa
        assert all(arch == "Nehalem" for arch in found["openblas"]), found["openblas"]
        assert not [t for t in found["numpy"] if t.startswith(("AVX", "X86_V3", "X86_V4"))]
        if found["mkl"]:  # the compatible branch is MKL's SSE2 code, on every vendor's CPU
            assert found["mkl_cnr"] == "COMPATIBLE", found
    if default["aten"] == "AVX512" and name == "avx2":
        assert found["aten"] == "AVX2"  # it really is another code path here


@pytest.mark.parametrize("name", list(VARIANTS))
def test_numerical_tests_pass_under_other_instruction_sets(name, default_dispatch, tmp_path):
    """The numerical tests in a subprocess whose libraries are capped at `name`'s ISA."""
    if os.environ.get("PIXBENCH_ISA_VARIANT"):
        pytest.skip("already inside an ISA variant run")
    if name == "avx2" and default_dispatch["aten"] == "DEFAULT":
        pytest.skip("this CPU has no AVX2: the avx2 variant is the default dispatch")
    env = {**os.environ, **VARIANTS[name], "PIXBENCH_ISA_VARIANT": name}
    # inductor's on-disk cache (torch 2.14.1) is not keyed by the vector ISA ATEN_CPU_CAPABILITY
    # selects: shared with a default run, compiled code gave NaN (avx2) or failed to compile
    # (default), so each variant gets its own (docs/numerics.md)
    env["TORCHINDUCTOR_CACHE_DIR"] = str(tmp_path / "inductor")
    # one thread: the thread count is one more thing that splits reductions differently (the
    # main run uses all cores), and on a shared 2-core machine OpenMP's spin-waiting makes the
    # float64 double-backward tests 5-30× slower with two
    env["OMP_NUM_THREADS"] = "1"
    check_caps(name, run_probe(env), default_dispatch)
    if name == "avx2" and default_dispatch["aten"] == "AVX2":
        pytest.skip("this CPU's best ISA is AVX2: the main run already ran the tests under it")
    cmd = [sys.executable, "-m", "pytest", "-m", SELECTION, "-q", "-p", "no:cacheprovider"]
    cmd += ["--basetemp", str(tmp_path / "pytest"), "--durations", "5"]
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    took = time.monotonic() - start
    tail = proc.stdout[-6000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, f"numerical tests under {name} ({VARIANTS[name]}):\n{tail}"
    assert " passed" in proc.stdout.splitlines()[-1], tail
    print(f"{name}: {proc.stdout.splitlines()[-1]} ({took:.0f} s)")
