"""The text that GET /links?q= searches, as one SQL expression shared by query and index.

PostgreSQL uses an index on an expression only when the query repeats that expression, so the
expression lives here once: the migration indexes it (``pg_trgm`` GIN) and the listing filters
on it. Separators are literals (never bound parameters, which would not match the index); a
newline cannot occur in a key or a normalised URL, so a term never matches across two fields
unless it contains one.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, literal_column

SEARCH_INDEX = "ix_links_search_trgm"
SEARCH_TEXT_SQL = (
    "lower(links.key) || chr(10) || lower(links.url) || chr(10) || lower(coalesce(links.title, ''))"
)


def escape_like(text: str) -> str:
    """``text`` with LIKE's wildcards escaped (escape character: backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_pattern(q: str) -> str:
    """The LIKE pattern for a search term: case-insensitive substring."""
    return f"%{escape_like(q.strip().lower())}%"


def search_text() -> ColumnElement[str]:
    """The searched text of a link row (PostgreSQL; the index's own expression)."""
    return literal_column(f"({SEARCH_TEXT_SQL})")
