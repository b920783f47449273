"""The built-in efficiency measures, one file each; importing a file registers its measure.
Adding a measure = one file here with a `@register_measure(...)` function + one name in the
import line below (the order is the order of the report's columns; what a measure must run
after it declares with `needs=`). See
benchmarks/README.md, "Add your own measure"."""

from . import params, macs, fir, memory, traffic, latency, blocks, variants  # noqa: F401, I001  (the columns' order)
