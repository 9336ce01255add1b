"""A short-lived, in-process cache of verified API keys, dropped whenever access may have changed.

Verifying a key costs three statements (the key, its owner, the owner's membership), which made
authentication about a quarter of ``POST /api/v1/links`` (bench/README.md, issue 5). A key seen
within the last ``ttl`` seconds is trusted from memory instead, under two rules:

- **This process: at once.** Every session commit that wrote to ``api_keys``, ``users``,
  ``memberships`` or ``role_permissions`` (an ORM flush or an ``UPDATE``/``DELETE`` statement)
  empties the cache when it commits. Revoking a key, demoting or removing a member and
  deactivating a user therefore take effect on the very next request, as before.
- **Other processes: within ``ttl``.** A change committed by another API replica or an admin
  command reaches this process when its entries expire (``LINKHOP_API_KEY_CACHE_SECONDS``; 0
  turns the cache off and checks the database on every request).

An entry loaded while a change was being committed is never served: each entry carries the
generation it was loaded under, and every invalidation starts a new generation.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from linkhop.principal import Principal

# Tables whose rows decide what a key may do. Watched by name, so this module imports no other
# domain's models.
WATCHED_TABLES = frozenset({"api_keys", "users", "memberships", "role_permissions"})
_FLAG = "linkhop.auth_changed"
NEUTRAL = "linkhop_access_neutral"
"""Execution option marking a write that changes no access (recording a key's last use)."""


@dataclass(frozen=True, slots=True)
class CachedKey:
    """A verified key: who it acts as, until when, and when its use was last recorded."""

    principal: Principal
    expires_at: datetime | None
    last_used_at: datetime | None
    loaded_at: float
    generation: int


class KeyCache:
    """Verified keys by the SHA-256 of the key, bounded, expiring after ``ttl`` seconds."""

    def __init__(self, *, maxsize: int = 10_000) -> None:
        self.maxsize = maxsize
        self.generation = 0
        self._data: OrderedDict[str, CachedKey] = OrderedDict()

    def get(self, secret_hash: str, *, now: float, ttl: float) -> CachedKey | None:
        """The entry for a key if it is fresh and from the current generation."""
        entry = self._data.get(secret_hash)
        if entry is None:
            return None
        if entry.generation != self.generation or now - entry.loaded_at >= ttl:
            del self._data[secret_hash]
            return None
        return entry

    def put(self, secret_hash: str, entry: CachedKey) -> None:
        """Remember a key verified under ``entry.generation`` (ignored if that is outdated)."""
        if entry.generation != self.generation:
            return
        self._data[secret_hash] = entry
        self._data.move_to_end(secret_hash)
        while len(self._data) > self.maxsize:
            self._data.popitem(last=False)

    def clear(self) -> None:
        """Forget everything and start a new generation (loads in flight become unusable)."""
        self.generation += 1
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


KEYS = KeyCache()
"""The process's cache (one per process: entries are keyed by a hash of a 190-bit secret)."""


def _touches_access(objects: Any) -> bool:
    return any(getattr(o, "__tablename__", None) in WATCHED_TABLES for o in objects)


# The flag is set when a change is flushed and acted on at the outermost commit. It is never
# reset on rollback (a savepoint may roll back while an earlier change in the same transaction
# stands): a stale flag costs at most one needless clear.
@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    if any(_touches_access(s) for s in (session.new, session.dirty, session.deleted)):
        session.info[_FLAG] = True


@event.listens_for(Session, "do_orm_execute")
def _on_statement(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    if state.execution_options.get(NEUTRAL):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in WATCHED_TABLES:
        state.session.info[_FLAG] = True


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_FLAG, False):
        KEYS.clear()
