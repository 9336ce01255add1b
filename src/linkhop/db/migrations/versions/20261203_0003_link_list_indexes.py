"""link list indexes: sorting by clicks or key without sorting the whole org

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # GET /links?sort=-clicks and ?sort=key read an index in order and stop after one page
    # (keyset pagination on (column, id)); before, every link of the org was sorted per page.
    # The clicks index is updated by the worker's counter updates (once per link per batch).
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.create_index("ix_links_org_id_clicks_id", ["org_id", "clicks", "id"], unique=False)
        batch_op.create_index("ix_links_org_id_key_id", ["org_id", "key", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.drop_index("ix_links_org_id_key_id")
        batch_op.drop_index("ix_links_org_id_clicks_id")
