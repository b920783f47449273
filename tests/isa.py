"""The machinery of tests/test_isa_variants.py: each instruction-set cap, the probe that proves it
took effect, and the numerical pass under it, run in the background while the rest of the suite runs.

Each setting caps every library's dispatch through its environment variable, read once when the
library loads, so each pass is `pytest -m "numerics and not slow"` in a fresh subprocess, on one
thread and with its own inductor cache. A pass takes minutes of one core, and most of the main
run leaves one of the two cores idle (imports, Snakemake, Slurm waits), so tests/conftest.py
starts the selected passes when collection ends, one after another at the lowest priority (nice
19: they take only what the main run leaves), and orders their tests last; each test then only
waits for its pass's outcome and judges it. Run alone, a test runs its pass itself.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

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


def x86() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64")


def inside_variant() -> bool:
    """True in a variant's own pass, which must not start passes of its own."""
    return bool(os.environ.get("PIXBENCH_ISA_VARIANT"))


def default_dispatch() -> dict:
    """What the libraries pick unhindered: the main run's own dispatch."""
    return run_probe(dict(os.environ))


def variant_env(name: str, tmp: Path) -> dict:
    env = {**os.environ, **VARIANTS[name], "PIXBENCH_ISA_VARIANT": name}
    # inductor's on-disk cache (torch 2.14.1) is not keyed by the vector ISA ATEN_CPU_CAPABILITY
    # selects: shared with a default run, compiled code gave NaN (avx2) or failed to compile
    # (default), so each variant gets its own (docs/numerics.md)
    env["TORCHINDUCTOR_CACHE_DIR"] = str(tmp / "inductor")
    # one thread: the thread count is one more thing that splits reductions differently (the
    # main run uses all cores), and on a shared 2-core machine OpenMP's spin-waiting makes the
    # float64 double-backward tests 5-30× slower with two
    env["OMP_NUM_THREADS"] = "1"
    return env


@dataclass
class Outcome:
    """One variant: the default dispatch, the probe under the caps, and the numerical pass (or
    why it did not run)."""

    default: dict
    found: dict | None = None
    skip: str | None = None
    returncode: int | None = None
    last_line: str = ""
    tail: str = ""
    seconds: float = 0.0


def run_variant(name: str, default: dict, tmp: Path, nice: bool = False) -> Outcome:
    """Probe, then run the numerical pass under `name`'s caps unless it would repeat the main run."""
    out = Outcome(default=default)
    if name == "avx2" and default["aten"] == "DEFAULT":
        out.skip = "this CPU has no AVX2: the avx2 variant is the default dispatch"
        return out
    env = variant_env(name, tmp)
    out.found = run_probe(env)
    if name == "avx2" and default["aten"] == "AVX2":
        out.skip = "this CPU's best ISA is AVX2: the main run already ran the tests under it"
        return out
    cmd = [sys.executable, "-m", "pytest", "-m", SELECTION, "-q", "-p", "no:cacheprovider"]
    cmd += ["--basetemp", str(tmp / "pytest"), "--durations", "5"]
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # so that an ended session can stop it and its children
        preexec_fn=(lambda: os.nice(19)) if nice else None,
    )
    _RUNNING.append(proc)
    try:
        stdout, stderr = proc.communicate(timeout=PASS_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
    out.seconds = time.monotonic() - start
    out.returncode = proc.returncode
    out.last_line = (stdout.splitlines() or [""])[-1]
    out.tail = stdout[-6000:] + stderr[-2000:]
    return out


# a pass takes ~2-5 min of one core; niced under a busy main run it can take several times that
PASS_TIMEOUT_S = 2400
_RUNNING: list[subprocess.Popen] = []


class Background:
    """The selected variants' outcomes, computed one after another in a thread from the end of
    collection on; an error in the thread is raised again in the test that asks for it."""

    def __init__(self, names: list[str]):
        self.names = names
        self.tmp = Path(tempfile.mkdtemp(prefix="pixbench-isa-"))
        self.done: dict[str, Outcome | BaseException] = {}
        self.ready = threading.Condition()
        self.thread = threading.Thread(target=self._run, name="isa-variants", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            default = default_dispatch()
        except BaseException as exc:  # noqa: BLE001 - handed to every test that waits
            self._put(dict.fromkeys(self.names, exc))
            return
        for name in self.names:
            try:
                result = run_variant(name, default, self.tmp / name, nice=True)
            except BaseException as exc:  # noqa: BLE001 - handed to the test that waits
                result = exc
            self._put({name: result})

    def _put(self, results: dict) -> None:
        with self.ready:
            self.done.update(results)
            self.ready.notify_all()

    def outcome(self, name: str) -> Outcome:
        with self.ready:
            self.ready.wait_for(lambda: name in self.done)
        result = self.done[name]
        if isinstance(result, BaseException):
            raise result
        return result

    def stop(self) -> None:
        """Kill a pass still running (an interrupted or `-x`-stopped session) and its files."""
        for proc in _RUNNING:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(self.tmp, ignore_errors=True)


BACKGROUND: Background | None = None


def start_background(names: list[str]) -> None:
    global BACKGROUND
    BACKGROUND = Background(names)


def stop_background() -> None:
    if BACKGROUND is not None:
        BACKGROUND.stop()


def outcome(name: str, tmp: Path) -> Outcome:
    """The variant's outcome: from the background pass when one was started, else run now."""
    if BACKGROUND is not None and name in BACKGROUND.names:
        return BACKGROUND.outcome(name)
    return run_variant(name, default_dispatch(), tmp)
