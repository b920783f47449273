"""Render a run's report from its results files (never recomputing anything).

    python -m reports.render --results results/default --out reports/default --config config/default.yaml

Writes tables (CSV + Markdown), plots (PNG + SVG), copied sample grids and stage images, and one
self-contained report.html.
"""

from __future__ import annotations

import html
import json
import logging
from pathlib import Path

import yaml

from benchmarks.profiling import registry as measure_registry
from common import settings
from common.cli import (
    OneLineParser,
    UsageError,
    check_writable_dir,
    first_line,
    run,
    setup_logging,
)
from common.io import atomic_copy, atomic_folder
from common.io import atomic_output as atomic_path
from common.io import atomic_write_text as write_text
from common.layout import Layout
from reports import (
    doc_links,
    figures,
    header,
    nearest_panels,
    sample_size_plots,
    speed_plots,
    table_view,
    tables,
)
from reports import html as H
from reports.captions import claims_caption, plural, quality_caption, training_caption
from reports.collect import RunResults, load_results
from reports.headline import headline_html, headline_markdown, quality_orders, sources_html
from reports.plots import headline_quality

log = logging.getLogger("pixbench.report")


def provenance(res: RunResults, out: Path | None = None, source: str | None = None) -> str:
    """Run, code, command, config and timing device on one line, for the head of every table
    file (the report's header carries the same facts, reports/header.py)."""
    return header.header_line(header.facts(res, Path(out or "."), source))


def _write_table(df, out: Path, name: str, prov: str, title: str, note: str = "") -> None:
    """CSV with the machine names; Markdown as a reader sees it (human names, rounded)."""
    with atomic_path(out / f"{name}.csv") as tmp:
        df.to_csv(tmp, index=False)
    write_text(out / f"{name}.md", f"# {title}\n\n{prov}\n\n{note}{tables.to_markdown(df, name)}")


def _copy(src: Path | None, dst: Path) -> Path | None:
    """A results file copied beside the report; None when the run has none."""
    return atomic_copy(src, dst) if src is not None and Path(src).exists() else None


PROXY_NOTE = (
    "PROXY features: not Inception FID; compare within this run only (docs/metrics.md in the "
    "pixbench repository).\n\n"
)


def measure_note(table: str) -> str:
    """The notes of the measures whose columns a table shows, as their declarations say them."""
    notes = [
        m.note
        for m in measure_registry.measures()
        if m.note and any(table in c.tables for c in m.columns)
    ]
    return " ".join(dict.fromkeys(notes)) + "\n\n" if notes else ""


def row_measures() -> list[measure_registry.Measure]:
    """Measures with a table of their own (one row per record: latency's batch sizes)."""
    return [m for m in measure_registry.measures() if m.table is not None]


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
            measure_registry.get("macs").note + "\n\n",
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


def _table(t: dict, name: str, command: str | None = None) -> str:
    """The table `name` as its reader meets it (split when wide, rows with their evidence ids),
    with its CSV/Markdown links and, given one, the command that recomputes it."""
    return table_view.table_block(name, t[name], command=command)


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
            + _table(t, m.table, header.rerun_command(res, "profile")),
        )
        for m in row_measures()
    ]
    return [
        (
            "Paper claims vs measured",
            _note(claims_caption(res.claims))
            + table_view.claims_block(
                res.claims,
                t,
                table_view.claims_command(res.root, bool(res.config.get("rehearsal"))),
            ),
        ),
        (
            "Paper Table 1 beside ours",
            _note(measure_registry.get("macs").note)
            + _table(t, "table1_vs_paper", header.rerun_command(res, "profile")),
        ),
        (
            "Efficiency",
            _note(measure_note("efficiency"))
            + _table(t, "efficiency", header.rerun_command(res, "profile"))
            + H.img_tag(figs["breakdown"], "MAC breakdown by top-level module at 256")
            # the scaling table repeated these rows (scaling.csv stays beside them): its plot
            + H.img_tag(figs["scaling"], "scaling"),
        ),
        *rows,
        (
            f"Quality{qual_label}",
            qnote
            + _note(quality_caption(res))
            + _table(t, "quality", header.rerun_command(res, "quality"))
            + H.img_tag(figs["metrics"], "every metric"),
        ),
        sample_size_plots.section(figs.get("sample_size")),
        (
            "Quality against cost",
            qnote
            + H.pair(
                H.figure(figs["pareto"], "against inference cost: each trained variant's GMACs"),
                speed_plots.shown(
                    figs["pareto_latency"], "against the measured latency of the same variant"
                ),
            ),
        ),
        (
            "Paper Table 2 beside ours",
            qnote + _table(t, "table2_vs_paper", header.rerun_command(res, "quality")),
        ),
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


def render(
    results: str | Path,
    out: str | Path,
    config: dict,
    source: str | None = None,
    final: str | Path | None = None,
) -> Path:
    """Write the report into `out`. `source` is the config file it was read from and `final` the folder the report ends up in when `out` is a
    staging folder, so the commands the page prints name the real paths."""
    out = Path(out)
    res = load_results(results, config)
    cite = header.facts(res, Path(final or out), source)
    prov = header.header_line(cite)
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
        header.header_html(cite)
        + header.proxy_banner(res)
        + headline_html(res.claims, chart, orders(res))
    )
    doc = H.page(
        f"pixbench report: {config.get('run')}", top, sections(res, t, figs, samples, stages)
    )
    _copy(Layout(res.root).path("claims_csv"), out / "claims.csv")  # the evidence, beside it
    write_text(out / "report.html", doc_links.link_docs(doc, out))
    return out / "report.html"


def provenance_section(res: RunResults) -> str:
    """The provenance line, then the run config and each metric card folded away."""
    cfg = res.config
    summary = (
        f"Run config `{cfg.get('run')}`: {plural(len(res.models), 'model')}, "
        f"{plural(len(res.datasets), 'dataset')}, device {cfg.get('device', 'auto')}"
    )
    parts = [
        "<p class='note'>Command, config file, code version and timing device: the header at "
        "the top of this page.</p>",
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
    p.add_argument(
        "--config",
        required=True,
        help="the run's YAML config (the workflow passes the one it resolved: RESULTS/config.yaml)",
    )
    args = p.parse_args(argv)
    setup_logging()
    if not Path(args.results).is_dir():
        raise UsageError(f"{args.results}: no such results directory; run the workflow first")
    cfg = settings.as_dict(settings.load(args.config))
    check_results(args.results, cfg)
    check_writable_dir(args.out)
    with atomic_folder(args.out, keep=("compare_*",)) as stage:  # a stop or full disk: no mix
        render(args.results, stage, cfg, args.config, args.out)  # of new and old files
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
