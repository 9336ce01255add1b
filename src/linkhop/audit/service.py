"""Writing the audit trail. Called inside the caller's transaction, never committing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from linkhop.audit.models import AuditEvent
from linkhop.db.base import utcnow
from linkhop.principal import Principal


def record(
    session: AsyncSession,
    *,
    principal: Principal | None,
    action: str,
    target_type: str,
    target_id: str | None,
    org_id: str | None = None,
    data: dict[str, Any] | None = None,
    actor: tuple[str, str] | None = None,
) -> None:
    """Add one audit event to the current transaction (it commits or rolls back with the change).

    The actor is the principal, or ``actor`` (type, id) for acts before there is one (sign-in),
    else ``system`` (admin commands).
    """
    actor_type, actor_id = (
        (principal.actor_type, principal.actor_id)
        if principal
        else actor
        if actor
        else ("system", None)
    )
    session.add(
        AuditEvent(
            org_id=org_id if org_id is not None else (principal.org_id if principal else None),
            actor_type=actor_type,
            actor_id=actor_id,
            action=action,
            target_type=target_type,
            target_id=target_id,
            data=data or {},
        )
    )


async def record_many(
    session: AsyncSession,
    *,
    principal: Principal,
    action: str,
    target_type: str,
    targets: Sequence[tuple[str, dict[str, Any]]],
) -> None:
    """One event per ``(target id, data)`` in a single multi-row INSERT (bulk operations).

    ``record`` adds ORM objects, and the ORM inserts rows with a database-generated id one
    statement at a time on SQLite: 1000 statements for a 1000-link bulk create. This writes
    the same rows with one executemany; the caller awaits it inside its transaction.
    """
    now = utcnow()
    rows = [
        {
            "org_id": principal.org_id,
            "actor_type": principal.actor_type,
            "actor_id": principal.actor_id,
            "action": action,
            "target_type": target_type,
            "target_id": target_id,
            "data": data,
            "created_at": now,
        }
        for target_id, data in targets
    ]
    if rows:  # an empty executemany is an error (nothing was created: nothing to record)
        await session.execute(insert(AuditEvent.metadata.tables["audit_events"]), rows)
