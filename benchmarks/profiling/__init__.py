"""Cost of a network: parameters, MACs (three counters, two conventions), activation memory,
latency and throughput. `python -m benchmarks.profiling` profiles one model into one JSON."""
