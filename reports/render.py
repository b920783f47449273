"""Render a run's report from its results files (never recomputing anything).

    python -m reports.render --results results/default --out reports/default --config config/default.yaml

Writes tables (CSV + Markdown), plots (PNG + SVG), copied sample grids and stage images, and one
self-contained report.html.
"""

from __future__ import annotations

import html
import json
import logging
import shutil
from pathlib import Path

import yaml

from benchmarks.profiling import registry as measures
from common import settings
from common.cli import (
    OneLineParser,
    UsageError,
    check_writable_dir,
    first_line,
    run,
    setup_logging,
)
from common.io import atomic_folder
from common.io import atomic_output as atomic_path
from common.io import atomic_write_text as write_text
from data.prepare import SKIP_REASONS, skip_text
from reports import columns, figures, nearest_panels, sample_size_plots, speed_plots, tables
from reports import html as H
from reports.captions import claims_caption, plural, quality_caption, recipe_line, training_caption
from reports.collect import RunResults, load_results
from reports.headline import headline_html, headline_markdown, quality_orders, sources_html
from reports.plots import headline_quality
from reports.runs import device_line

log = logging.getLogger("pixbench.report")


def provenance(res: RunResults) -> str:
    """Device, versions and config of the run, as one line for every table."""
    device = versions = "unknown"
    for p in res.profiles:
        if p.get("latency"):
            device = device_line(res.profiles)  # label and machine fingerprint
            break
    for p in res.profiles:
        versions = ", ".join(f"{k} {v}" for k, v in p.get("versions", {}).items())
        break
    return f"run `{res.config.get('run')}` · timing device {device} · {versions} · config: report.html, section Provenance"


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
    variants = "; ".join(f"{m}: {r.get('variant', 'full width')}" for (_, m), r in res.runs.items())
    parts = [f"<b>What this run used.</b> {html.escape(res.config.get('description', ''))}"]
    if recipes:
        parts.append(f"Data: {html.escape(recipes)}.")
    if variants:
        parts.append(f"Trained variants: {html.escape(variants)}.")
    parts += [f"Training: {html.escape(recipe_line(res))}."] if res.runs else []
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
    return f"<div class='banner'>{' '.join(parts)}</div>"


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


def _write_table(df, out: Path, name: str, prov: str, title: str, note: str = "") -> None:
    """CSV with the machine names; Markdown as a reader sees it (human names, rounded)."""
    with atomic_path(out / f"{name}.csv") as tmp:
        df.to_csv(tmp, index=False)
    write_text(out / f"{name}.md", f"# {title}\n\n{prov}\n\n{note}{tables.to_markdown(df, name)}")


def _copy(src: Path | None, dst: Path) -> Path | None:
    if src is None or not Path(src).exists():
        return None
    dst.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)
    return dst


PROXY_NOTE = (
    "PROXY features: not Inception FID; compare within this run only (docs/metrics.md in the "
    "pixbench repository).\n\n"
)


def measure_note(table: str) -> str:
    """The notes of the measures whose columns a table shows, as their declarations say them."""
    notes = [
        m.note for m in measures.measures() if m.note and any(table in c.tables for c in m.columns)
    ]
    return " ".join(dict.fromkeys(notes)) + "\n\n" if notes else ""


def row_measures() -> list[measures.Measure]:
    """Measures with a table of their own (one row per record: latency's batch sizes)."""
    return [m for m in measures.measures() if m.table is not None]


def write_tables(res: RunResults, out: Path, prov: str) -> dict:
    """Every table as CSV + Markdown; returns them by name for the HTML."""
    qnote = PROXY_NOTE if res.proxy else ""
    specs = {
        "efficiency": (
            tables.efficiency_table,
            "Efficiency (full-width architectures)",
            measure_note("efficiency"),
        ),
        **{
            m.table: (lambda r, m=m: tables.row_table(r, m), m.label, measure_note(m.table))
            for m in row_measures()
        },
        "scaling": (tables.scaling_table, "Scaling with resolution", measure_note("scaling")),
        "quality": (tables.quality_table, "Quality", qnote),
        "table1_vs_paper": (
            tables.paper_table1,
            "Paper Table 1 (256×256) beside this run",
            measures.get("macs").note + "\n\n",
        ),
        "table2_vs_paper": (tables.paper_table2, "Paper Table 2 beside this run", qnote),
    }
    frames = {}
    for name, (make, title, note) in specs.items():
        frames[name] = make(res)
        _write_table(frames[name], out, name, prov, title, note)
    claims_md = res.root / "claims.md"
    if res.claims is not None and claims_md.exists():
        head = f"# Paper claims vs measured\n\n{prov}\n\n{claims_caption(res.claims)}\n\n"
        write_text(out / "claims.md", head + claims_md.read_text())
    head = headline_markdown(res.claims, orders(res))
    write_text(out / "headline.md", f"# Headline\n\n{prov}\n\n{head}")
    return frames


