"""The top of a report, the part a reader cites: which run, when, by which code (version, git
commit, whether the tree had uncommitted changes), on which machine, from which command and
config file, and how the training departed from each model's official recipe, one line per
setting. The facts come from the run's invocation record (common/invocation.py) and its
results; a run without a record (results made by hand, or before the record existed) says so
instead of leaving the line out."""

from __future__ import annotations

import datetime as dt
import html
import shlex
from pathlib import Path

from common import allocator
from common.invocation import code_text
from common.provenance import code_version, versions
from data.prepare import SKIP_REASONS, skip_text
from reports.collect import RunResults
from reports.runs import device_line
from training import speed_variant

NOT_RECORDED = "not recorded (no invocation.json: these results were not made by snakemake)"


def timing_device(res: RunResults) -> str:
    """The device line, and the CPU allocator the timings ran with where they recorded it."""
    timed = [p["latency"] for p in res.profiles.values() if p.get("latency")]
    if not timed:
        return "no timing in this run"
    found = next(
        (t["device_info"]["allocator"] for t in timed if "allocator" in t["device_info"]), None
    )
    line = device_line(res.profiles.values())
    return line + (f"; CPU allocator: {allocator.describe(found)}" if found else "")


def library_versions(res: RunResults) -> str:
    found = next((p["versions"] for p in res.profiles.values() if p.get("versions")), None)
    return ", ".join(f"{k} {v}" for k, v in (found or versions()).items())


def render_command(res: RunResults, out: Path, config_source: str | None) -> str:
    """The command that renders this report again from the same results."""
    config = config_source or "CONFIG.yaml"
    return shlex.join(
        [
            "python",
            "-m",
            "reports.render",
            "--results",
            str(res.root),
            "--out",
            str(out),
            "--config",
            config,
        ]
    )


def facts(res: RunResults, out: Path, config_source: str | None) -> list[tuple[str, str]]:
    """(label, plain text) of every citable fact, in reading order: computed once per render
    (it asks git), then shown as the header (header_html) and as one line (header_line)."""
    rec = res.invocation
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    made = rec["command"] if rec else NOT_RECORDED
    started = f"{rec.get('started_utc')} in {rec.get('workdir')}" if rec else "not recorded"
    files = (rec or {}).get("config_files") or ([config_source] if config_source else [])
    rendered_code = code_version()
    code = code_text((rec or {}).get("code") or rendered_code)
    if rec and (rec.get("code") or {}).get("commit") != rendered_code.get("commit"):
        code += f"; this page rendered by {code_text(rendered_code)}"
    source = config_source or (files[0] if files else None)
    return [
        ("Run", str(res.config.get("run"))),
        ("Rendered", now),
        ("Code", code),
        ("Command", made),
        ("Started", started),
        ("Config", ", ".join(files) if files else "the workflow's config (no file recorded)"),
        ("Timing device", timing_device(res)),
        ("Libraries", library_versions(res)),
        ("Render again", render_command(res, out, source)),
    ]


CODE_LABELS = {"Command", "Render again"}


def header_html(found: list[tuple[str, str]]) -> str:
    """The `facts` as the report's first lines."""
    rows = "".join(
        f"<dt>{html.escape(k)}</dt><dd>"
        + (
            f"<code>{html.escape(v)}</code>"
            if k in CODE_LABELS and v != NOT_RECORDED
            else html.escape(v)
        )
        + "</dd>"
        for k, v in found
    )
    return f"<dl class='cite'>{rows}</dl>"


def header_line(found: list[tuple[str, str]]) -> str:
    """The same `facts` on one line, for the head of every Markdown table."""
    keep = ("Run", "Code", "Command", "Config", "Timing device")
    return " · ".join(f"{k}: {v}" for k, v in found if k in keep)


# --------------------------------------------------------------------------- deviations
def deviations(res: RunResults) -> list[tuple[str, list[str]]]:
    """(one setting as trained, the models trained so): how each model was run and each
    hyper-parameter set away from its official recipe (run.json `off_recipe`), grouped so a
    setting shared by four models is one line, not four."""
    groups: dict[str, list[str]] = {}
    for (_, model), r in sorted(res.train_meta.items()):
        t = r.get("train") or {}
        how = f"trained {_num(t.get('kimg', '?'))} kimg at batch {r.get('batch', t.get('batch', '?'))}"
        if t.get("preset"):
            how += f", preset {t['preset']}"
        if r.get("variant"):
            how += f", {r['variant']}"
        lines = [how]
        if speed := speed_variant.summary((r.get("numerics") or {}).get("speed_variant")):
            lines.append(speed)
        off = r.get("off_recipe")
        if off is None:
            lines.append("hyper-parameters not recorded")
        elif not off:
            lines.append("the official recipe")
        for key, v in (off or {}).items():
            lines.append(f"{key} {_num(v['used'])} (official {_num(v['official'])})")
        for line in lines:
            groups.setdefault(line, []).append(model)
    return list(groups.items())


