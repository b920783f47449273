"""Judge the paper's claims against a run's profiles and quality results.

    python -m benchmarks.claims --profiles results/default/profile \\
        --metrics results/default/metrics --out-csv claims.csv --out-md claims.md

Needs full-width profiles at 256 (params + MACs) and at 512 and 1024 (params, for supplementary
Table B); `--no-latency` profiles are enough. Only profiles without
build overrides are used.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
from dataclasses import asdict
from pathlib import Path

from benchmarks.claims.verdicts import VERDICTS, ClaimRow, claim_rows
from benchmarks.profiling.profile import SCHEMA
from common.cli import OneLineParser, UsageError, check_writable, first_line, run, setup_logging
from common.io import atomic_output

log = logging.getLogger("pixbench.claims")
FIELDS = list(ClaimRow.__dataclass_fields__)  # claims.csv: every field, numbers included
MD_FIELDS = FIELDS[: FIELDS.index("paper_value")]  # claims.md: the columns a reader needs


def _read(path: Path, what: str):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:  # ValueError: bad JSON, or bytes that are not UTF-8
        raise UsageError(f"cannot read {what} {str(path)!r}: {first_line(e)}") from None


def load_profiles(paths) -> dict[tuple[str, int], dict]:
    """{(model, resolution): profile} from files and/or directories (*.json, non-recursive)."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(p.glob("*.json"))
        elif p.is_file():
            files.append(p)
        else:
            raise UsageError(f"profile path {str(p)!r} does not exist")
    out = {}
    for f in files:
        prof = _read(f, "profile")
        if not isinstance(prof, dict) or prof.get("schema") != SCHEMA:
            log.warning("skipping %s: not a %s profile", f, SCHEMA)
            continue
        if prof.get("overrides"):
            log.info("skipping %s: non-default overrides %s", f, prof["overrides"])
            continue
        out[(prof["model"], int(prof["resolution"]))] = prof
    if not out:
        raise UsageError(f"no default-configuration profiles found in {', '.join(map(str, paths))}")
    return out


def load_metrics(directory) -> dict[tuple[str, str], dict]:
    """{(dataset, model): quality result} from `<dataset>_<model>.json` files in `directory`."""
    out = {}
    for f in sorted(Path(directory).glob("*.json")):
        res = _read(f, "quality result")
        if not isinstance(res, dict):
            raise UsageError(
                f"quality result {str(f)!r} is not a JSON object; re-create it with "
                "python -m benchmarks.quality"
            )
        model = (res.get("generator") or {}).get("model")
        if model and f.stem.endswith("_" + model):
            out[(f.stem[: -len(model) - 1], model)] = res
    return out


def to_csv(rows: list[ClaimRow]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
    w.writeheader()
    w.writerows(asdict(r) for r in rows)
    return buf.getvalue()


def to_markdown(rows: list[ClaimRow]) -> str:
    def cell(s):
        return str(s).replace("|", "\\|")

    lines = ["| " + " | ".join(MD_FIELDS) + " |", "|" + "---|" * len(MD_FIELDS)]
    lines += ["| " + " | ".join(cell(getattr(r, f)) for f in MD_FIELDS) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = OneLineParser(prog="python -m benchmarks.claims", description=__doc__.splitlines()[0])
    p.add_argument("--profiles", nargs="+", required=True, help="profile JSON files or folders")
    p.add_argument("--metrics", help="folder of quality JSONs (<dataset>_<model>.json), optional")
    p.add_argument(
        "--rehearsal",
        action="store_true",
        help="judge the FID claims on this run's stand-in metrics, labelled as a rehearsal",
    )
    p.add_argument("--out-csv")
    p.add_argument("--out-md")
    a = p.parse_args(argv)
    setup_logging()
    if not (a.out_csv or a.out_md):
        raise UsageError("give --out-csv and/or --out-md")
    outs = [check_writable(x) for x in (a.out_csv, a.out_md) if x]
    if a.metrics and not Path(a.metrics).is_dir():
        raise UsageError(f"--metrics {a.metrics!r} is not a folder")
    metrics = load_metrics(a.metrics) if a.metrics else None
    rows = claim_rows(load_profiles(a.profiles), metrics, a.rehearsal)
    texts = [t for t, x in ((to_csv(rows), a.out_csv), (to_markdown(rows), a.out_md)) if x]
    with contextlib.ExitStack() as stack:  # every file is written before any is replaced
        tmps = [stack.enter_context(atomic_output(path)) for path in outs]
        for tmp, text in zip(tmps, texts, strict=True):
            tmp.write_text(text, encoding="utf-8")
    counts = {v: sum(r.verdict == v for r in rows) for v in VERDICTS}
    log.info("%d claims: %s", len(rows), ", ".join(f"{n} {v}" for v, n in counts.items() if n))
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
