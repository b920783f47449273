# pixbench workflow: `snakemake --cores all` runs config/default.yaml (embedded, offline, CPU-sized);
# `snakemake --cores all --configfile config/paper.yaml` reproduces the paper on GPUs.
# Every rule calls one of the project's entry points with values from the typed config
# (common/settings.py, which holds every default); paths come from common/layout.py.

from snakemake.utils import min_version

min_version("9.0")


# config/default.yaml unless the user names a config file (then that file alone: merging the
# paper config over the default would keep the default's narrow widths and embedded data).
# It is read strictly first (common/strict_yaml.py): a syntax error names its file and line,
# which Snakemake's own reader does not; common.smk re-reads every config file the same way.
if not workflow.overwrite_configfiles:
    import sys

    sys.path.insert(0, workflow.basedir)
    from common import strict_yaml
    from common.cli import UsageError

    # beside this Snakefile, not in the working directory (snakemake --directory elsewhere)
    DEFAULT_CONFIG = f"{workflow.basedir}/config/default.yaml"
    try:
        strict_yaml.check_files([DEFAULT_CONFIG])
    except UsageError as exc:  # one line, exit 2, like every other bad input
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None

    configfile: DEFAULT_CONFIG


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
