"""Links: create, read, update, archive, delete, find-or-create, and click counters."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, case, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.base import Executable

from linkhop.audit import service as audit_service
from linkhop.auth.passwords import hash_password_async
from linkhop.db.base import utcnow
from linkhop.domains import service as domains_service
from linkhop.errors import Conflict, Invalid, NotFound
from linkhop.ids import new_link_id
from linkhop.links import hosts
from linkhop.links.codes import random_key
from linkhop.links.destinations import validate_destination
from linkhop.links.keys import BUILTIN_RESERVED_KEYS, normalize_key, validate_custom_key
from linkhop.links.models import ClickCounterBatch, Link
from linkhop.links.schemas import LinkCreate, LinkUpdate
from linkhop.links.utm import apply_utm
from linkhop.principal import Principal, require
from linkhop.tags import service as tags_service

RANDOM_KEY_ATTEMPTS = 8
LEDGER_KEEP = timedelta(days=7)
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
_PLAIN_FIELDS = ("title", "comments", "max_clicks", "external_id", *UTM_FIELDS)


@dataclass(frozen=True, slots=True)
class LinkPolicy:
    """The settings link rules depend on (built once from ``Settings``)."""

    default_domain: str
    default_case_sensitive: bool
    key_length: int
    key_alphabet: str
    max_key_length: int
    max_url_length: int
    reserved_keys: frozenset[str]
    own_hosts: frozenset[str]

    @property
    def all_reserved(self) -> frozenset[str]:
        """Built-in plus configured reserved keys."""
        return BUILTIN_RESERVED_KEYS | self.reserved_keys


def url_hash(url: str) -> str:
    """Index key for find-or-create by destination."""
    return hashlib.sha256(url.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Invalidation:
    """A (domain, lookup key) whose cached redirect must be dropped after commit."""

    domain: str
    key_lookup: str


async def own_hosts(session: AsyncSession, policy: LinkPolicy) -> frozenset[str]:
    """Every host we serve short links on (destinations may not point at them: loops)."""
    return policy.own_hosts | await hosts.branded_hosts(session)


async def domain_rule(
    session: AsyncSession, principal: Principal, policy: LinkPolicy, domain: str | None
) -> tuple[str, bool]:
    """The short domain a link goes on and whether its keys are case-sensitive."""
    if domain is None or domain.strip().lower() == policy.default_domain:
        return policy.default_domain, policy.default_case_sensitive
    found = await domains_service.find_org_domain(session, principal=principal, hostname=domain)
    if found is None:
        raise Invalid(
            f"'{domain}' is not a short domain of this organisation",
            field="domain",
            code="unknown_domain",
        )
    return found.hostname, found.case_sensitive


async def _key_taken(session: AsyncSession, domain: str, lookup: str) -> bool:
    stmt = select(Link.id).where(Link.domain == domain, Link.key_lookup == lookup)
    return (await session.execute(stmt)).first() is not None


async def _external_id_taken(
    session: AsyncSession, org_id: str, external_id: str, except_id: str | None = None
) -> bool:
    stmt = select(Link.id).where(Link.org_id == org_id, Link.external_id == external_id)
    if except_id is not None:
        stmt = stmt.where(Link.id != except_id)
    return (await session.execute(stmt)).first() is not None


_LINKS = Link.metadata.tables["links"]


@lru_cache(maxsize=4)
def _insert_statement(dialect: str) -> Executable:
    # One statement decides a key: it inserts, or skips the row when a unique index refuses it
    # (ON CONFLICT DO NOTHING, both SQLite ≥ 3.35 and PostgreSQL), and RETURNING names the rows
    # that went in. It replaced SAVEPOINT + INSERT + RELEASE (three statements) per attempt.
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return insert(_LINKS).on_conflict_do_nothing().returning(_LINKS.c.id)


async def insert_rows(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> set[str]:
    """Insert link rows; returns the ids inserted (the others hit a unique index)."""
    if not rows:
        return set()
    stmt = _insert_statement(session.get_bind().dialect.name)
    if len(rows) == 1:
        params: Any = rows[0]
    else:
        # Columns that are NULL in every row are left out (they default to NULL): per-row
        # parameter processing was the largest cost of a 1000-row insert, half of it on them.
        used = [name for name in rows[0] if any(row[name] is not None for row in rows)]
        params = [{name: row[name] for name in used} for row in rows]
    return set((await session.execute(stmt, params)).scalars())


def link_row(
    *,
    principal: Principal,
    data: LinkCreate,
    domain: str,
    url: str,
    expired_url: str | None,
    password_hash: str | None,
    now: datetime,
) -> dict[str, Any]:
    """A ``links`` row for a new link (the key is set by the caller)."""
    return {
        "id": new_link_id(),
        "org_id": principal.org_id,
        "domain": domain,
        "key": "",
        "key_lookup": "",
        "url": url,
        "url_hash": url_hash(url),
        "title": data.title,
        "comments": data.comments,
        "expires_at": data.expires_at,
        "expired_url": expired_url,
        "max_clicks": data.max_clicks,
        "password_hash": password_hash,
        "archived": bool(data.archived),
        "redirect_status": data.redirect_status or 302,
        "forward_query": True if data.forward_query is None else data.forward_query,
        "external_id": data.external_id,
        "utm_source": data.utm_source or None,
        "utm_medium": data.utm_medium or None,
        "utm_campaign": data.utm_campaign or None,
        "utm_term": data.utm_term or None,
        "utm_content": data.utm_content or None,
        "created_by": principal.user_id,
        "created_at": now,
        "updated_at": now,
        "clicks": 0,
        "last_clicked_at": None,
    }


def draw_key(policy: LinkPolicy) -> str:
    """A random key that is not reserved."""
    while True:
        key = random_key(policy.key_length, policy.key_alphabet)
        if key.casefold() not in policy.all_reserved:
            return key


def created_data(row: Mapping[str, Any], **extra: object) -> dict[str, Any]:
    """What the ``link.created`` audit event of a new link records."""
    return {"domain": row["domain"], "key": row["key"], "url": row["url"], **extra}


async def create_link(
    session: AsyncSession,
    *,
    principal: Principal,
    data: LinkCreate,
    policy: LinkPolicy,
    now: datetime,
) -> Link:
    """Create a link with a custom or random key; every refusal names its reason and field."""
    require(principal, "links:write")
    own = await own_hosts(session, policy)
    url = validate_destination(data.url, max_length=policy.max_url_length, own_hosts=own)
    expired_url = (
        validate_destination(
            data.expired_url, max_length=policy.max_url_length, own_hosts=own, field="expired_url"
        )
        if data.expired_url
        else None
    )
    domain, case_sensitive = await domain_rule(session, principal, policy, data.domain)
    custom = (
        validate_custom_key(
            data.key, max_length=policy.max_key_length, reserved=policy.all_reserved
        )
        if data.key is not None
        else None
    )
    if data.external_id and await _external_id_taken(session, principal.org_id, data.external_id):
        raise Conflict(f"external_id '{data.external_id}' is already used", field="external_id")
    for name in data.tags or ():
        tags_service.tag_key(name)  # refuse a bad tag name before anything is written
    row = link_row(
        principal=principal,
        data=data,
        domain=domain,
        url=url,
        expired_url=expired_url,
        password_hash=await hash_password_async(data.password) if data.password else None,
        now=now,
    )
    for _ in range(1 if custom is not None else RANDOM_KEY_ATTEMPTS):
        key = custom if custom is not None else draw_key(policy)
        row["key"], row["key_lookup"] = key, normalize_key(key, case_sensitive=case_sensitive)
        if await insert_rows(session, [row]):
            break
        # A concurrent request may have taken the external id since the check above.
        if data.external_id and await _external_id_taken(
            session, principal.org_id, data.external_id
        ):
            raise Conflict(f"external_id '{data.external_id}' is already used", field="external_id")
    else:
        if custom is not None:
            raise Conflict(
                f"the key '{custom}' is already taken on {domain}", field="key", code="key_taken"
            )
        raise Conflict(
            "could not find a free random key; raise LINKHOP_KEY_LENGTH",
            field="key",
            code="key_space_exhausted",
        )
    if data.tags:
        await tags_service.attach_tags(
            session, principal=principal, link_tags={row["id"]: data.tags}
        )
    audit_service.record(
        session,
        principal=principal,
        action="link.created",
        target_type="link",
        target_id=row["id"],
        data=created_data(row),
    )
    return Link(**row)


async def get_link(session: AsyncSession, *, principal: Principal, link_id: str) -> Link:
    """One of the org's links (404 for anything else)."""
    require(principal, "links:read")
    link = await session.get(Link, link_id)
    if link is None or link.org_id != principal.org_id:
        raise NotFound("link not found")
    return link


