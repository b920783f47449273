"""environment.yml (conda) installs requirements.txt (pip, CI) itself, so the two cannot drift."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_environment_installs_the_requirements_file():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_block = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert pip_block == ["-r requirements.txt"]
    assert "python=3.11" in env["dependencies"]
    reqs = {x.split("#")[0].strip() for x in (ROOT / "requirements.txt").read_text().splitlines()}
    for pin in ("torch==2.14.1", "torchvision==0.29.1", "clean-fid==0.1.35", "scipy<1.18"):
        assert pin in reqs
