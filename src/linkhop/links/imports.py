"""Reading links to import from CSV (``linkhop links import FILE``).

The first row names the columns; ``url`` is required, the others are the fields of
``POST /api/v1/links`` (``key``, ``domain``, ``title``, ``tags``, ``expires_at``, …). Empty
cells are left out, so a column may be filled for some rows only. ``tags`` holds names
separated by ``|`` (commas are common in tag names, and would need quoting). Rows are then
created through the bulk service, so they are checked exactly like API requests.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from linkhop.errors import Invalid
from linkhop.links.schemas import LinkCreate

TAG_SEPARATOR = "|"
COLUMNS = frozenset(LinkCreate.model_fields) - {"password"}
"""Importable columns: every create field but ``password`` (a password in a file is a leak)."""
_NUMBERS = frozenset({"redirect_status", "max_clicks"})


def csv_rows(text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, link body)`` for each data row of a CSV document."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [(name or "").strip() for name in reader.fieldnames or []]
    if "url" not in header:
        raise Invalid("the first CSV row must name the columns, including 'url'", field="file")
    unknown = sorted(set(header) - COLUMNS)
    if unknown:
        raise Invalid(
            f"unknown column(s) {', '.join(unknown)}; known: {', '.join(sorted(COLUMNS))}",
            field="file",
        )
    reader.fieldnames = header
    for row in reader:
        body: dict[str, Any] = {}
        for name, raw in row.items():
            if name is None:  # more cells than columns: keep them, so validation says so
                body["extra_cells"] = raw
                continue
            value = (raw or "").strip()
            if not value:
                continue
            if name == "tags":
                body[name] = [t.strip() for t in value.split(TAG_SEPARATOR) if t.strip()]
            elif name in _NUMBERS and value.isdigit():
                body[name] = int(value)
            else:
                body[name] = value
        yield reader.line_num, body
