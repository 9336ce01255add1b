"""link search index: a trigram index for GET /links?q= on PostgreSQL

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

# The same expression as linkhop.links.search.SEARCH_TEXT_SQL (which qualifies the columns):
# PostgreSQL uses the index only for queries that repeat it (tests/integration/links/
# test_link_search.py checks the plan).
SEARCH_INDEX = "ix_links_search_trgm"
SEARCH_TEXT_SQL = "lower(key) || chr(10) || lower(url) || chr(10) || lower(coalesce(title, ''))"

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Substring search (`LIKE '%term%'`) over key, destination and title cannot use a B-tree:
    # before this index every search read all of the org's links (100 k links: ~0.8 s a page).
    # pg_trgm ships with PostgreSQL (contrib) and is a trusted extension since PostgreSQL 13:
    # the database owner can create it without superuser rights. SQLite keeps scanning: the
    # embedded default serves small installations, and an FTS5 trigram table measured ~190 µs
    # of extra insert work per link (a tenth of the bulk-create budget).
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(
        f"CREATE INDEX IF NOT EXISTS {SEARCH_INDEX} ON links "
        f"USING gin (({SEARCH_TEXT_SQL}) gin_trgm_ops)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # The extension stays: other objects of the database may use it.
    op.execute(f"DROP INDEX IF EXISTS {SEARCH_INDEX}")
