"""Alembic environment: runs on a connection handed in by ``linkhop.db.migrate``."""

from __future__ import annotations

from alembic import context

from linkhop.apps.schema import metadata

# Schema objects that migrations create but the models cannot declare portably: the trigram
# search index (PostgreSQL only, on an expression; migration 0004). `alembic check` would
# otherwise ask to drop them.
MIGRATION_ONLY_INDEXES = frozenset({"ix_links_search_trgm"})


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Leave migration-only objects out of the model comparison."""
    return not (type_ == "index" and name in MIGRATION_ONLY_INDEXES)


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `linkhop migrate` (linkhop.db.migrate)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things in place; batch mode rebuilds tables when needed.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    include_name=include_name,
)
with context.begin_transaction():
    context.run_migrations()
