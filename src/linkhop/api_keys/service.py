"""Creating, verifying, listing and revoking API keys."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from linkhop.api_keys import cache as key_cache
from linkhop.api_keys import format as key_format
from linkhop.api_keys.models import ApiKey
from linkhop.audit import service as audit_service
from linkhop.auth import service as auth_service
from linkhop.errors import Forbidden, Invalid, NotFound, Unauthenticated
from linkhop.ids import UserId, new_api_key_id
from linkhop.orgs import service as orgs_service
from linkhop.principal import PERMISSIONS, Principal, require

MAX_EXPIRY_DAYS = 3650
USE_RECORD_INTERVAL = timedelta(minutes=1)
"""``last_used_at`` is written at most this often per key (it is for humans, not billing)."""


def validate_scopes(scopes: Iterable[str]) -> list[str]:
    """Known, de-duplicated scopes in canonical order; at least one."""
    wanted = {s.strip() for s in scopes if s.strip()}
    unknown = sorted(wanted - set(PERMISSIONS))
    if unknown:
        raise Invalid(
            f"unknown scope(s): {', '.join(unknown)}; valid scopes: {', '.join(PERMISSIONS)}",
            field="scopes",
        )
    if not wanted:
        raise Invalid("an API key needs at least one scope", field="scopes")
    return [p for p in PERMISSIONS if p in wanted]


async def create_key(
    session: AsyncSession,
    *,
    principal: Principal,
    name: str,
    scopes: Iterable[str],
    expires_in_days: int | None,
    env: str,
    now: datetime,
) -> tuple[ApiKey, str]:
    """Create a key acting for the principal's user; returns the row and the key (shown once).

    A key may not hold a scope its creator lacks (no privilege escalation through keys).
    """
    require(principal, "keys:write")
    clean_scopes = validate_scopes(scopes)
    beyond = [s for s in clean_scopes if s not in principal.permissions]
    if beyond:
        raise Forbidden(f"you cannot grant scopes you do not hold: {', '.join(beyond)}")
    cleaned_name = " ".join(name.split())
    if not cleaned_name or len(cleaned_name) > 100:
        raise Invalid("key name must be 1–100 characters", field="name")
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_EXPIRY_DAYS:
        raise Invalid(f"expiry must be 1–{MAX_EXPIRY_DAYS} days", field="expires_in_days")
    parsed = key_format.generate(env)
    row = ApiKey(
        id=new_api_key_id(),
        org_id=principal.org_id,
        user_id=principal.user_id,
        name=cleaned_name,
        key_id=parsed.key_id,
        secret_hash=key_format.secret_hash(parsed.full),
        display=key_format.display(parsed),
        scopes=clean_scopes,
        created_at=now,
        expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    session.add(row)
    await session.flush()
    audit_service.record(
        session,
        principal=principal,
        action="api_key.created",
        target_type="api_key",
        target_id=row.id,
        data={"name": cleaned_name, "scopes": clean_scopes},
    )
    return row, parsed.full


@dataclass(frozen=True, slots=True)
class Authenticated:
    """A verified key: the principal it acts as, and whether its use is due to be recorded."""

    principal: Principal
    record_use: bool


def _use_due(last_used_at: datetime | None, now: datetime) -> bool:
    return last_used_at is None or now - last_used_at >= USE_RECORD_INTERVAL


async def authenticate_key(
    session: AsyncSession, *, token: str, now: datetime, cache_seconds: float = 0.0
) -> Authenticated:
    """The principal behind an API key; Unauthenticated if malformed, unknown, revoked, expired.

    A key verified less than ``cache_seconds`` ago is answered from the in-process cache (see
    ``api_keys.cache`` for when it is dropped). Nothing is written here: when ``record_use`` is
    set, the caller records the use with ``record_use`` in a transaction of its own, so a
    request that fails afterwards still counts as a use.
    """
    parsed = key_format.parse(token)
    if parsed is None:
        # A right-shaped key with a wrong checksum is a typo or a truncated copy-paste: say so,
        # so the caller fixes the key rather than hunting for a revoked or deleted one.
        if key_format.well_formed(token):
            raise Unauthenticated("API key checksum mismatch: the key was mistyped or altered")
        raise Unauthenticated("malformed API key")
    digest = key_format.secret_hash(token)
    clock = time.monotonic()
    if cache_seconds > 0:
        hit = key_cache.KEYS.get(digest, now=clock, ttl=cache_seconds)
        if hit is not None:
            if hit.expires_at is not None and hit.expires_at <= now:
                raise Unauthenticated("this API key has expired")
            return Authenticated(hit.principal, _claim_use(digest, hit, now, remember=True))
    generation = key_cache.KEYS.generation
    row = (
        await session.execute(select(ApiKey).where(ApiKey.key_id == parsed.key_id))
    ).scalar_one_or_none()
    if row is None or not secrets.compare_digest(row.secret_hash, digest):
        raise Unauthenticated("unknown API key")
    if row.revoked_at is not None:
        raise Unauthenticated("this API key was revoked")
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthenticated("this API key has expired")
    # A deactivated user is locked out of sign-in and sessions; their keys must stop too.
    owner = (await auth_service.users_by_ids(session, user_ids=[row.user_id])).get(row.user_id)
    if owner is None or not owner.is_active:
        raise Unauthenticated("the owner of this API key is deactivated")
    try:
        principal = await orgs_service.principal_for(
            session,
            user_id=UserId(row.user_id),
            org_id=row.org_id,
            api_key_id=row.id,
            scopes=frozenset(row.scopes),
        )
    except NotFound as exc:
        raise Unauthenticated("the owner of this API key left the organisation") from exc
    entry = key_cache.CachedKey(
        principal=principal,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        loaded_at=clock,
        generation=generation,
    )
    remember = cache_seconds > 0
    if remember:
        key_cache.KEYS.put(digest, entry)
    return Authenticated(principal, _claim_use(digest, entry, now, remember=remember))


def _claim_use(digest: str, entry: key_cache.CachedKey, now: datetime, *, remember: bool) -> bool:
    """Whether this request should record the key's use (at most once a minute per key)."""
    if not _use_due(entry.last_used_at, now):
        return False
    if remember:
        # Concurrent requests of one key all saw the old time; the first one claims the write.
        key_cache.KEYS.put(digest, replace(entry, last_used_at=now))
    return True


