"""A config section as a command line: the flags of a stage's entry point are generated from its
typed section (common.settings), and the workflow turns a section back into those flags.

Why: a knob is then one dataclass field with its default and help line. The entry point's flag,
its default, its check and the rule's argument all follow from that field, so no rule, parser
or call site can forget it or carry a default of its own.

    add_flags(parser, settings.Train)     # --kimg, --batch, ...: every field of scope "job"
    cfg = from_args(settings.Train, args)  # validated once, a typed Train
    argv = to_argv(cfg)                    # what a rule passes: the same fields

Flag values: an int/float/str field takes its value (`null` for an optional one unset); a bool
field is `--flag` / `--no-flag`; a list of scalars is a comma list; anything else (a list of
mappings, a mapping) is YAML text. `from_args` checks the values with the section's JSON schema,
the same check a config file gets, so the CLI and the config cannot disagree.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing

from common.cli import UsageError

NULL = "null"


def _unwrap(tp):
    """`X | None` → (X, True); anything else → (tp, False)."""
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return inner[0], True
    return tp, False


def _scalar_list_item(tp):
    """The item type of `list[int|float|str]`, else None."""
    if typing.get_origin(tp) is list:
        (item,) = typing.get_args(tp)
        if item in (int, float, str):
            return item
    return None


def flag_of(name: str) -> str:
    return "--" + name.replace("_", "-")


def _fields(cls, exclude):
    """The fields that are flags: a field of scope "workflow" (common.settings.opt) never is."""
    hints = typing.get_type_hints(cls)
    return [
        (f, hints[f.name])
        for f in dataclasses.fields(cls)
        if f.name not in exclude and f.metadata.get("scope", "job") == "job"
    ]


def workflow_only(cls) -> tuple[str, ...]:
    """The fields of `cls` only the workflow reads (no flag of the stage's entry point)."""
    return tuple(f.name for f in dataclasses.fields(cls) if f.metadata.get("scope") == "workflow")


def _default(f):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _shown(value) -> str:
    if isinstance(value, list) and all(isinstance(v, int | float | str) for v in value):
        return ",".join(map(str, value))
    return str(value)


def add_flags(parser: argparse.ArgumentParser, cls, exclude=()) -> None:
    """One flag per field of `cls` (minus `exclude`), help and default from the field. Values
    stay text here (None when not given); `from_args` parses and checks them. A field without a
    default is a required flag."""
    for f, tp in _fields(cls, exclude):
        default = _default(f)
        text = f.metadata["help"].replace("%", "%%")
        kind, _ = _unwrap(tp)
        if kind is bool:
            parser.add_argument(
                flag_of(f.name),
                action=argparse.BooleanOptionalAction,
                default=None,
                help=f"{text} (default: {'on' if default else 'off'})",
            )
            continue
        if _scalar_list_item(kind):
            text += "; a comma list"
        elif kind not in (int, float, str):
            text += "; YAML text"
        enum = f.metadata["schema"].get("enum")
        if enum:
            text += f"; one of {', '.join(map(str, enum))}"
        needed = default is dataclasses.MISSING
        if not needed and default is not None:
            text += f" (default: {_shown(default) if default != [] else 'none'})"
        parser.add_argument(
            flag_of(f.name), default=None, required=needed, metavar=f.name.upper(), help=text
        )


def _parse(name: str, tp, text: str):
    """The text of one flag → the value the section's schema checks."""
    flag = flag_of(name)
    kind, optional = _unwrap(tp)
    if optional and text.strip().lower() in (NULL, "none", ""):
        return None
    item = _scalar_list_item(kind)
    try:
        if kind in (int, float):
            return _number(kind, text)
        if kind is str:
            return text
        if item is not None:
            parts = [s.strip() for s in text.split(",")] if text.strip() else []
            if any(not s for s in parts):
                raise ValueError("an empty item")
            return [_number(item, s) if item is not str else s for s in parts]
    except ValueError:
        what = f"a comma list of {item.__name__}" if item else f"{kind.__name__}"
        raise UsageError(f"{flag}: expected {what}, got {text!r}") from None
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        raise UsageError(f"{flag}: not valid YAML: {text!r}") from None


def _number(kind, text: str):
    text = text.strip()
    if kind is int:
        value = float(text)  # "1e3" and "1000" both mean 1000
        if not value.is_integer():
            raise ValueError(text)
        return int(value)
    return float(text)


def from_args(cls, args: argparse.Namespace, exclude=()):
    """The typed section from parsed flags: unset flags take the field's default, and the whole
    section is checked once against its schema (one line naming the flag on a bad value)."""
    from common import settings

    data = {}
    for f, tp in _fields(cls, exclude):
        value = getattr(args, f.name)
        if value is None:
            continue
        data[f.name] = value if isinstance(value, bool) else _parse(f.name, tp, value)
    return settings.validate(data, cls, where="command line", key=flag_of)


def to_argv(section, exclude=()) -> list[str]:
    """Every field of a typed section as the flags `add_flags` reads (the inverse of
    from_args): what a workflow rule passes, so the stage sees the section whole."""
    import json

    out = []
    for f, tp in _fields(type(section), exclude):
        value = getattr(section, f.name)
        kind, _ = _unwrap(tp)
        flag = flag_of(f.name)
        if kind is bool:
            out.append(flag if value else "--no-" + flag[2:])
        elif value is None:
            out += [flag, NULL]
        elif _scalar_list_item(kind):
            out += [flag, ",".join(map(str, value))]
        elif kind in (int, float, str):
            out += [flag, str(value)]
        else:
            out += [flag, json.dumps(_plain(value), sort_keys=True)]  # JSON is YAML
    return out


def _plain(value):
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
