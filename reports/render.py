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

from common import settings
from common.cli import (
    OneLineParser,
    UsageError,
    check_writable_dir,
    first_line,
    run,
    setup_logging,
)
from common.io import atomic_output as atomic_path
from common.io import atomic_write_text as write_text
from reports import html as H
from reports import plots, tables
from reports.collect import RunResults, load_results

log = logging.getLogger("pixbench.report")


def provenance(res: RunResults) -> str:
    """Device, versions and config of the run, as one line for every table."""
    device = versions = "unknown"
    for p in res.profiles:
        if p.get("latency"):
            i = p["latency"]["device_info"]
            device = f"{i['device']} ({i['device_name']}, {i['threads']} threads)"
            break
    for p in res.profiles:
        versions = ", ".join(f"{k} {v}" for k, v in p.get("versions", {}).items())
        break
    return f"run `{res.config.get('run')}` · timing device {device} · {versions} · config: report.html, section Provenance"


def proxy_banner(res: RunResults) -> str:
    recipes = "; ".join(f"{name}: {r.get('source')} at {r.get('resolution')}px, {r.get('num_images')} images"
                        for name, r in res.recipes.items())  # fmt: skip
    variants = "; ".join(f"{m}: {r.get('variant', 'full width')}" for (_, m), r in res.runs.items())
    parts = [f"<b>What this run used.</b> {html.escape(res.config.get('description', ''))}"]
    if recipes:
        parts.append(f"Data: {html.escape(recipes)}.")
    if variants:
        parts.append(f"Trained variants: {html.escape(variants)}.")
    if res.proxy:
        parts.append(
            "Quality numbers use the <b>PROXY feature extractor</b> (a fixed random conv net, not "
            "Inception/VGG16): they are named fd_proxy, kd_proxy, precision_proxy …, compare models "
            "within this run only, and are <b>not</b> comparable to the paper's FID / precision / recall."
        )
    parts.append(
        "Efficiency numbers (params, MACs, memory) are for the full-width official architectures."
    )
    return f"<div class='banner'>{' '.join(parts)}</div>"


def _write_table(df, out: Path, name: str, prov: str, title: str, note: str = "") -> None:
    with atomic_path(out / f"{name}.csv") as tmp:
        df.to_csv(tmp, index=False)
    write_text(out / f"{name}.md", f"# {title}\n\n{prov}\n\n{note}{tables.to_markdown(df)}")


def _copy(src: Path | None, dst: Path) -> Path | None:
    if src is None or not Path(src).exists():
        return None
    dst.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)
    return dst


MACS_NOTE = ("MACs = multiply-accumulates of conv/linear/matmul at batch 1 (FLOPs ≈ 2 × MACs); "
             "FIR filters listed separately.\n\n")  # fmt: skip
PROXY_NOTE = "PROXY features: not Inception FID; compare within this run only.\n\n"


def write_tables(res: RunResults, out: Path, prov: str) -> dict:
    """Every table as CSV + Markdown; returns them by name for the HTML."""
    qnote = PROXY_NOTE if res.proxy else ""
    specs = {
        "efficiency": (tables.efficiency_table, "Efficiency (full-width architectures)", MACS_NOTE),
        "latency": (tables.latency_table, "Latency and throughput", ""),
        "scaling": (tables.scaling_table, "Scaling with resolution", MACS_NOTE),
        "quality": (tables.quality_table, "Quality", qnote),
        "table1_vs_paper": (tables.paper_table1, "Paper Table 1 (256×256) beside this run",
                            MACS_NOTE),
        "table2_vs_paper": (tables.paper_table2, "Paper Table 2 beside this run", qnote),
    }  # fmt: skip
    frames = {}
    for name, (make, title, note) in specs.items():
        frames[name] = make(res)
        _write_table(frames[name], out, name, prov, title, note)
    claims_md = res.root / "claims.md"
    if res.claims is not None and claims_md.exists():
        write_text(
            out / "claims.md", f"# Paper claims vs measured\n\n{prov}\n\n{claims_md.read_text()}"
        )
    return frames


