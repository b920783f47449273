"""The built-in metrics, one file each; importing a file registers its metric. Adding a metric =
one file here with a `@register_metric(...)` function + one name in the import line below
(the order is the default order of results). See benchmarks/quality/README.md."""

from . import fid, kid, pr, dc, fd_dinov2, cmmd  # noqa: F401, I001  (register themselves, in this order)