def orders(res: RunResults) -> dict:
    """The headline's quality ordering, on the metric the quality-vs-cost plots use."""
    return quality_orders(res.quality, headline_quality(res)) if res.quality else {}


def _table(t: dict, name: str) -> str:
    return H.table_html(columns.display(name, t[name]))


def _note(text: str) -> str:
    return f"<p class='note'>{html.escape(text.strip())}</p>" if text.strip() else ""


def sections(res: RunResults, t: dict, figs: dict, samples: dict, stages: dict) -> list:
    """(title, html) of every section, in reading order."""
    qnote = _note(PROXY_NOTE if res.proxy else "")
    qual_label = " (PROXY features)" if res.proxy else ""
    rows = [
        (
            m.label,
            _note(measure_note(m.table))
            + (figures.figure(figs[m.table], m.label) if m.table in figs else "")
            + "".join(
                figures.figure(figs[k], alt) for k, alt in figures.EXTRA_FIGURES.get(m.table, ())
            )
            + _table(t, m.table),
        )
        for m in row_measures()
    ]
    return [
        ("Paper claims vs measured", _note(claims_caption(res.claims)) + H.claims_html(res.claims)),
        (
            "Paper Table 1 beside ours",
            _note(measures.get("macs").note) + _table(t, "table1_vs_paper"),
        ),
        (
            "Efficiency",
            _note(measure_note("efficiency"))
            + _table(t, "efficiency")
            + H.img_tag(figs["breakdown"], "MAC breakdown by top-level module at 256"),
        ),
        ("Scaling with resolution", H.img_tag(figs["scaling"], "scaling") + _table(t, "scaling")),
        *rows,
        (
            f"Quality{qual_label}",
            qnote
            + _note(quality_caption(res))
            + _table(t, "quality")
            + H.img_tag(figs["metrics"], "every metric"),
        ),
        sample_size_plots.section(figs.get("sample_size")),
        (
            "Quality against cost",
            qnote
            + H.pair(
                H.figure(figs["training_cost"], "against training cost: images seen and seconds"),
                H.figure(figs["pareto"], "against inference cost: GMACs per image (Pareto front)"),
                speed_plots.shown(
                    figs["pareto_latency"], "against measured latency (Pareto front)"
                ),
            ),
        ),
        ("Paper Table 2 beside ours", qnote + _table(t, "table2_vs_paper")),
        ("Training", H.figure(figs["training"], training_caption(res))),
        (
            "Samples (G_ema, fixed seeds, const noise) beside the real images",
            figures.gallery(samples, figures.sample_caption, "sample grids", "train"),
        ),
        nearest_panels.section(res),
        (
            "Stage-by-stage RGB outputs (paper Fig. 6)",
            figures.gallery(
                stages, lambda k: figures.stage_caption(k, res.stages[k]), "stage images", "stages"
            ),
        ),
        ("Sources", sources_html()),
        ("Provenance", provenance_section(res)),
    ]


