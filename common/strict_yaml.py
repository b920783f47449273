"""Config files read strictly: PyYAML's safe loader, plus three refusals it does not make.

- A key given twice in one mapping. YAML says keys are unique, but PyYAML keeps the last one
  silently, so a second `models:` section would quietly replace the first.
- Aliases that expand far beyond what was written (a "billion laughs" file). PyYAML builds such
  a file cheaply, as shared references, but everything that walks the result afterwards (the
  schema check, the finite-number check) pays for every expanded value: minutes for a 1 kB file.
  The expanded size is counted on the node graph, memoised per node, so the check itself takes
  time linear in the file.
- A file that is not YAML: the refusal names the file, the line and column, and the parser's own
  message, not just "not valid".

Each refusal is one UsageError line naming the file and the line(s).

One leniency, `yaml12_numbers`: YAML 1.1 (PyYAML, and Snakemake's own reader of --configfile and
--config) takes a float only with a dot and a signed exponent, so `1e12`, `1.0e12` and `5e-3`
arrive as strings, while YAML 1.2 and JSON read them as numbers, and users write floats that way.
settings.validate makes such a string a number wherever the schema wants one; it works on the
parsed mapping, so it covers every reader (this one, Snakemake's) in one place.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import yaml

from common.cli import UsageError

# Values aliases may add beyond those written in the file. A real config has a few hundred values
# and aliases that repeat a small block a few times; 10,000 extra values keeps every such use and
# stops an exponential file at its 5th level of 9-fold nesting, before anything walks it.
MAX_ALIAS_EXPANSION = 10_000

_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when present: faster
_MERGE = "tag:yaml.org,2002:merge"


class _StrictLoader(_Base):
    """SafeLoader that refuses duplicate keys and alias bombs; `where` names the file."""

    where = "config"

    def construct_document(self, node):
        _check_expansion(node, self.where)
        return super().construct_document(node)

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            first: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE:  # `<<: *base` then a key: an override, by design
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    hash(key)
                except TypeError:
                    continue  # the base class names an unhashable key itself
                line = key_node.start_mark.line + 1
                if key in first:
                    raise UsageError(
                        f"{self.where}: line {line}: duplicate key {key!r} (first given at line "
                        f"{first[key]}); keep one of them"
                    )
                first[key] = line
        return super().construct_mapping(node, deep=deep)


def _check_expansion(root, where: str) -> None:
    """Refuse when aliases add more than MAX_ALIAS_EXPANSION values, naming the first alias
    target whose expansion is too big. Counts nodes of the graph once each (memoised by id), so
    a bomb is refused in time linear in its size; a recursive alias is refused too."""
    sizes: dict[int, int] = {}
    distinct: set[int] = set()
    stack = [(root, False)]
    active: set[int] = set()
    while stack:
        node, done = stack.pop()
        nid = id(node)
        if done:
            active.discard(nid)
            sizes[nid] = 1 + sum(sizes[id(c)] for c in _children(node))
            if sizes[nid] - len(distinct) > MAX_ALIAS_EXPANSION:
                raise UsageError(
                    f"{where}: line {node.start_mark.line + 1}: aliases here expand to "
                    f"{sizes[nid]:,} values, more than {MAX_ALIAS_EXPANSION:,} beyond the "
                    f"{len(distinct):,} written; write the values out instead of nesting aliases"
                )
            continue
        if nid in sizes:
            continue
        if nid in active:
            raise UsageError(
                f"{where}: line {node.start_mark.line + 1}: an alias refers to the value that "
                "contains it (a recursive alias); write the values out"
            )
        active.add(nid)
        distinct.add(nid)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in sizes)


def _children(node):
    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return ()


def load_text(text: str, where: str = "config"):
    """Parse YAML text strictly (see the module docstring); `where` names it in every error."""
    loader_cls = type("_Loader", (_StrictLoader,), {"where": where})
    loader = loader_cls(text)
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = ": ".join(p for p in (e.context, e.problem) if p)
        raise UsageError(f"{where}: {at}not valid YAML: {what}") from None
    except yaml.YAMLError as e:
        raise UsageError(f"{where}: not valid YAML: {str(e).splitlines()[0]}") from None
    finally:
        loader.dispose()


def load_file(path: str | Path):
    """A YAML file read strictly; an unreadable or non-UTF-8 file is one line too."""
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot read config {where}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise UsageError(f"{where}: not valid YAML: not UTF-8 text ({e.reason})") from None
    return load_text(text, where)


def check_files(paths) -> None:
    """Read each file strictly and drop the result: for callers (the Snakefile) whose own parser
    already read them loosely, so a duplicate key or an alias bomb is refused before it is used."""
    for path in paths:
        load_file(path)


# A float with an exponent as YAML 1.2's core schema writes it; YAML 1.1 leaves it a string
# unless it has a dot and a sign after the `e`. Plain integers and `.inf`/`.nan` are not matched:
# YAML 1.1 already reads those.
_EXPONENT_FLOAT = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+")


def _wants_number(types) -> str | None:
    types = [types] if isinstance(types, str) else list(types)
    return "integer" if "integer" in types else "number" if "number" in types else None


def yaml12_numbers(data, validator):
    """A copy of `data` in which every string like `1e12` that the schema (a jsonschema
    `validator`) refuses for not being a number is that number: an int where the schema wants an
    integer and the value is whole, else a float. Range checks then apply to the number (an
    absurd `1e12` is refused for its size, not its spelling); other strings are left alone, so
    `'ten'` is still refused as a string."""
    fixes = []
    for error in validator.iter_errors(data):
        want = _wants_number(error.validator_value) if error.validator == "type" else None
        if want and isinstance(error.instance, str) and _EXPONENT_FLOAT.fullmatch(error.instance):
            value = float(error.instance)
            if want == "integer" and value.is_integer() and abs(value) < 2**63:
                value = int(value)
            fixes.append((list(error.absolute_path), value))
    if not fixes:
        return data
    data = copy.deepcopy(data)
    for path, value in fixes:
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = value
    return data
