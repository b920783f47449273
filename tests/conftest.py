"""Fixtures several test files share. The expensive ones are built once per session: each is
read, never changed, by the tests that use it (they add files of their own at most), and each
imports what it needs when it is built, so a run of one test file pays only for its own."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from threadpoolctl import threadpool_limits

from tests.faults import JUNK

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def one_thread():
    """One torch/BLAS thread: on a shared 2-core machine oversubscribed OpenMP/OpenBLAS pools
    spin and make small ops ~10x slower. Results do not depend on the thread count."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def one_thread_module():
    """one_thread for a whole module (`pytestmark = pytest.mark.usefixtures(...)`), so that its
    module-scoped fixtures, a training run built once, run on one thread too."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---------------------------------------- training
@pytest.fixture(scope="session")
def dataset(tmp_path_factory) -> Path:
    """64 embedded images at 32×32, prepared by the real data pipeline."""
    out = tmp_path_factory.mktemp("data") / "emb32.zip"
    cmd = [
        sys.executable,
        "-m",
        "data.prepare",
        "--source",
        "embedded:default",
        "--resolution",
        "32",
        "--count",
        "64",
        "--out",
        str(out),
        "-q",
    ]
    subprocess.run(cmd, cwd=ROOT, check=True)
    return out


# ---------------------------------------- quality
@pytest.fixture(scope="session")
def real_run(tmp_path_factory):
    """A prepared embedded dataset and a real (tiny, untrained) StyleGAN2 training checkpoint."""
    prepare = pytest.importorskip("data.prepare")
    ckpt_mod = pytest.importorskip("training.checkpoint")
    models = pytest.importorskip("models")
    root = tmp_path_factory.mktemp("e2e")
    data = root / "embedded32.zip"
    argv = ["--source", "embedded:default", "--resolution", "32", "--out", str(data)]
    assert prepare.main([*argv, "--count", "48", "-q", "--workers", "1"]) == 0
    overrides = {"width": 0.0625, "z_dim": 32, "n_mlp": 2}
    G = models.build("stylegan2", resolution=32, **overrides)
    state = G.state_dict()
    meta = {
        "model": "stylegan2",
        "resolution": 32,
        "overrides": overrides,
        "build_kwargs": G.build_kwargs,
        "kimg": 0,
    }
    ckpt = ckpt_mod.save_checkpoint(root / "ckpt.pt", {"meta": meta, "G": state, "G_ema": state})
    return root, data, ckpt


# ---------------------------------------- efficiency
@pytest.fixture(scope="session")
def profiles256():
    """Every registered generator at 256 with all three counters (no latency)."""
    import models
    from benchmarks.profiling import profile as efficiency
    from common import settings

    return {
        n: efficiency.profile(n, 256, settings.Profile(), latency=False) for n in models.available()
    }


@pytest.fixture(scope="session")
def profile_dir(profiles256, tmp_path_factory):
    """Full profiles at 256; at 512/1024 (params only matter) the CI gate's lighter entries."""
    import models
    from benchmarks.gate import check
    from benchmarks.profiling import profile as efficiency

    d = tmp_path_factory.mktemp("profiles")
    for name in models.available():
        (d / f"{name}-256.json").write_text(json.dumps(profiles256[name]))
        for r in (r for r in (512, 1024) if r in models.resolutions(name)):
            entry = {
                "schema": efficiency.SCHEMA,
                "overrides": {},
                **check.measure("generator", name, r),
            }
            (d / f"{name}-{r}.json").write_text(json.dumps(entry))
    (d / "unrelated.json").write_text("{}")  # not a profile: skipped with a warning
    return d


