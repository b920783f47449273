"""The built-in efficiency measures, one file each; importing a file registers its measure.
Adding a measure = one file here with a `@register_measure(...)` function + one name in the
import line below (the order is the order of the profile's keys and the report's columns). See
benchmarks/README.md, "Add your own measure"."""

from . import params, macs, fir, memory, traffic, latency, blocks, variants  # noqa: F401, I001  (in this order)