def make_figures(res: RunResults, frames: dict, fig_dir: Path) -> dict:
    return {
        "pareto": plots.pareto(res, fig_dir),
        "metrics": plots.quality_metrics(res, fig_dir),
        "scaling": plots.scaling(frames["scaling"], fig_dir),
        "throughput": plots.throughput(frames["latency"], fig_dir),
        "training": plots.training_curves(res, fig_dir),
        "breakdown": plots.mac_breakdown(res, fig_dir),
    }


def gallery(items: dict, caption) -> str:
    figs_html = "".join(
        f"<figure>{H.img_tag(path, caption(key))}<figcaption>{html.escape(caption(key))}</figcaption></figure>"
        for key, path in items.items()
    )
    return f"<div class='grid'>{figs_html}</div>"


def stage_caption(key, info: dict) -> str:
    text = f"{key[1]} on {key[0]}: {info['kind']}; columns at {info['stage_sizes']} px (upsampled)"
    if len(info["stage_sizes"]) == 1:
        text += "; only one stage at this resolution (train at 64 px or more to see several)"
    return text


def render(results: str | Path, out: str | Path, config: dict) -> Path:
    out = Path(out)
    res = load_results(results, config)
    prov = provenance(res)
    t = write_tables(res, out, prov)
    figs = make_figures(res, t, out / "plots")
    samples = {k: _copy(p, out / "samples" / f"{k[0]}_{k[1]}.png") for k, p in res.grids.items()}
    stages = {
        k: _copy(s["png"], out / "stages" / f"{k[0]}_{k[1]}.png") for k, s in res.stages.items()
    }
    qnote = html.escape(PROXY_NOTE if res.proxy else "")
    qual_label = " (PROXY features)" if res.proxy else ""
    sections = [
        ("Paper claims vs measured", H.claims_html(res.claims)),
        ("Paper Table 1 beside ours", f"<p>{MACS_NOTE}</p>" + H.table_html(t["table1_vs_paper"])),
        ("Efficiency", H.table_html(t["efficiency"]) + H.img_tag(figs["breakdown"], "MAC breakdown")),
        ("Scaling with resolution", H.img_tag(figs["scaling"], "scaling") + H.table_html(t["scaling"])),
        ("Latency and throughput", H.img_tag(figs["throughput"], "throughput") + H.table_html(t["latency"])),
        (f"Quality{qual_label}", f"<p>{qnote}</p>" + H.table_html(t["quality"])
         + H.img_tag(figs["metrics"], "every metric") + H.img_tag(figs["pareto"], "pareto")),
        ("Paper Table 2 beside ours", f"<p>{qnote}</p>" + H.table_html(t["table2_vs_paper"])),
        ("Training", H.img_tag(figs["training"], "training curves")),
        ("Samples (G_ema, fixed seeds, const noise)", gallery(samples, lambda k: f"{k[1]} on {k[0]}")),
        ("Stage-by-stage RGB outputs (paper Fig. 6)", gallery(stages, lambda k: stage_caption(k, res.stages[k]))),
        ("Provenance", f"<p>{html.escape(prov)}</p><pre>{html.escape(yaml.safe_dump(config, sort_keys=False))}</pre>"
         + _metric_cards(res)),
    ]  # fmt: skip
    doc = H.page(
        f"pixbench report: {config.get('run')}", sections, proxy_banner(res), html.escape(prov)
    )
    write_text(out / "report.html", doc)
    log.info("wrote %s", out / "report.html")
    return out / "report.html"


def _metric_cards(res: RunResults) -> str:
    cards = {f"{d}/{m}": q["card"] for (d, m), q in res.quality.items()}
    return (
        "<h3>Metric cards</h3><pre>"
        + html.escape(json.dumps(cards, indent=1, default=str))
        + "</pre>"
    )


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
    cfg = settings.load(source, check_names=False)
    check_writable_dir(args.out)
    render(args.results, args.out, settings.as_dict(cfg))
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