async def get_by_lookup(session: AsyncSession, *, domain: str, key_lookup: str) -> Link | None:
    """The link serving ``domain``/``key_lookup`` (the public redirect lookup: no principal)."""
    stmt = select(Link).where(Link.domain == domain, Link.key_lookup == key_lookup)
    return (await session.execute(stmt)).scalar_one_or_none()


def final_destination(link: Link) -> str:
    """Where the link sends visitors: its URL with its UTM parameters applied."""
    utm = {name: getattr(link, name) for name in UTM_FIELDS}
    return apply_utm(link.url, utm) if any(utm.values()) else link.url


async def links_by_ids(
    session: AsyncSession, *, principal: Principal, link_ids: list[str]
) -> dict[str, Link]:
    """The org's links among ``link_ids``, by id (others are silently absent)."""
    require(principal, "links:read")
    if not link_ids:
        return {}
    stmt = select(Link).where(Link.org_id == principal.org_id, Link.id.in_(link_ids))
    return {link.id: link for link in (await session.execute(stmt)).scalars()}


async def find_link(
    session: AsyncSession,
    *,
    principal: Principal,
    policy: LinkPolicy,
    domain: str | None,
    key: str,
) -> Link:
    """One of the org's links by short domain and key."""
    require(principal, "links:read")
    host, case_sensitive = await domain_rule(session, principal, policy, domain)
    stmt = select(Link).where(
        Link.domain == host,
        Link.key_lookup == normalize_key(key, case_sensitive=case_sensitive),
        Link.org_id == principal.org_id,
    )
    link = (await session.execute(stmt)).scalar_one_or_none()
    if link is None:
        raise NotFound("link not found")
    return link


