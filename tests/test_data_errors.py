"""data.prepare on bad input: a one-line DatasetError naming the path, and nothing left behind
(an existing output is kept); through the CLI, corrupt input (a zip member with a bad CRC, a
truncated image, an unreadable entry, a folder that is not an LMDB, LMDB errors, an output
folder that cannot be made) is exactly one stderr line, exit 2 (1 for OS errors), no output
file and no temp file. `-q` keeps progress/info logs off stderr, as the workflow's logs do."""

from __future__ import annotations

import io
import os
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data.dataset import DatasetError, read_recipe
from data.prepare import prepare
from tests.helpers import leftovers, noise_pixels, prepare_cli

R = 32


# ---------------------------------------------------------------------------------------------
# Bad input: one-line DatasetError naming the path, and nothing left behind.


def _folder_with(tmp_path: Path, name: str, files: dict[str, bytes]) -> Path:
    d = tmp_path / name
    d.mkdir()
    for rel, data in files.items():
        (d / rel).write_bytes(data)
    return d


def _png(size: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), (10, 20, 30)).save(buf, format="PNG")
    return buf.getvalue()


def _bad_cases(tmp_path: Path) -> list[tuple[dict, str]]:
    empty = _folder_with(tmp_path, "empty", {})
    no_images = _folder_with(tmp_path, "noimg", {"a.txt": b"x", "b.csv": b"y"})
    corrupt = _folder_with(tmp_path, "corrupt", {"a.png": b"\x89PNG broken", "b.jpg": b"nope"})
    small = _folder_with(tmp_path, "small", {"a.png": _png(16)})
    ok = _folder_with(tmp_path, "ok", {"a.png": _png(32)})
    tar = tmp_path / "images.tar"
    tar.write_bytes(b"x" * 100)
    badzip = tmp_path / "broken.zip"
    badzip.write_bytes(b"PK not really")
    return [
        ({"source": tmp_path / "missing"}, "missing"),
        ({"source": empty}, "empty"),
        ({"source": no_images}, "a.txt"),
        ({"source": corrupt}, "corrupt"),
        ({"source": small}, "small"),
        ({"source": tar}, "images.tar"),
        ({"source": badzip}, "broken.zip"),
        ({"source": ok, "resolution": 48}, "power of two"),
        ({"source": ok, "resolution": 2048}, "power of two"),
        ({"source": ok, "resolution": 4}, "power of two"),
        ({"source": ok, "max_images": 0}, "max-images"),
        ({"source": ok, "out": tmp_path / "out" / "x.tar"}, "x.tar"),
        ({"source": ok, "seed": 1}, "embedded"),
        ({"source": "embedded:nope"}, "embedded:default"),
    ]


def test_bad_inputs_raise_one_line_errors_and_leave_nothing(tmp_path: Path) -> None:
    outdir = tmp_path / "out"
    outdir.mkdir()
    for kwargs, needle in _bad_cases(tmp_path):
        kwargs = {"resolution": R, "out": outdir / "ds.zip", "progress": False, **kwargs}
        with pytest.raises(DatasetError) as info:
            prepare(**kwargs)
        msg = str(info.value)
        assert needle in msg and "\n" not in msg, msg
        assert leftovers(outdir) == [], f"{kwargs}: left {leftovers(outdir)}"


def test_failed_prepare_keeps_existing_output(tmp_path: Path) -> None:
    out = tmp_path / "ds.zip"
    out.write_bytes(b"previous")
    bad = _folder_with(tmp_path, "bad", {"a.png": b"broken"})
    with pytest.raises(DatasetError):
        prepare(bad, R, out, progress=False)
    assert out.read_bytes() == b"previous" and leftovers(tmp_path) == ["bad", "ds.zip"]


def test_lmdb_without_package_explains_install(tmp_path: Path, monkeypatch) -> None:
    lsun = tmp_path / "church_outdoor_train_lmdb"
    lsun.mkdir()
    (lsun / "data.mdb").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "lmdb", None)  # makes `import lmdb` raise ImportError
    for source in (lsun, lsun / "data.mdb"):
        with pytest.raises(DatasetError, match="pip install lmdb") as info:
            prepare(source, R, tmp_path / "o.zip", progress=False)
        assert str(lsun) in str(info.value)
    assert not (tmp_path / "o.zip").exists()


