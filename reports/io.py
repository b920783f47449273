"""Report writes go through data.atomic (temp file + rename, normal permissions)."""

from __future__ import annotations

import json

from data.atomic import atomic_output as atomic_path
from data.atomic import atomic_write_text as write_text

__all__ = ["atomic_path", "write_json", "write_text"]


def write_json(path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, default=str) + "\n")
