# pixbench workflow: `snakemake --cores all` runs config/default.yaml (embedded, offline, CPU-sized);
# `snakemake --cores all --configfile config/paper.yaml` reproduces the paper on GPUs.
# Every rule calls one of the project's entry points with values from the typed config
# (common/settings.py, which holds every default); paths come from common/layout.py.

from snakemake.utils import min_version

min_version("9.0")


# config/default.yaml unless the user names a config file (then that file alone: merging the
# paper config over the default would keep the default's narrow widths and embedded data).
if not workflow.overwrite_configfiles:

    configfile: "config/default.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/preflight.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/profile.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/quality.smk"
include: "workflow/rules/claims.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/compare.smk"


rule all:
    input:
        f"{REPORTS}/report.html",
