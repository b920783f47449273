"""Issue 27, cases 14 and 15: numbers as users write them, and sizes that cannot mean anything,
refused when the config is loaded (the dry run and the workflow's start), not hours later.

- 14: YAML 1.1 (PyYAML, and Snakemake's own reader of --configfile) reads `1e12` as a string,
  so `train.kimg: 1e12` was refused as "'1e12' is not of type 'number'". Such a string is now
  the number wherever the schema wants one, from either reader; an absurd value is then refused
  for its size.
- 15: a width that rounds every layer to zero channels (hidden by the 16-channel floor) is
  refused; a batch larger than a folder/zip dataset is a pre-flight problem, as a batch larger
  than an embedded set or `max_images` already is a config error.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml
from PIL import Image
from snakemake.common.configfile import load_configfile

from common import settings
from common.cli import UsageError
from workflow import config as run_config
from workflow import preflight

ROOT = Path(__file__).resolve().parents[1]
TINY = (ROOT / "tests/workflow/tiny.yaml").read_text()
TRAIN_LINE = next(line for line in TINY.splitlines() if line.startswith("train:"))


def _config(tmp_path: Path, train: str = TRAIN_LINE, width: str = "0.0625") -> Path:
    """tiny.yaml with its `train:` line and every model's width replaced, as text: the test is
    about how the YAML is read, so the values must reach the readers as the user wrote them."""
    text = TINY.replace(TRAIN_LINE, train).replace("width: 0.0625", f"width: {width}")
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    return path


def _both_readers(path: Path):
    """The run config as our reader builds it and as it is built from what Snakemake hands
    over (its own parse of --configfile, then workflow/rules/common.smk's run_config.load)."""
    return run_config.load(path), run_config.load(dict(load_configfile(str(path))))


def test_exponent_floats_are_numbers_from_either_reader(tmp_path):
    train = "train: {kimg: 2e1, batch: 1e1, snap_kimg: 5e-1, seed: 0, gpus: 1, threads: 1}"
    path = _config(tmp_path, train)
    assert load_configfile(str(path))["train"]["kimg"] == "2e1"  # what YAML 1.1 hands over
    for cfg in _both_readers(path):
        assert cfg.train.kimg == 20.0 and cfg.train.snap_kimg == 0.5
        assert cfg.train.batch == 10 and type(cfg.train.batch) is int  # an integer field


@pytest.mark.parametrize(
    "kimg,words",
    [
        ("1e12", "train.kimg 1e+12 is more than 1e+08"),  # read, then refused for its size
        ("1e999", "train.kimg: must be a finite number, got inf"),
        ("ten", "train.kimg: 'ten' is not of type 'number'"),  # other strings: still strings
    ],
)
def test_absurd_or_wordy_kimg_is_refused_in_one_line(tmp_path, kimg, words):
    path = _config(tmp_path, TRAIN_LINE.replace("kimg: 0.064", f"kimg: {kimg}"))
    for source in (path, dict(load_configfile(str(path)))):
        with pytest.raises(UsageError) as err:
            run_config.load(source)
        assert words in str(err.value) and "\n" not in str(err.value), err.value


@pytest.mark.parametrize("width", ["1.0e-9", "1e-9", "0.015625"])
def test_a_width_that_rounds_every_layer_to_zero_channels_is_refused(tmp_path, width):
    """0.015625 = 8/512: the widest layer (512) rounds to 0 channels in steps of 16."""
    with pytest.raises(UsageError) as err:
        run_config.load(_config(tmp_path, width=width))
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'cfg.yaml'}: models.pixelfolder.build: "), message
    assert "width" in message and "\n" not in message
    if width != "1e-9":  # a string in the free-form build table: refused as not a number
        assert "0 channels" in message and "at least 0.03125" in message, message


def test_the_narrowest_meaningful_width_and_the_default_variants_pass(tmp_path):
    """0.03125 gives the widest layer 16 channels; 0.0625 (the default run's narrow variants)
    leaves the 1024 px layers on the floor, the documented rounding, and is accepted."""
    for width in ("0.03125", "0.0625"):
        assert run_config.load(_config(tmp_path, width=width)).models["cips"].build["width"]


def _folder(root: Path, count: int, size: int = 32) -> Path:
    root.mkdir()
    for i in range(count):
        buf = io.BytesIO()
        Image.new("RGB", (size, size), (i * 40 % 256, 80, 160)).save(buf, format="PNG")
        (root / f"{i:03d}.png").write_bytes(buf.getvalue())
    return root


def _batch_items(tmp_path: Path, batch: int, images: int):
    data = yaml.safe_load(TINY)
    data["datasets"]["faces"]["source"] = str(_folder(tmp_path / "faces", images))
    data["train"]["batch"] = batch
    cfg = run_config.load(data)  # a folder's count is not the config's to know
    report = preflight.preflight(cfg, "cfg.yaml", skip=("weights", "gpus", "disk"))
    return report, [i for i in report["items"] if i["check"] == "batch"]


def test_a_batch_larger_than_a_folder_dataset_is_a_preflight_problem(tmp_path):
    report, items = _batch_items(tmp_path, batch=6, images=5)
    assert not report["ok"] and len(items) == 1, report
    assert items[0]["status"] == "MISMATCH" and items[0]["fix"] == "edit cfg.yaml"
    assert "train.batch 6 is larger than dataset faces (5 images at most)" in items[0]["detail"]
    (line,) = [ln for ln in preflight.problem_lines(report) if " batch " in ln]
    assert line.startswith("error: MISMATCH batch faces: train.batch 6"), line


def test_a_batch_the_folder_holds_passes(tmp_path):
    report, items = _batch_items(tmp_path, batch=5, images=5)
    assert report["ok"] and items == [], report


def test_the_default_configs_still_load():
    for name in ("default.yaml", "paper.yaml"):
        assert settings.load(ROOT / "config" / name).train.kimg > 0
        run_config.load(ROOT / "config" / name)
