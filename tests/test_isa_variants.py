"""The numerical tests (marker `numerics`) once more under other CPU instruction sets.

A tolerance fitted on one CPU can fail on another: PyTorch, oneDNN, MKL, OpenBLAS and NumPy each
pick their kernels by the instruction set they find (AVX-512, AVX2, SSE4.1 …), and the kernels
sum in different orders, so the last bits of every result move. docs/numerics.md gives each
tolerance's error model and the values measured under each setting.

Each setting caps every library's dispatch through its environment variable and runs
`pytest -m "numerics and not slow"` in a fresh subprocess (tests/isa.py; in a whole test run it
starts in the background when collection ends and these tests, ordered last, judge its outcome).
Before that, a probe in the same environment checks that the setting took effect: the ISA each
library reports must not be above the cap. The default dispatch (the best the CPU has, all
cores) is the main test run itself.

Setting CPU caps only ever lowers the ISA: on a CPU without AVX-512 the `avx2` cap changes no
kernel, so the numerical tests under it would repeat the main run; there only its probe runs
(the caps are harmless and hold); on a CPU without AVX2 it is skipped (OpenBLAS would fault on
Haswell kernels); on other architectures both are skipped.
"""

from __future__ import annotations

import platform

import pytest

from tests import isa


@pytest.mark.parametrize("name", list(isa.VARIANTS))
def test_numerical_tests_pass_under_other_instruction_sets(name, tmp_path):
    """The numerical tests in a subprocess whose libraries are capped at `name`'s ISA."""
    if isa.inside_variant():
        pytest.skip("already inside an ISA variant run")
    if not isa.x86():
        pytest.skip(f"the variants cap x86 instruction sets; this CPU is {platform.machine()}")
    out = isa.outcome(name, tmp_path)
    if out.found is not None:
        isa.check_caps(name, out.found, out.default)
    if out.skip:
        pytest.skip(out.skip)
    assert out.returncode == 0, f"numerical tests under {name} ({isa.VARIANTS[name]}):\n{out.tail}"
    assert " passed" in out.last_line, out.tail
    print(f"{name}: {out.last_line} ({out.seconds:.0f} s)")
