"""common.allocator: the stage CLIs keep freed CPU tensor memory in the process (glibc), and
every timing records what the allocator ran with. Checked by what the heap holds after a free
(glibc's mallinfo2), not by time: a freed block the heap keeps is not faulted in again, whatever
the processor's speed."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from common import allocator, provenance

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# A fresh process allocates a 16-MiB activation: untuned glibc (mmap threshold 128 KiB) maps it
# with mmap, to be unmapped on free and faulted in again next time; tuned, it comes from the heap,
# which keeps it when freed (mallinfo2: hblkhd counts the bytes in mmapped blocks).
PROBE = """
import ctypes, ctypes.util, json, sys, torch
from common import allocator
class MallInfo2(ctypes.Structure):  # glibc >= 2.33
    _fields_ = [(n, ctypes.c_size_t) for n in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "tuned":
    allocator.tune()
before = libc.mallinfo2().hblkhd
t = torch.ones(4 * 2**20)
mapped = libc.mallinfo2().hblkhd - before
del t
print(json.dumps({"mapped": mapped, "kept": libc.mallinfo2().fordblks, "state": allocator.state()}))
"""


def probe(mode: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out.splitlines()[-1])


@pytest.mark.skipif(not GLIBC, reason="the tuning applies to glibc malloc only")
def test_tuned_allocator_serves_activations_from_the_heap_that_keeps_them():
    default, tuned = probe("default"), probe("tuned")
    size = 16 * 2**20
    assert default["mapped"] >= size, default  # mmapped: given back on free
    assert tuned["mapped"] == 0 and tuned["kept"] >= size, tuned  # heap: kept on free
    assert tuned["state"] == {
        "allocator": "glibc malloc, tuned",
        "tuned": True,
        "mmap_threshold": allocator.MMAP_THRESHOLD,
        "trim_threshold": allocator.TRIM_THRESHOLD,
        "top_pad": allocator.TOP_PAD,
    }
    assert default["state"] == {"allocator": "system default (not tuned)"}


def test_every_timing_records_the_allocator():
    assert provenance.device_info("cpu")["allocator"] == allocator.state()
    json.dumps(allocator.state())  # goes into JSON records as it is


def test_the_report_header_names_the_allocator_the_timings_ran_with():
    from reports.collect import RunResults
    from reports.header import timing_device
    from tests.report_results import latency_profile

    record = {"allocator": "glibc malloc, tuned", "tuned": True, "mmap_threshold": 32 * 2**20}
    prof = latency_profile("pixelfolder", 10.0, None)
    prof["latency"]["device_info"]["allocator"] = record
    res = RunResults(root=Path("."), profiles={("pixelfolder", 64): prof})
    assert timing_device(res).endswith(
        "; CPU allocator: glibc malloc, tuned (mmap threshold 32 MiB)"
    )
    del prof["latency"]["device_info"]["allocator"]  # older profiles: nothing is claimed
    assert "allocator" not in timing_device(res)