def render(results: str | Path, out: str | Path, config: dict) -> Path:
    out = Path(out)
    res = load_results(results, config)
    prov = provenance(res)
    t = write_tables(res, out, prov)
    figs = figures.make_figures(res, t, out / "plots")
    figs["sample_size"] = sample_size_plots.write(res, out, prov)  # FID vs N, FID∞
    samples = figures.real_grids(res, out / "samples")
    samples.update(
        {k: _copy(p, out / "samples" / f"{k[0]}_{k[1]}.png") for k, p in res.grids.items()}
    )
    stages = {
        k: _copy(s["png"], out / "stages" / f"{k[0]}_{k[1]}.png") for k, s in res.stages.items()
    }
    nearest_panels.copy_panels(res, out)
    chart = H.img_tag(
        figs["claims"], "every claim: paper value against measured value", id_="claims-chart"
    )
    # what the run used comes before any verdict: a reader judges the claims knowing it
    top = (
        f"<p class='prov'>{html.escape(prov)}</p>"
        + proxy_banner(res)
        + headline_html(res.claims, chart, orders(res))
    )
    doc = H.page(
        f"pixbench report: {config.get('run')}", top, sections(res, t, figs, samples, stages)
    )
    write_text(out / "report.html", doc)
    return out / "report.html"


def provenance_section(res: RunResults) -> str:
    """The provenance line, then the run config and each metric card folded away."""
    cfg = res.config
    summary = (
        f"Run config `{cfg.get('run')}`: {plural(len(res.models), 'model')}, "
        f"{plural(len(res.datasets), 'dataset')}, device {cfg.get('device', 'auto')}"
    )
    parts = [
        f"<p>{html.escape(provenance(res))}</p>",
        H.details(summary, f"<pre>{html.escape(yaml.safe_dump(cfg, sort_keys=False))}</pre>"),
    ]
    if res.quality:
        parts.append("<h3>Metric cards</h3>")
    for (d, m), q in sorted(res.quality.items()):
        card = q.get("card", {})
        line = (
            f"{d}/{m}: {card.get('extractor')} features, {card.get('num_gen')} generated vs "
            f"{card.get('num_real')} real, seeds {card.get('seeds')}, "
            f"{q.get('generator', {}).get('kimg')} kimg"
        )
        body = f"<pre>{html.escape(json.dumps(card, indent=1, default=str))}</pre>"
        parts.append(H.details(line, body))
    return "".join(parts)


def main(argv=None) -> int:
    p = OneLineParser(prog="python -m reports.render", description=__doc__.splitlines()[0])
    p.add_argument("--results", required=True, help="results/<run> directory")
    p.add_argument("--out", required=True, help="reports/<run> directory")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--config", help="the run's YAML config")
    g.add_argument("--config-json", help="the run's config as JSON (what Snakemake passes)")
    args = p.parse_args(argv)
    setup_logging()
    if not Path(args.results).is_dir():
        raise UsageError(f"{args.results}: no such results directory; run the workflow first")
    if args.config_json:
        try:
            source = json.loads(args.config_json)
        except ValueError as exc:
            raise UsageError(f"--config-json is not JSON ({first_line(exc)})") from None
    else:
        source = args.config
    cfg = settings.as_dict(settings.load(source))
    check_results(args.results, cfg)
    check_writable_dir(args.out)
    with atomic_folder(args.out, keep=("compare_*",)) as stage:  # a stop or full disk: no mix
        render(args.results, stage, cfg)  # of new files and old (compare_* folders move across)
    return 0


def check_results(results: str | Path, config: dict) -> None:
    """Read every results file before anything is written; an unreadable one (cut short, not
    JSON/CSV) is one line naming it, not the JSON or pandas traceback."""
    try:
        load_results(results, config)
    except UsageError:
        raise
    except (
        ValueError,
        KeyError,
        TypeError,
        OSError,
    ) as exc:  # pandas' parser errors are ValueErrors
        bad = _unreadable_file(Path(results))
        what = str(bad) if bad else f"the results in {results}"
        raise UsageError(
            f"cannot read {what} ({type(exc).__name__}: {first_line(exc)}); delete "
            "it and re-run the workflow to write it again"
        ) from None


def _unreadable_file(root: Path) -> Path | None:
    """The first results file (outside the feature cache) that does not parse."""
    import pandas as pd

    for path in sorted(root.rglob("*")):
        if "cache" in path.relative_to(root).parts or path.suffix not in (".json", ".csv"):
            continue
        try:
            if path.suffix == ".json":
                json.loads(path.read_text(encoding="utf-8"))
            else:
                pd.read_csv(path)
        except (ValueError, OSError):
            return path
    return None


if __name__ == "__main__":
    raise SystemExit(run(main))
