"""Config files are read strictly (issue 30, case 5): a key given twice is refused with both line
numbers, aliases that expand beyond a bound are refused before anything walks the expansion, and
a file that is not YAML is refused naming the file, the line and the parser's message. Each path
that reads a config is checked: settings.load (every entry point, the pre-flight check) and the
workflow (the default config file and one given with --configfile)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from common import settings, strict_yaml
from common.cli import UsageError

ROOT = Path(__file__).resolve().parents[1]
TINY = (ROOT / "tests/workflow/tiny.yaml").read_text()


def _refusal(tmp_path, text: str) -> str:
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    with pytest.raises(UsageError) as err:
        settings.load(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    return message


def test_duplicate_sections_are_refused_with_both_lines(tmp_path):
    text = TINY + "models:\n  cips: {build: {width: 0.125}}\n"
    dup_line = len(TINY.splitlines()) + 1  # the appended `models:`
    first = 1 + TINY.splitlines().index("models:")
    message = _refusal(tmp_path, text)
    assert f"line {dup_line}: duplicate key 'models' (first given at line {first})" in message


def test_duplicate_nested_key_is_refused(tmp_path):
    text = "run: x\ntrain:\n  kimg: 1\n  batch: 4\n  kimg: 2\n"
    message = _refusal(tmp_path, text)
    assert "line 5: duplicate key 'kimg' (first given at line 3)" in message


def test_merge_keys_may_still_be_overridden():
    """`<<: *base` followed by a key of base is YAML's override, not a duplicate."""
    data = strict_yaml.load_text("base: &b {x: 1, y: 2}\nc: {<<: *b, x: 3}\n")
    assert data["c"] == {"x": 3, "y": 2}


def test_a_few_aliases_are_fine():
    data = strict_yaml.load_text("a: &a [1, 2, 3]\nb: [*a, *a, *a]\n")
    assert data["b"] == [[1, 2, 3]] * 3


def _bomb(levels: int, fan: int = 9) -> str:
    lines = ["a0: &a0 [" + ", ".join(["x"] * fan) + "]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * fan) + "]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_without_expanding(tmp_path):
    """A 30-level, 9-fold bomb expands to ~10^28 values: no walk of it could ever finish, so
    passing at all shows the refusal came from the node graph, not the expansion. It runs in a
    subprocess only so that today's code (which walks it) fails on the timeout instead of
    hanging the suite; the timeout bounds a hang, it does not measure speed."""
    path = tmp_path / "bomb.yaml"
    path.write_text(_bomb(30))
    code = "import sys; from common import settings; settings.load(sys.argv[1])"
    try:
        out = subprocess.run(
            [sys.executable, "-c", code, str(path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the alias bomb was expanded instead of refused")
    assert out.returncode != 0
    assert "aliases here expand to" in out.stderr and f"{path}: line " in out.stderr


def test_recursive_alias_is_refused():
    with pytest.raises(UsageError, match="recursive alias"):
        strict_yaml.load_text("a: &a [1, *a]\n")


@pytest.mark.parametrize(
    "text, line, problem",
    [
        ("run: x\nmodels:\n  cips: [1\ntrain: {}\n", 4, "did not find expected ',' or ']'"),
        ("run: x\ntrain:\n\tkimg: 1\n", 3, "found character that cannot start any token"),
    ],
)
def test_malformed_yaml_names_file_line_and_parser_message(tmp_path, text, line, problem):
    message = _refusal(tmp_path, text)
    assert f"line {line}, column " in message and problem in message


def _snakemake(args, root: Path = ROOT) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(root / "Snakefile"), "-n", "--cores", "1"]
    return subprocess.run(cmd + args, cwd=root, capture_output=True, text=True, timeout=300)


def test_workflow_refuses_a_duplicate_key_in_its_configfile(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text(TINY.replace("device: cpu\n", "device: cpu\ndevice: cuda\n"))
    out = _snakemake(["--configfile", str(path)])
    assert out.returncode == 2, out.stderr[-2000:]
    assert out.stderr.strip().splitlines()[-1] == (
        f"error: {path}: line 5: duplicate key 'device' (first given at line 4); keep one of them"
    )


def test_workflow_names_the_line_of_a_malformed_default_config(tmp_path):
    """The default config file (no --configfile) is read by the Snakefile itself: a syntax error
    there names the file and line, not Snakemake's bare 'not valid JSON or YAML'. (A file given
    with --configfile is parsed by Snakemake before the Snakefile runs: its syntax errors keep
    Snakemake's wording; duplicates and alias bombs in it are refused by common.smk.)"""
    from tests.helpers import copy_repo

    root = copy_repo(tmp_path / "repo")
    (root / "config/default.yaml").write_text("run: x\nmodels:\n  cips: [1\n")
    out = _snakemake([], root)
    assert out.returncode == 2, out.stderr[-2000:]
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {root}/config/default.yaml: line 4, column 1: not valid YAML")