async def find_by_url(
    session: AsyncSession,
    *,
    principal: Principal,
    policy: LinkPolicy,
    url: str,
    domain: str | None,
) -> Link | None:
    """The org's oldest live link to ``url`` on ``domain`` (index lookup, never a scan)."""
    require(principal, "links:read")
    own = await own_hosts(session, policy)
    clean = validate_destination(url, max_length=policy.max_url_length, own_hosts=own)
    host, _ = await domain_rule(session, principal, policy, domain)
    stmt = (
        select(Link)
        .where(
            Link.org_id == principal.org_id,
            Link.domain == host,
            Link.url_hash == url_hash(clean),
            Link.url == clean,
            Link.archived.is_(False),
        )
        .order_by(Link.created_at, Link.id)
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def update_link(  # noqa: PLR0912 — one branch per optional field of a PATCH
    session: AsyncSession,
    *,
    principal: Principal,
    link_id: str,
    data: LinkUpdate,
    policy: LinkPolicy,
    now: datetime,
) -> tuple[Link, list[Invalidation]]:
    """Change the fields present in ``data``; returns the cache entries to invalidate."""
    require(principal, "links:write")
    link = await get_link(session, principal=principal, link_id=link_id)
    sent = data.model_fields_set
    stale = [Invalidation(link.domain, link.key_lookup)]
    own = await own_hosts(session, policy)
    changes: dict[str, object] = {}
    if "url" in sent:
        if data.url is None:
            raise Invalid("url cannot be removed", field="url")
        link.url = validate_destination(data.url, max_length=policy.max_url_length, own_hosts=own)
        link.url_hash = url_hash(link.url)
        changes["url"] = link.url
    if "expired_url" in sent:
        link.expired_url = (
            validate_destination(
                data.expired_url,
                max_length=policy.max_url_length,
                own_hosts=own,
                field="expired_url",
            )
            if data.expired_url
            else None
        )
    if (
        "external_id" in sent
        and data.external_id
        and await _external_id_taken(session, principal.org_id, data.external_id, except_id=link.id)
    ):
        raise Conflict(f"external_id '{data.external_id}' is already used", field="external_id")
    for name in _PLAIN_FIELDS:
        if name in sent:
            setattr(link, name, getattr(data, name) or None)
            changes[name] = getattr(data, name)
    if "expires_at" in sent:
        link.expires_at = data.expires_at
    if "password" in sent:
        link.password_hash = await hash_password_async(data.password) if data.password else None
        changes["password"] = "set" if data.password else "removed"
    for name, default in (("archived", False), ("redirect_status", 302), ("forward_query", True)):
        if name in sent:
            value = getattr(data, name)
            setattr(link, name, default if value is None else value)
            changes[name] = getattr(link, name)
    if "key" in sent:
        if data.key is None:
            raise Invalid("key cannot be removed", field="key")
        await _change_key(session, principal, policy, link, data.key)
        changes["key"] = link.key
        stale.append(Invalidation(link.domain, link.key_lookup))
    if "tags" in sent:
        await tags_service.set_link_tags(
            session, principal=principal, link_id=link.id, names=data.tags or [], replace=True
        )
        changes["tags"] = data.tags or []
    link.updated_at = now
    await session.flush()
    audit_service.record(
        session,
        principal=principal,
        action="link.updated",
        target_type="link",
        target_id=link.id,
        data=_jsonable(changes),
    )
    return link, stale


def _jsonable(changes: Mapping[str, object]) -> dict[str, object]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in changes.items()}


