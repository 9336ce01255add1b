"""Links: create, read, update, archive, delete, find-or-create, and click counters."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from linkhop.audit import service as audit_service
from linkhop.auth.passwords import hash_password_async
from linkhop.db.base import utcnow
from linkhop.domains import service as domains_service
from linkhop.errors import Conflict, Invalid, NotFound
from linkhop.ids import new_link_id
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


async def _own_hosts(session: AsyncSession, policy: LinkPolicy) -> frozenset[str]:
    return policy.own_hosts | await domains_service.all_hostnames(session)


async def _domain_rule(
    session: AsyncSession, principal: Principal, policy: LinkPolicy, domain: str | None
) -> tuple[str, bool]:
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


async def _insert(session: AsyncSession, link: Link) -> bool:
    """Insert inside a SAVEPOINT; False when the (domain, key) unique index refused it."""
    try:
        async with session.begin_nested():
            session.add(link)
            await session.flush()
    except IntegrityError:
        return False
    return True


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
    own = await _own_hosts(session, policy)
    url = validate_destination(data.url, max_length=policy.max_url_length, own_hosts=own)
    expired_url = (
        validate_destination(data.expired_url, max_length=policy.max_url_length, own_hosts=own)
        if data.expired_url
        else None
    )
    domain, case_sensitive = await _domain_rule(session, principal, policy, data.domain)
    if data.external_id and await _external_id_taken(session, principal.org_id, data.external_id):
        raise Conflict(f"external_id '{data.external_id}' is already used", field="external_id")
    if data.tags:
        await tags_service.ensure_tags(session, principal=principal, names=data.tags)
    link = Link(
        id=new_link_id(),
        org_id=principal.org_id,
        domain=domain,
        url=url,
        url_hash=url_hash(url),
        title=data.title,
        comments=data.comments,
        expires_at=data.expires_at,
        expired_url=expired_url,
        max_clicks=data.max_clicks,
        password_hash=await hash_password_async(data.password) if data.password else None,
        archived=bool(data.archived),
        redirect_status=data.redirect_status or 302,
        forward_query=True if data.forward_query is None else data.forward_query,
        external_id=data.external_id,
        created_by=principal.user_id,
        created_at=now,
        updated_at=now,
        clicks=0,
        **{f: getattr(data, f) or None for f in UTM_FIELDS},
    )
    if data.key is not None:
        key = validate_custom_key(
            data.key, max_length=policy.max_key_length, reserved=policy.all_reserved
        )
        link.key, link.key_lookup = key, normalize_key(key, case_sensitive=case_sensitive)
        if await _key_taken(session, domain, link.key_lookup) or not await _insert(session, link):
            raise Conflict(
                f"the key '{key}' is already taken on {domain}", field="key", code="key_taken"
            )
    else:
        for _ in range(RANDOM_KEY_ATTEMPTS):
            key = random_key(policy.key_length, policy.key_alphabet)
            if key.casefold() in policy.all_reserved:
                continue
            link.key, link.key_lookup = key, normalize_key(key, case_sensitive=case_sensitive)
            if await _insert(session, link):
                break
        else:
            raise Conflict(
                "could not find a free random key; raise LINKHOP_KEY_LENGTH",
                field="key",
                code="key_space_exhausted",
            )
    if data.tags:
        await tags_service.set_link_tags(
            session, principal=principal, link_id=link.id, names=data.tags, replace=False
        )
    audit_service.record(
        session,
        principal=principal,
        action="link.created",
        target_type="link",
        target_id=link.id,
        data={"domain": domain, "key": link.key, "url": url},
    )
    return link


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
    host, case_sensitive = await _domain_rule(session, principal, policy, domain)
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
    own = await _own_hosts(session, policy)
    clean = validate_destination(url, max_length=policy.max_url_length, own_hosts=own)
    host, _ = await _domain_rule(session, principal, policy, domain)
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
    own = await _own_hosts(session, policy)
    changes: dict[str, object] = {}
    if "url" in sent:
        if data.url is None:
            raise Invalid("url cannot be removed", field="url")
        link.url = validate_destination(data.url, max_length=policy.max_url_length, own_hosts=own)
        link.url_hash = url_hash(link.url)
        changes["url"] = link.url
    if "expired_url" in sent:
        link.expired_url = (
            validate_destination(data.expired_url, max_length=policy.max_url_length, own_hosts=own)
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
    _, case_sensitive = await _domain_rule(session, principal, policy, link.domain)
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
    for link_id, (n, last) in counts.items():
        if n <= 0:
            continue
        await session.execute(update(Link).where(Link.id == link_id).values(clicks=Link.clicks + n))
        await session.execute(
            update(Link)
            .where(Link.id == link_id)
            .where((Link.last_clicked_at.is_(None)) | (Link.last_clicked_at < last))
            .values(last_clicked_at=last)
        )
    limited = select(Link.domain, Link.key_lookup).where(
        Link.id.in_(list(counts)), Link.max_clicks.is_not(None)
    )
    return [Invalidation(d, k) for d, k in (await session.execute(limited)).all()]
