"""Quick mode for the pytest-benchmark suites. The default `pytest` run (and CI) passes
`--benchmark-disable`: every benchmarked call then runs once, untimed, and cases marked `heavy`
(large resolutions, torch.compile) are deselected, so the suites keep working without costing
CI minutes. `--benchmark-enable` runs and times every case."""

from __future__ import annotations


def pytest_configure(config):
    config.addinivalue_line("markers", "heavy: a benchmark case too slow for the quick mode")


def pytest_collection_modifyitems(config, items):
    # pyproject's addopts always pass --benchmark-disable; --benchmark-enable wins over it
    if not config.getoption("benchmark_disable", False) or config.getoption("benchmark_enable"):
        return
    heavy = [item for item in items if item.get_closest_marker("heavy")]
    if heavy:
        config.hook.pytest_deselected(items=heavy)
        items[:] = [item for item in items if not item.get_closest_marker("heavy")]