async def record_use(session: AsyncSession, *, api_key_id: str, now: datetime) -> None:
    """Set ``last_used_at`` unless another request or process did within the last minute."""
    stmt = (
        update(ApiKey)
        .where(ApiKey.id == api_key_id)
        .where(or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= now - USE_RECORD_INTERVAL))
        .values(last_used_at=now)
    )
    # Recording a use changes nobody's access: it must not empty the key cache.
    await session.execute(stmt, execution_options={key_cache.NEUTRAL: True})


def _visible(principal: Principal) -> bool:
    return principal.role in ("owner", "admin")


async def list_keys(session: AsyncSession, *, principal: Principal) -> list[ApiKey]:
    """Keys of the org (owners/admins) or the caller's own keys (others)."""
    require(principal, "keys:read")
    stmt = select(ApiKey).where(ApiKey.org_id == principal.org_id)
    if not _visible(principal):
        stmt = stmt.where(ApiKey.user_id == principal.user_id)
    return list((await session.execute(stmt.order_by(ApiKey.created_at.desc()))).scalars())


async def get_key(session: AsyncSession, *, principal: Principal, key_id: str) -> ApiKey:
    """One key the principal may see."""
    require(principal, "keys:read")
    row = await session.get(ApiKey, key_id)
    if row is None or row.org_id != principal.org_id:
        raise NotFound("API key not found")
    if not _visible(principal) and row.user_id != principal.user_id:
        raise NotFound("API key not found")
    return row


async def revoke_key(
    session: AsyncSession, *, principal: Principal, key_id: str, now: datetime
) -> ApiKey:
    """Revoke a key (idempotent)."""
    require(principal, "keys:write")
    row = await get_key(session, principal=principal, key_id=key_id)
    if row.revoked_at is None:
        row.revoked_at = now
        await session.flush()
        audit_service.record(
            session,
            principal=principal,
            action="api_key.revoked",
            target_type="api_key",
            target_id=row.id,
        )
    return row
