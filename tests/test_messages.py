"""Issue-30 wording and names: a path that is not a readable file says why (folder, symlink
loop, a file above it, broken link), a full disk names the output, a parent that is a file is
named as such, long output names get temp and lock files that fit, and the skipped-images
warning says how many of the skips it lists."""

from __future__ import annotations

import errno
import logging
import os

import pytest

from common import io as cio
from common.cli import UsageError, check_writable_dir
from data import prepare


def test_why_not_a_file_names_each_case(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("x")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    (tmp_path / "broken").symlink_to(tmp_path / "gone")
    assert cio.why_not_a_file(tmp_path / "nowhere.pt") == "does not exist"
    assert cio.why_not_a_file(tmp_path / "folder") == "is a directory, not a file"
    assert cio.why_not_a_file(tmp_path / "loop") == "is a symlink loop"
    assert "is a file, not a folder" in cio.why_not_a_file(tmp_path / "file" / "ckpt.pt")
    assert cio.why_not_a_file(tmp_path / "broken").startswith("is a broken symlink")


def test_checkpoint_errors_use_those_words(tmp_path):
    from training.checkpoint import CheckpointError, load_checkpoint

    (tmp_path / "folder").mkdir()
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    for name, words in (("folder", "is a directory"), ("loop", "symlink loop")):
        with pytest.raises(CheckpointError, match=words):
            load_checkpoint(tmp_path / name)


def test_a_full_disk_names_the_output(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as err:
        cio.atomic_write_text(tmp_path / "out.json", "{}")
    assert err.value.filename == str(tmp_path / "out.json")
    assert list(tmp_path.iterdir()) == []  # no temp file left


def test_a_parent_that_is_a_file_is_named(tmp_path):
    (tmp_path / "blocker").write_text("x")
    with pytest.raises(UsageError) as err:
        check_writable_dir(tmp_path / "blocker" / "sub")
    assert "blocker' is a file, not a folder" in str(err.value)
    assert "File exists" not in str(err.value)


def test_any_valid_output_name_gets_temp_and_lock_files_that_fit(tmp_path):
    """A 250-character name is valid (the limit is 255 bytes); the temp and lock names beside
    it must fit too, and stale temps of it must still be found."""
    out = tmp_path / ("n" * 246 + ".zip")
    cio.atomic_write_text(out, "data")
    assert out.read_text() == "data"
    lock = out.with_name(f".{cio.short(out.name)}.lock")
    with cio.exclusive(lock, "test"):
        pass
    stale = out.with_name(f".{cio.short(out.name)}.abc123.tmp")
    stale.write_text("half")
    assert cio.remove_stale_temps(out) == [stale] and not stale.exists()
    assert cio.short("a" * 300) != cio.short("a" * 299 + "b")  # the hash keeps them apart


def test_the_skip_warning_says_how_many_it_lists(caplog):
    tally = prepare._Tally()
    tally.examined = 30
    tally.skipped = {reason: 0 for reason in prepare.SKIP_REASONS} | {"corrupt": 25}
    tally.examples = [f"img{i}.png: corrupt (x)" for i in range(20)]
    with caplog.at_level(logging.WARNING):
        prepare._log_summary({}, tally, 64)
    assert "the first 20 listed under skipped_examples" in caplog.text


def test_a_section_without_data_says_why_and_how_to_fill_it(tmp_path):
    """Results from an older version (no nearest panels, no stage images) render each empty
    section with a note naming the rule that makes it, not as an empty heading."""
    from pathlib import Path

    from reports import figures, nearest_panels
    from reports.collect import RunResults

    res = RunResults(root=Path(tmp_path), config={"models": {}, "datasets": {}})
    title, body = nearest_panels.section(res)
    assert "No nearest-real-image panels" in body and "<code>nearest</code>" in body
    assert "snakemake --cores all" in figures.gallery({}, str, "stage images", "stages")
