"""Alembic environment: runs on a connection handed in by ``linkhop.db.migrate``."""

from __future__ import annotations

from alembic import context

from linkhop.apps.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `linkhop migrate` (linkhop.db.migrate)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things in place; batch mode rebuilds tables when needed.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
