"""The one table of efficiency measures; it answers without measuring.

A measure is ONE function `fn(ctx) -> value | {key: value}` registered with
`@register_measure(...)`, which declares what the profile JSON and the report need to know about
it: its name, label, unit and direction (lower or higher is better), its protocol (how it is
measured, one line), the top-level profile keys it writes, and the report columns it contributes
(`Column`). `ctx` is a `Context`: the model, resolution, build overrides, the validated
`settings.Profile` section, the device, the batch sizes timed at this resolution and the MAC
counters that run here, with cached helpers (`ctx.generator()`, `ctx.mac_count("true")`), so
several measures share one counting pass.

Why a registry: the profiler, the profile JSON and the report's efficiency, scaling and latency
tables and plots all follow from these declarations, so adding a measure is one file in
`measures/` plus one name in its import line (benchmarks/README.md, "Add your own measure").

    measure_names(), get(name) -> Measure, measures() -> [Measure]     in registration order
    columns(table=None) -> [Column], column(name[, default]) -> Column  report columns
    measure_of(column_name) -> Measure                                  who declared a column
    table_rows(name, profile) -> [{column: value}]       a row measure's table rows, as shown
    known(cell) -> bool                                  the cell holds a number
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from benchmarks.profiling import counting
from common import settings

PROFILE_TABLES = ("efficiency", "scaling")  # one row per profile (model × resolution)
ROLES = ("result", "context", "status")
FORMAT = re.compile(r"^(int|text|sig[1-6]|fixed[0-6])$")
INHERIT = "measure"  # a column's direction when it does not say: its measure's
RESERVED_KEYS = (
    "schema",
    "model",
    "resolution",
    "overrides",
    "measures",
    "device_info",
    "versions",
    "profile_seconds",
)
RESERVED_COLUMNS = ("model", "resolution", "dataset", "status")
VALID, REASON = "valid", "invalid_reason"  # a row measure's validity fields (see Measure.rows)
_RAISE = object()


@dataclass(frozen=True)
class Column:
    """One report column: CSV name `name`, shown as `label (unit)` with the direction's arrow.

    `key` is the dotted path of the value in the profile (or in a row measure's record),
    `scale` turns it into `unit` (a "%" column holds a fraction, shown ×100); a profile without
    that key (an older one, or one made without the measure) shows an empty cell. `fmt` is the
    precision the measurement supports: "int", "sig<N>" significant digits, "fixed<N>" decimals,
    "text". `role`: "result" (a figure; a row marked invalid does not show it), "context" (what
    identifies or qualifies a row: a batch size, the roof), "status" (validity, `VALID`/`REASON`).
    `plot`: drawn against resolution in the scaling plot (one panel per measure); `variant`: also
    given for the trained variant in the quality table (the cost beside the quality)."""

    name: str
    label: str
    unit: str = ""
    key: str | None = None
    scale: float = 1.0
    fmt: str = "sig3"
    lower_is_better: bool | None | str = INHERIT
    tables: tuple[str, ...] = PROFILE_TABLES
    role: str = "result"
    plot: bool = False
    variant: bool = False

    def value(self, record: dict):
        """The column's value in `record` (NaN when the key is absent)."""
        node: Any = record
        for part in (self.key or self.name).split("."):
            if not isinstance(node, dict) or part not in node:
                return float("nan")
            node = node[part]
        if node is None or self.fmt == "text" or self.role == "status":
            return node
        return node * self.scale if self.scale != 1.0 else node

    @property
    def percent(self) -> bool:
        return self.unit == "%"


@dataclass(frozen=True)
class Context:
    """What a measure function may read: the job (model, resolution, build overrides, typed
    Profile section, device), the batch sizes timed at this resolution (empty: not timed) and
    the MAC counters that run here. Counting helpers are cached, so the MACs, FIR and latency
    measures share one FlopCounterMode pass."""

    model: str
    resolution: int
    build: dict
    cfg: settings.Profile
    device: Any = "cpu"
    batch_sizes: tuple[int, ...] = ()
    counters: tuple[str, ...] = ()
    memo: dict = field(default_factory=dict, repr=False, compare=False)

    def generator(self, device: str = "meta"):
        """A fresh generator as it is counted (grouped modconv path, train mode; counting.py)."""
        return counting.build_for_counting(self.model, self.resolution, device, **self.build)

    def mac_count(self, convention: str = "true"):
        """counting.MacCount of one batch-1 forward on meta, computed once per convention."""
        if convention not in self.memo:
            g = self.generator()
            self.memo[convention] = counting.count_macs(g, counting.example_input(g), convention)
        return self.memo[convention]


@dataclass(frozen=True)
class Measure:
    name: str
    fn: Callable[[Context], Any] = field(repr=False)
    label: str
    unit: str
    lower_is_better: bool
    protocol: str
    keys: tuple[str, ...]
    columns: tuple[Column, ...]
    note: str = ""
    applies: Callable[[Context], bool] | None = field(default=None, repr=False)
    rows: Callable[[dict], list[dict]] | None = field(default=None, repr=False)
    breakdowns: tuple[tuple[str, str], ...] = ()
    needs: tuple[str, ...] = ()

    def __call__(self, ctx: Context) -> dict:
        values = self.fn(ctx)
        if not isinstance(values, dict):
            values = {self.keys[0]: values}
        if sorted(values) != sorted(self.keys):
            raise ValueError(
                f"measure {self.name!r} returned {sorted(values)}, declared {sorted(self.keys)}"
            )
        return {k: values[k] for k in self.keys}

    def runs(self, ctx: Context) -> bool:
        return self.applies is None or bool(self.applies(ctx))

    @property
    def table(self) -> str | None:
        """The table a row measure writes (its own name); None for per-profile measures."""
        return self.name if self.rows is not None else None


_MEASURES: dict[str, Measure] = {}


def register_measure(
    name: str,
    *,
    label: str,
    unit: str,
    lower_is_better: bool,
    protocol: str,
    keys: Sequence[str] | None = None,
    columns: Sequence[Column] | None = None,
    note: str = "",
    applies: Callable[[Context], bool] | None = None,
    rows: Callable[[dict], list[dict]] | None = None,
    breakdowns: Sequence[tuple[str, str]] = (),
    needs: Sequence[str] = (),
):
    """Decorator: register `fn(ctx)` as measure `name`. `needs` names the measures that must
    run before it in the same job (the blocks measure reuses the model the latency measure has
    just warmed up): they run first whatever the import order, and where one of them does not
    run, neither does this one. `keys` default to [name] (a plain value
    returned is written there); `columns` default to one column `name` with the measure's label,
    unit and direction. A row measure (`rows`: profile -> records) fills a table of its own named
    after it. Profile keys and column names must stay unique over all measures."""

    def deco(fn):
        if name in _MEASURES:
            raise ValueError(f"measure {name!r} is registered twice")
        ks = tuple(keys or [name])
        cols = columns if columns is not None else [Column(name, label, unit)]
        table = (name,) if rows is not None else None
        cols = tuple(_resolve(c, lower_is_better, table) for c in cols)
        _MEASURES[name] = Measure(
            name,
            fn,
            label,
            unit,
            lower_is_better,
            protocol,
            ks,
            cols,
            note,
            applies,
            rows,
            tuple(breakdowns),
            tuple(needs),
        )
        try:
            _check_unique()
        except ValueError:
            del _MEASURES[name]
            raise
        return fn

    return deco


def _resolve(c: Column, lower_is_better: bool, table: tuple[str, ...] | None) -> Column:
    if not FORMAT.match(c.fmt) or c.role not in ROLES:
        raise ValueError(
            f"column {c.name!r}: fmt must match {FORMAT.pattern} and role be one "
            f"of {ROLES}, got {c.fmt!r}, {c.role!r}"
        )
    if not (isinstance(c.scale, int | float) and math.isfinite(c.scale)):
        raise ValueError(f"column {c.name!r}: scale must be a finite number")
    direction = lower_is_better if c.lower_is_better == INHERIT else c.lower_is_better
    if c.role != "result":
        direction = None  # only a result is better or worse
    return replace(c, lower_is_better=direction, tables=table or tuple(c.tables))


def _check_unique() -> None:
    keys: dict[str, str] = {}
    cols: dict[str, str] = {}
    for m in _MEASURES.values():
        for k in m.keys:
            if k in RESERVED_KEYS or keys.setdefault(k, m.name) != m.name:
                raise ValueError(
                    f"profile key {k!r} of measure {m.name!r} is already written by "
                    f"{keys.get(k, 'the profile itself')!r}"
                )
        for c in m.columns:
            if c.name in RESERVED_COLUMNS or cols.setdefault(c.name, m.name) != m.name:
                raise ValueError(f"column {c.name!r} of measure {m.name!r} is already taken")


# ----------------------------------------------------------------------------- lookups


def measure_names() -> list[str]:
    return list(_MEASURES)


def measures() -> list[Measure]:
    return list(_MEASURES.values())


def run_order(names: Sequence[str] | None = None) -> list[Measure]:
    """The measures in the order a job runs them: registration order, except that a measure
    comes after every measure it `needs`. `names`: only those and what they need (default all).
    An unknown need or a cycle is a bug in a measure file and raises, naming it."""
    done: dict[str, Measure] = {}

    def visit(m: Measure, path: tuple[str, ...]) -> None:
        if m.name in done:
            return
        if m.name in path:
            raise ValueError(f"measures need each other in a cycle: {' -> '.join((*path, m.name))}")
        for need in m.needs:
            if need not in _MEASURES:
                raise ValueError(f"measure {m.name!r} needs {need!r}, which is not registered")
            visit(_MEASURES[need], (*path, m.name))
        done[m.name] = m

    for m in _MEASURES.values() if names is None else [get(n) for n in names]:
        visit(m, ())
    return list(done.values())


def get(name: str) -> Measure:
    if name not in _MEASURES:
        raise KeyError(f"unknown measure {name!r}; registered: {', '.join(_MEASURES)}")
    return _MEASURES[name]


def columns(table: str | None = None) -> list[Column]:
    """Every column in registration order, or those of one table."""
    return [c for m in _MEASURES.values() for c in m.columns if table is None or table in c.tables]


def column(name: str, default=_RAISE) -> Column:
    for m in _MEASURES.values():
        for c in m.columns:
            if c.name == name:
                return c
    if default is _RAISE:
        raise KeyError(f"{name!r} is not a column of any registered measure")
    return default


def measure_of(column_name: str) -> Measure | None:
    """The measure that declared column `column_name` (None: not a measure's column)."""
    return next(
        (m for m in _MEASURES.values() if any(c.name == column_name for c in m.columns)), None
    )


def known(cell) -> bool:
    """Whether a table cell holds a number: `Column.value` reads an absent key as NaN and a
    null as None, and a status column holds a bool."""
    return isinstance(cell, int | float) and not isinstance(cell, bool) and math.isfinite(cell)


def table_rows(name: str, profile: dict) -> list[dict]:
    """Row measure `name`'s rows of one profile as its report table holds them: {column name:
    value} per record (`Measure.rows`, then each `Column.value`, so a "%" column is a fraction
    and a GMAC/s column is in G). The speed claims, the speed plots and the run comparison
    read these, so they say what the table says and never depend on the profile's file
    format. Give the profile its device roofline first (device_roof.with_device_roofs) where
    the utilization columns should be the run's."""
    m = get(name)
    if m.rows is None:
        raise ValueError(
            f"measure {name!r} is not a row measure: read its columns from the profile"
        )
    return [{c.name: c.value(r) for c in m.columns} for r in m.rows(profile)]