def test_cli_exit_codes_and_messages(tmp_path: Path) -> None:
    out = tmp_path / "out" / "ds.zip"
    missing = tmp_path / "nowhere"
    res = prepare_cli("--source", str(missing), "--resolution", "32", "--out", str(out))
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and str(missing) in res.stderr
    res = prepare_cli("--source", "embedded:default", "--resolution", "100", "--out", str(out))
    assert res.returncode == 2 and "--resolution: 100 is not one of [8, 16, 32" in res.stderr
    bad = _folder_with(tmp_path, "allbad", {"a.png": b"junk"})
    res = prepare_cli("--source", str(bad), "--resolution", "32", "--out", str(out), "-q")
    assert res.returncode == 2 and str(bad) in res.stderr.splitlines()[-1]
    assert leftovers(out.parent) == []
    res = prepare_cli(
        "--source", "embedded:shapes", "--resolution", "16", "--out", str(out), "--count", "5"
    )
    assert res.returncode == 0, res.stderr
    assert read_recipe(out)["num_images"] == 5 and leftovers(out.parent) == ["ds.zip"]


def test_atomic_output_permissions_and_cleanup(tmp_path: Path) -> None:
    """Every writer in the project goes through common.io: normal permissions (not mkstemp's
    0600, which would hide reports from other users), existing modes kept, nothing left on error."""
    from common.io import atomic_output, atomic_write_text

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "new" / "a.txt", "x")
        assert (tmp_path / "new" / "a.txt").stat().st_mode & 0o777 == 0o644
        (tmp_path / "b.txt").write_text("old")
        (tmp_path / "b.txt").chmod(0o640)
        atomic_write_text(tmp_path / "b.txt", "new")
        assert (tmp_path / "b.txt").stat().st_mode & 0o777 == 0o640
        with pytest.raises(RuntimeError), atomic_output(tmp_path / "b.txt", suffix=".png") as tmp:
            assert tmp.suffix == ".png"
            tmp.write_text("partial")
            raise RuntimeError("crash")
        assert (tmp_path / "b.txt").read_text() == "new"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["b.txt", "new"]
    finally:
        os.umask(old)


# ---------------------------------------------------------------------------------------------
# Corrupt input through the CLI: exactly one stderr line, exit 2 (1 for OS errors), no output
# file and no temp file. `-q` keeps progress/info logs off stderr, as the workflow's logs do.


def _assert_one_line_failure(code: int, stderr: str, out: Path, needle: str, codes=(2,)) -> str:
    lines = stderr.strip().splitlines()
    assert code in codes, (code, stderr)
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ") and needle in lines[0], lines[0]
    assert "Traceback" not in stderr
    assert not out.exists() and leftovers(out.parent) == [], "no output and no temp file"
    return lines[0]


def _run_main(argv: list[str], capsys) -> tuple[int, str]:
    from common.cli import run
    from data.prepare import main

    capsys.readouterr()
    code = run(main, [str(a) for a in argv])
    return code, capsys.readouterr().err


