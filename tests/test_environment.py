"""requirements.txt (pip, CI) and environment.yml (conda) must pin the same things."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _norm(line: str) -> str:
    return line.split("#")[0].strip().replace(" ", "").lower()


def test_requirements_and_environment_agree():
    reqs = {_norm(x) for x in (ROOT / "requirements.txt").read_text().splitlines() if _norm(x)}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_block = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert reqs == {_norm(x) for x in pip_block}
    assert "python=3.11" in env["dependencies"]
    for pin in ("torch==2.14.1", "torchvision==0.29.1", "clean-fid==0.1.35", "scipy<1.18"):
        assert pin in reqs