async def _change_key(
    session: AsyncSession, principal: Principal, policy: LinkPolicy, link: Link, key: str
) -> None:
    _, case_sensitive = await domain_rule(session, principal, policy, link.domain)
    clean = validate_custom_key(key, max_length=policy.max_key_length, reserved=policy.all_reserved)
    lookup = normalize_key(clean, case_sensitive=case_sensitive)
    if lookup != link.key_lookup and await _key_taken(session, link.domain, lookup):
        raise Conflict(
            f"the key '{clean}' is already taken on {link.domain}", field="key", code="key_taken"
        )
    link.key, link.key_lookup = clean, lookup


async def delete_link(session: AsyncSession, *, principal: Principal, link_id: str) -> Invalidation:
    """Delete a link for good (its clicks stay in analytics)."""
    require(principal, "links:write")
    link = await get_link(session, principal=principal, link_id=link_id)
    gone = Invalidation(link.domain, link.key_lookup)
    await session.delete(link)
    await session.flush()
    audit_service.record(
        session,
        principal=principal,
        action="link.deleted",
        target_type="link",
        target_id=link_id,
        data={"domain": link.domain, "key": link.key},
    )
    return gone


@lru_cache(maxsize=1)
def _count_clicks_statement() -> Executable:
    # Both counter columns in one UPDATE per link; the batch runs it as one executemany instead
    # of two ORM statements per link (bench/README.md: a batch touches hundreds of links).
    last = bindparam("b_last", type_=_LINKS.c.last_clicked_at.type)
    column = _LINKS.c.last_clicked_at
    return (
        update(_LINKS)
        .where(_LINKS.c.id == bindparam("b_id"))
        .values(
            clicks=_LINKS.c.clicks + bindparam("b_n"),
            last_clicked_at=case((or_(column.is_(None), column < last), last), else_=column),
        )
    )


async def apply_click_counts(
    session: AsyncSession, *, token: str, counts: Mapping[str, tuple[int, datetime]]
) -> list[Invalidation] | None:
    """Add a click batch to the per-link counters once; False when ``token`` was applied before.

    The token row and the counter updates commit together, so a replayed batch (worker crash
    between insert and ack) never counts twice. Returns the cache entries of links with a click
    limit (their cached counter is now stale), or None when the batch was applied before.
    """
    # A replay comes within minutes of the first attempt; a week of tokens is ample.
    await session.execute(
        delete(ClickCounterBatch).where(ClickCounterBatch.applied_at < utcnow() - LEDGER_KEEP)
    )
    try:
        async with session.begin_nested():
            session.add(ClickCounterBatch(token=token, clicks=sum(n for n, _ in counts.values())))
            await session.flush()
    except IntegrityError:
        return None
    increments = [
        {"b_id": link_id, "b_n": n, "b_last": last}
        for link_id, (n, last) in counts.items()
        if n > 0
    ]
    if increments:  # ONE statement for the batch, executed for every link (executemany)
        await session.execute(_count_clicks_statement(), increments)
    limited = select(Link.domain, Link.key_lookup).where(
        Link.id.in_(list(counts)), Link.max_clicks.is_not(None)
    )
    return [Invalidation(d, k) for d, k in (await session.execute(limited)).all()]
