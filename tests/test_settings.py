"""The typed config: shipped configs load, bad ones fail in one line naming the fix, the schema is
generated from the same classes (so it cannot drift), and each default has exactly one owner:
entry points take theirs from common.settings, rules and config files restate none."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from common import settings
from common.cli import UsageError, format_overrides, parse_overrides
from workflow import config as run_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = [
    "config/default.yaml",
    "config/paper.yaml",
    "tests/workflow/tiny.yaml",
    "config/gpu-check.yaml",
]
SECTIONS = [settings.Train, settings.HParams, settings.Profile, settings.Quality]


@pytest.mark.parametrize("path", CONFIGS)
def test_shipped_configs_load_and_validate_against_the_generated_schema(path):
    raw = yaml.safe_load((ROOT / path).read_text())
    jsonschema.validate(raw, settings.json_schema())
    cfg = settings.load(ROOT / path)
    assert cfg.models and cfg.quality.seeds
    assert cfg.datasets or path.endswith("gpu-check.yaml")  # the one profile-only config


@pytest.mark.parametrize("path", CONFIGS[:2])
def test_shipped_configs_restate_no_default(path):
    """A config value equal to its default would be a second place for that default."""
    raw = yaml.safe_load((ROOT / path).read_text())
    for section, cls in (
        ("train", settings.Train),
        ("profile", settings.Profile),
        ("quality", settings.Quality),
    ):
        defaults = settings.defaults(cls)
        same = [k for k, v in (raw.get(section) or {}).items() if defaults.get(k, object()) == v]
        assert not same, f"{path}: {section}.{same} restate their defaults"


def _bad(tmp_path, mutate):
    cfg = yaml.safe_load((ROOT / "config/default.yaml").read_text())
    mutate(cfg)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(UsageError) as info:
        run_config.load(path)
    message = str(info.value)
    assert len(message.splitlines()) == 1
    return message


def test_unknown_key_names_its_place(tmp_path):
    msg = _bad(tmp_path, lambda c: c["train"].update(kimgs=3))
    assert "train" in msg and "kimgs" in msg


def test_wrong_type_names_its_place(tmp_path):
    msg = _bad(tmp_path, lambda c: c["profile"].update(latency_repeats="five"))
    assert "profile.latency_repeats" in msg


@pytest.mark.parametrize(
    "mutate,words",
    [
        (lambda c: c["models"].update(nogan={}), ["models", "'nogan'", "pixelfolder"]),
        (lambda c: c["quality"].update(metrics=["fid", "ssim"]), ["quality.metrics", "'ssim'"]),
        (lambda c: c["quality"].update(extractor="inceptionv4"), ["extractor", "proxy"]),
        (lambda c: c["train"].update(hparams={"lr_g": 1}), ["train.hparams", "'lr_g'", "r1_gamma"]),
        (lambda c: c["models"]["cips"].update(hparams={"gamma": 1}), ["models.cips.hparams"]),
    ],
)
def test_unregistered_names_fail_listing_what_is_available(tmp_path, mutate, words):
    msg = _bad(tmp_path, mutate)
    assert all(w in msg for w in words), msg


def _keys(node) -> set:
    if isinstance(node, dict):
        return set(node).union(*(_keys(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_keys(v) for v in node))
    return set()


def test_schema_is_generated_from_the_dataclasses():
    schema = settings.json_schema()
    for cls, node in [(settings.RunConfig, schema)] + [
        (cls, schema["properties"][name])
        for name, cls in (
            ("train", settings.Train),
            ("profile", settings.Profile),
            ("quality", settings.Quality),
        )
    ]:
        names = {f.name for f in dataclasses.fields(cls)}
        assert set(node["properties"]) == names and node["additionalProperties"] is False
        assert all(p["description"] for p in node["properties"].values())
        assert "default" not in _keys(node)  # defaults live in the dataclasses only


def test_no_rule_carries_a_default_of_its_own():
    """Rules pass typed values through: no dict .get(key, default) and no literal fallbacks."""
    for smk in sorted((ROOT / "workflow").rglob("*.smk")):
        text = smk.read_text()
        assert not re.search(r"config\[|\.get\(", text), f"{smk.name} reads the raw config"


def test_override_strings_round_trip():
    values = {"width": 0.125, "z_dim": 64, "xflip": False, "ema_rampup": None, "mode": "grouped"}
    argv = format_overrides("--build", values)
    assert parse_overrides(argv[1::2], "--build") == values
    with pytest.raises(UsageError, match="KEY=VALUE"):
        parse_overrides(["width"], "--build")


SOURCE_PACKAGES = ("common", "data", "models", "training", "benchmarks", "reports", "workflow")


def test_source_modules_and_functions_stay_small():
    """~400 lines per source module and ~80 per function (tests and benchmark suites excepted),
    so that every change stays a change to one small, readable place."""
    too_long = []
    for pkg in SOURCE_PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith("benchmarks/suites/"):
                continue
            src = path.read_text()
            if len(src.splitlines()) > 400:
                too_long.append(f"{rel}: {len(src.splitlines())} lines")
            for node in ast.walk(ast.parse(src)):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    length = node.end_lineno - node.lineno + 1
                    if length > 80:
                        too_long.append(f"{rel}:{node.name}: {length} lines")
    assert not too_long, too_long