# ---------------------------------------- faults
@pytest.fixture(scope="session")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """Good and damaged inputs, shared read-only by every case."""
    import models
    from data.prepare import prepare
    from training.checkpoint import save_checkpoint

    root = tmp_path_factory.mktemp("inputs")
    m = {"root": root, "file": root / "a_regular_file"}
    m["file"].write_text("I am a regular file, not a folder\n")
    m["data"] = root / "data.zip"
    prepare("embedded:default", 32, m["data"], count=8, workers=1, progress=False)
    blob = m["data"].read_bytes()
    m["truncated_zip"] = root / "truncated.zip"
    m["truncated_zip"].write_bytes(blob[: len(blob) // 2])
    m["damaged_zip"] = root / "damaged.zip"  # readable recipe, one PNG with a bad CRC
    with zipfile.ZipFile(m["data"]) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith(".png"))
    local = blob[info.header_offset : info.header_offset + 30]
    start = (
        info.header_offset
        + 30
        + int.from_bytes(local[26:28], "little")
        + int.from_bytes(local[28:30], "little")
    )
    damaged = bytearray(blob)
    damaged[start + 40] ^= 0xFF
    m["damaged_zip"].write_bytes(bytes(damaged))
    m["junk_zip"] = root / "junk.zip"
    m["junk_zip"].write_bytes(JUNK)

    build = {"width": 0.0625, "z_dim": 32, "n_mlp": 2}
    G = models.build("stylegan2", resolution=32, **build)
    meta = {
        "model": "stylegan2",
        "resolution": 32,
        "overrides": build,
        "build_kwargs": G.build_kwargs,
        "kimg": 0,
    }
    m["ckpt"] = save_checkpoint(
        root / "ckpt.pt", {"meta": meta, "G": G.state_dict(), "G_ema": G.state_dict()}
    )
    m["junk_ckpt"] = root / "junk.pt"
    m["junk_ckpt"].write_bytes(JUNK)
    m["truncated_ckpt"] = root / "truncated.pt"
    m["truncated_ckpt"].write_bytes(m["ckpt"].read_bytes()[:4096])

    m["truncated_json"] = root / "truncated.json"
    m["truncated_json"].write_text('{"schema": "pixbench.efficiency/1", "model": ')
    m["junk_json"] = root / "junk.json"
    m["junk_json"].write_bytes(JUNK)
    m["junk_yaml"] = root / "junk.yaml"
    m["junk_yaml"].write_bytes(JUNK)
    m["profiles"] = root / "profiles"  # one readable profile, so claims gets to the metrics
    m["profiles"].mkdir()
    (m["profiles"] / "pixelfolder_256.json").write_text(
        json.dumps(
            {
                "schema": "pixbench.efficiency/1",
                "model": "pixelfolder",
                "resolution": 256,
                "params": 1,
                "macs": 1,
                "macs_paper_convention": 1,
            }
        )
    )
    m["bad_metrics"] = root / "metrics"
    m["bad_metrics"].mkdir()
    (m["bad_metrics"] / "faces_pixelfolder.json").write_text('{"summary": {"fd_proxy": ')
    m["empty_results"] = root / "results_empty"  # nothing run yet: the report reads no file
    m["empty_results"].mkdir()
    m["results"] = root / "results_tiny"  # a results folder whose quality JSON is cut short
    (m["results"] / "metrics").mkdir(parents=True)
    (m["results"] / "metrics" / "faces_pixelfolder.json").write_text('{"schema": "pixbench.q')
    m["tiny"] = ROOT / "tests" / "workflow" / "tiny.yaml"
    return m


# ---------------------------------------- instruction-set passes (tests/isa.py)
def _isa_items(items) -> list:
    return [item for item in items if item.path.name == "test_isa_variants.py"]


def pytest_collection_modifyitems(config, items):
    """The ISA variant tests last: their passes, started in the background when collection ends,
    then have the whole run to overlap with."""
    late = _isa_items(items)
    if late:
        items[:] = [item for item in items if item not in late] + late


def pytest_collection_finish(session):
    from tests import isa

    items = _isa_items(session.items)
    if items and isa.x86() and not (session.config.option.collectonly or isa.inside_variant()):
        isa.start_background([item.callspec.params["name"] for item in items])


def pytest_sessionfinish(session):
    from tests import isa

    isa.stop_background()