def _stored_zip_with_bad_crc(path: Path) -> None:
    """Two stored PNG members; one byte in the middle of the second member's data is flipped,
    so the central directory is fine but reading that member fails its CRC-32 check."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("a.png", _png(32))
        zf.writestr("b.png", _png(40))
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("b.png")
    raw = bytearray(path.read_bytes())
    name_len, extra_len = (
        int.from_bytes(raw[info.header_offset + o : info.header_offset + o + 2], "little")
        for o in (26, 28)
    )
    data_start = info.header_offset + 30 + name_len + extra_len
    raw[data_start + info.compress_size // 2] ^= 0xFF
    path.write_bytes(bytes(raw))


def test_cli_zip_with_bad_crc_member(tmp_path: Path) -> None:
    src = tmp_path / "damaged.zip"
    _stored_zip_with_bad_crc(src)
    with zipfile.ZipFile(src) as zf, pytest.raises(zipfile.BadZipFile, match="CRC"):
        zf.read("b.png")  # the fixture really is damaged
    out = tmp_path / "out" / "ds.zip"
    res = prepare_cli("--source", str(src), "--resolution", "32", "--out", str(out), "-q")
    line = _assert_one_line_failure(res.returncode, res.stderr, out, str(src))
    assert "b.png" in line and "CRC" in line


def test_cli_folder_with_truncated_image(tmp_path: Path) -> None:
    good = io.BytesIO()
    Image.fromarray(noise_pixels(np.random.default_rng(2), 64, 64)).save(good, format="JPEG")
    src = _folder_with(tmp_path, "trunc", {"a.jpg": good.getvalue()[: len(good.getvalue()) // 2]})
    out = tmp_path / "out" / "ds.zip"
    res = prepare_cli("--source", str(src), "--resolution", "32", "--out", str(out), "-q")
    line = _assert_one_line_failure(res.returncode, res.stderr, out, str(src))
    assert "a.jpg" in line and "truncated" in line


def test_folder_with_unreadable_entry(tmp_path: Path, capsys) -> None:
    src = _folder_with(tmp_path, "links", {"a.png": _png(32)})
    (src / "b.png").symlink_to(tmp_path / "gone.png")  # a dangling link: listed, not readable
    out = tmp_path / "out" / "ds.zip"
    code, err = _run_main(["--source", src, "--resolution", 32, "--out", out, "-q"], capsys)
    assert "b.png" in _assert_one_line_failure(code, err, out, "cannot read")


def test_cli_lmdb_folder_that_is_not_an_lmdb(tmp_path: Path) -> None:
    src = tmp_path / "fake_lmdb"
    src.mkdir()
    (src / "data.mdb").write_bytes(b"this is not an LMDB file" * 200)
    out = tmp_path / "out" / "ds.zip"
    res = prepare_cli("--source", str(src), "--resolution", "32", "--out", str(out), "-q")
    line = _assert_one_line_failure(res.returncode, res.stderr, out, str(src))
    try:
        import lmdb  # noqa: F401
    except ImportError:
        assert "pip install lmdb" in line
    else:
        assert "cannot open LMDB" in line


def _fake_lmdb(fail_open: bool):
    """A stand-in `lmdb` module: open() fails like on a non-LMDB file, or iteration hits a
    corrupt page after one good entry."""
    import types

    mod = types.ModuleType("lmdb")

    class Error(Exception):
        pass

    class _Txn:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def cursor(self):
            yield b"0001", _png(32)
            raise Error("mdb_cursor_get: MDB_CORRUPTED: Located page was wrong type")

    class _Env:
        def stat(self):
            return {"entries": 2}

        def begin(self, write=False):
            return _Txn()

        def close(self):
            pass

    def open_(path, **kwargs):
        if fail_open:
            raise Error(f"{path}: MDB_INVALID: File is not an LMDB file")
        return _Env()

    mod.Error, mod.open = Error, open_
    return mod


@pytest.mark.parametrize("fail_open", [True, False], ids=["open", "read"])
def test_lmdb_errors_are_one_line(tmp_path: Path, monkeypatch, capsys, fail_open) -> None:
    monkeypatch.setitem(sys.modules, "lmdb", _fake_lmdb(fail_open))
    src = tmp_path / "lsun"
    src.mkdir()
    (src / "data.mdb").write_bytes(b"junk")
    out = tmp_path / "out" / "ds.zip"
    code, err = _run_main(
        ["--source", src, "--resolution", 32, "--out", out, "-q", "--workers", 1], capsys
    )
    line = _assert_one_line_failure(code, err, out, str(src))
    assert ("cannot open LMDB" if fail_open else "is damaged") in line
    assert "MDB_" in line


def test_cli_output_folder_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("I am a regular file")
    out = blocker / "sub" / "ds.zip"
    res = prepare_cli(
        "--source", "embedded:shapes", "--count", "3", "--resolution", "16", "--out", str(out), "-q"
    )
    _assert_one_line_failure(res.returncode, res.stderr, out, str(blocker), codes=(1, 2))
    assert blocker.read_text() == "I am a regular file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_check_resolution_follows_settings() -> None:
    from common.settings import RESOLUTIONS
    from data._common import check_resolution

    assert all(check_resolution(r) == r for r in RESOLUTIONS)
    for bad in (4, 48, 2048, 32.0, "32", True):
        with pytest.raises(DatasetError, match="power of two"):
            check_resolution(bad)