def deviations_html(res: RunResults) -> str:
    if not res.train_meta:
        return ""
    everyone = len(res.train_meta)
    items = "".join(
        f"<li>{html.escape(line)}: "
        + html.escape("all models" if len(ms) == everyone and everyone > 1 else ", ".join(ms))
        + "</li>"
        for line, ms in deviations(res)
    )
    head = "<p><b>Training, and where it departs from each official recipe:</b></p>"
    return f"{head}<ul class='deviations'>{items}</ul>"


def _num(v) -> str:
    """4 significant digits; None (a setting the recipe leaves off) as "off"."""
    return "off" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)


# --------------------------------------------------------------------------- what the run used
def _data_line(name: str, r: dict) -> str:
    """'faces: SOURCE at 64px, 10 images (200 of 210 skipped: 200 smaller than 64px)': a set
    that kept few of its images says so where the reader starts, not only in its recipe."""
    line = f"{name}: {r.get('source')} at {r.get('resolution')}px, {r.get('num_images')} images"
    skipped = r.get("skipped") or {}
    bad = sum(v for k, v in skipped.items() if k in SKIP_REASONS)
    if bad:
        line += (
            f" ({bad} of {r.get('source_images_examined')} skipped: "
            f"{skip_text(skipped, r.get('resolution'))})"
        )
    return line


def proxy_banner(res: RunResults) -> str:
    recipes = "; ".join(_data_line(name, r) for name, r in res.recipes.items())
    parts = [f"<b>What this run used.</b> {html.escape(res.config.get('description', ''))}"]
    if recipes:
        parts.append(f"Data: {html.escape(recipes)}.")
    if res.proxy:
        parts.append(
            "Quality numbers use the <b>PROXY feature extractor</b> (a fixed random conv net, not "
            "Inception/VGG16): they are named fd_proxy, kd_proxy, precision_proxy …, compare models "
            "within this run only, and are <b>not</b> comparable to the paper's FID / precision / recall."
        )
    elif line := quality_source_line(res):
        parts.append(line)
    parts.append(
        "Efficiency numbers (params, MACs, memory) are for the full-width official architectures."
    )
    return f"<div class='banner'>{' '.join(parts)}{deviations_html(res)}</div>"


def quality_source_line(res: RunResults) -> str:
    """What the quality table's features are and where their network came from (the metric
    card's file, source and sha256), N beside the protocol's, and what is not on the reference
    network: the words a reader needs before reading an FID at small N."""
    cards = [q.get("card") or {} for q in res.quality.values()]
    if not cards:
        return ""
    card, ex = cards[0], res.extractor
    nets = "; ".join(
        f"{name}: {html.escape(str(c.get('source') or c.get('file')))}, sha256 "
        f"<code>{html.escape(str(c.get('sha256')))}</code>"
        for name, c in sorted((card.get("nets") or {}).items())
    )
    n = f"N = {card.get('num_gen')} generated per seed ({len(card.get('seeds') or [])} seeds) "
    n += f"against {card.get('num_real')} real images"
    text = (
        f"Quality: <b>real Inception features</b> ({html.escape(ex.label)}; {nets}); {n}, far "
        "below the protocol's 50,000, so FID is biased upward (the sample-size section shows how "
        "far) and not comparable with published values."
    )
    if ex.suffix:
        text += f" Keys ending {html.escape(ex.suffix)} are not on the published network."
    curve = res.config["quality"].get("curve_extractor")
    if curve and curve != ex.name:
        text += f" The per-kimg training curves use {html.escape(curve)} features."
    return text


def rerun_command(res: RunResults, rule: str) -> str:
    """The workflow command that measures a table's numbers again: the recorded command with
    `--forcerun RULE` (its jobs re-run, then everything downstream, the report included)."""
    rec = res.invocation
    words = shlex.split(rec["command"]) if rec and rec.get("command") else []
    kept, skipping = [], False
    for w in words or ["snakemake", "--cores", "all"]:
        if w in FORCE_FLAGS or w.startswith("--forcerun="):  # the recorded run's own forcing
            skipping = w in ("--forcerun", "-R")  # these take the rule names that follow
            continue
        if skipping and not w.startswith("-"):
            continue
        skipping = False
        kept.append(w)
    return shlex.join([*kept, "--forcerun", rule])


FORCE_FLAGS = ("--forcerun", "-R", "--forceall", "-F", "--force", "-f")
