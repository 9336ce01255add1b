"""The branded hostnames a destination may not point at, cached briefly in this process.

Every new link checks that its destination is not one of our own short domains (a redirect
loop). Reading the ``domains`` table for that was one statement of every ``POST /links``; the
set changes rarely, so it is kept for ``TTL`` seconds, and dropped as soon as a session of this
process commits a change to ``domains`` (other processes notice within ``TTL``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from linkhop.domains import service as domains_service

TTL = 5.0
_TABLE = "domains"
_FLAG = "linkhop.domains_changed"


class _Hosts:
    def __init__(self) -> None:
        self.value: frozenset[str] | None = None
        self.loaded_at = 0.0
        self.generation = 0

    def clear(self) -> None:
        self.value = None
        self.generation += 1


_HOSTS = _Hosts()


async def branded_hosts(session: AsyncSession) -> frozenset[str]:
    """Every branded hostname we serve (from memory when read less than ``TTL`` s ago)."""
    now = time.monotonic()
    if _HOSTS.value is not None and now - _HOSTS.loaded_at < TTL:
        return _HOSTS.value
    generation = _HOSTS.generation
    value = await domains_service.all_hostnames(session)
    if generation == _HOSTS.generation:  # no change was committed while we were reading
        _HOSTS.value, _HOSTS.loaded_at = value, now
    return value


def _touches(objects: Iterable[object]) -> bool:
    return any(getattr(o, "__tablename__", None) == _TABLE for o in objects)


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    if any(_touches(s) for s in (session.new, session.dirty, session.deleted)):
        session.info[_FLAG] = True


@event.listens_for(Session, "do_orm_execute")
def _on_statement(state: ORMExecuteState) -> None:
    table = getattr(state.statement, "table", None)
    if (state.is_update or state.is_delete or state.is_insert) and (
        getattr(table, "name", None) == _TABLE
    ):
        state.session.info[_FLAG] = True


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_FLAG, False):
        _HOSTS.clear()
