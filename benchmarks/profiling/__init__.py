"""Cost of a network: every registered efficiency measure (parameters, MACs with three counters
and two conventions, FIR MACs, activation memory, latency and throughput), one JSON per model and
resolution. `python -m benchmarks.profiling` profiles one model; `registry` is the table of
measures (one file each in `measures/`) that the profile and the report follow."""

from . import measures, registry  # noqa: F401  (the built-in measures register themselves)
