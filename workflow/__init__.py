"""Orchestration: what runs above every stage. Loading a run config with its plug-in names
checked against the registries (`workflow.config`), the pre-flight check (`workflow.preflight`)
and its disk estimate (`workflow.disk_estimate`), beside the Snakemake rules (`rules/`) and
profiles (`profiles/`) that call the stages.

It is the top layer: it may import every room (data, models, training, benchmarks, reports),
and nothing imports it, so `common/` stays the foundation it claims to be."""

import common.cli  # noqa: F401  (first: Ctrl-C while the rest imports is one line, not a traceback)
