"""Links from the report to the project's docs: each `docs/NAME.md` the page mentions is copied
beside the report and linked there, so a reference opens wherever the report folder goes (the
clone may not be beside it)."""

from __future__ import annotations

import re
from pathlib import Path

from common.io import atomic_copy

DOCS = Path(__file__).resolve().parents[1] / "docs"
DOC_MENTION = re.compile(r"(?<![\w/.])docs/([a-z][a-z0-9_-]*\.md)\b(#[a-z0-9_-]+)?")


def link_docs(doc: str, out: Path) -> str:
    """Each `docs/NAME.md` (or `docs/NAME.md#section`) the page mentions becomes a link to a
    copy beside the report (out/docs/), so the reference opens wherever the report folder is
    moved or mailed. A mention inside a tag's attribute is never touched; base64 image data
    holds no '.' to match."""
    found = {m.group(1) for m in DOC_MENTION.finditer(doc) if (DOCS / m.group(1)).is_file()}
    for name in sorted(found):
        atomic_copy(DOCS / name, out / "docs" / name)
    parts = re.split(r"(<[^>]*>)", doc)  # tags alone, then the text between them
    inside_link = False
    for i, part in enumerate(parts):
        if part.startswith("<"):
            inside_link = part.startswith("<a ") or (inside_link and part != "</a>")
            continue
        if not inside_link:
            parts[i] = DOC_MENTION.sub(
                lambda m: (
                    f'<a href="docs/{m.group(1)}{m.group(2) or ""}">{m.group(0)}</a>'
                    if m.group(1) in found
                    else m.group(0)
                ),
                part,
            )
    return "".join(parts)
