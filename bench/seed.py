"""Benchmark data made through linkhop's own code, before any server starts.

- ``create_links``: ``links.service.create_link`` (the code path of ``POST /api/v1/links`` minus
  HTTP). Used for the few special links (password, expired) whose rows must be exactly what the
  product writes.
- ``bulk_links``: thousands of plain links as multi-row INSERTs, each row built with the same
  helpers the service uses (ids, random keys, key normalisation, URL hash). The service path
  costs ~5 ms a link here (measured: 2000 links in 10-12 s under load, any chunk size), so
  100 k links through it would take ~8 minutes per database; the bulk path takes seconds.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from linkhop.apps import admin
from linkhop.apps.bootstrap import build_runtime, prepare_database
from linkhop.db.engine import unit_of_work
from linkhop.ids import UserId, new_link_id
from linkhop.links import service as links_service
from linkhop.links.codes import random_key
from linkhop.links.keys import normalize_key
from linkhop.links.models import Link
from linkhop.links.schemas import LinkCreate
from linkhop.orgs import service as orgs_service
from linkhop.settings import Settings

EMAIL = "bench@example.com"
ORG = "Bench"
PASSWORD = "bench-password-1"
LINK_PASSWORD = "open sesame"
SCOPES = ["links:read", "links:write", "analytics:read"]
_PATHS = ("pricing", "blog/launch", "docs/start", "careers", "p/shoes", "summer-sale", "q?a=1")


@dataclass(frozen=True)
class Account:
    """The bench user, its org and an API key acting for it."""

    email: str
    user_id: str
    org_id: str
    api_key: str


@dataclass(frozen=True)
class SeededLink:
    """What the load generators need to know about a link."""

    id: str
    key: str
    url: str


def bench_settings(
    data_dir: Path, *, port: int, database_url: str | None = None, domain: str | None = None
) -> Settings:
    """Settings matching what ``procs.linkhop_env`` gives the server on ``port``."""
    return Settings(
        data_dir=data_dir,
        port=port,
        default_domain=domain or f"127.0.0.1:{port}",
        database_url=database_url,
        log_level="warning",
    )


async def create_account(settings: Settings) -> Account:
    """Create the bench user with its own org, and a read/write API key."""
    user_id, org_id, _ = await admin.create_user(
        settings, email=EMAIL, password=PASSWORD, org=ORG, role="owner", name="Bench"
    )
    assert org_id is not None
    _, key = await admin.create_key(
        settings, email=EMAIL, org=ORG, scopes=SCOPES, name="bench", expires_in_days=None
    )
    return Account(EMAIL, user_id, org_id, key)


def destination(rng: random.Random, n: int) -> str:
    """A plausible destination URL (distinct per ``n``)."""
    return f"https://www.example-shop{n % 97}.com/{rng.choice(_PATHS)}/{n}"


def plain_links(count: int, *, seed: int = 1) -> list[LinkCreate]:
    """``count`` links with random keys, like most API traffic."""
    rng = random.Random(seed)
    return [LinkCreate(url=destination(rng, n)) for n in range(count)]


def password_links(count: int) -> list[LinkCreate]:
    """Password-protected links (each password is hashed with argon2: keep ``count`` small)."""
    rng = random.Random(2)
    return [
        LinkCreate(url=destination(rng, n), password=LINK_PASSWORD, title="locked")
        for n in range(count)
    ]


def expired_links(count: int, *, now: datetime) -> list[LinkCreate]:
    """Expired links: half send visitors to an ``expired_url`` (302), half answer 410."""
    rng = random.Random(3)
    past = now - timedelta(days=1)
    return [
        LinkCreate(
            url=destination(rng, n),
            expires_at=past,
            expired_url="https://www.example.com/this-offer-ended" if n % 2 else None,
        )
        for n in range(count)
    ]


async def create_links(
    settings: Settings, *, account: Account, specs: Sequence[LinkCreate], chunk: int = 1000
) -> list[SeededLink]:
    """Create ``specs`` through the links service, ``chunk`` per transaction."""
    runtime = build_runtime(settings)
    out: list[SeededLink] = []
    try:
        await prepare_database(runtime, apply_migrations=True)
        async with unit_of_work(runtime.sessionmaker) as session:
            principal = await orgs_service.principal_for(
                session, user_id=UserId(account.user_id), org_id=account.org_id
            )
        for start in range(0, len(specs), chunk):
            async with unit_of_work(runtime.sessionmaker) as session:
                for data in specs[start : start + chunk]:
                    link = await links_service.create_link(
                        session,
                        principal=principal,
                        data=data,
                        policy=runtime.policy,
                        now=datetime.now(UTC),
                    )
                    out.append(SeededLink(link.id, link.key, link.url))
    finally:
        await runtime.engine.dispose()
    return out


async def bulk_links(
    settings: Settings, *, account: Account, count: int, seed: int = 7, chunk: int = 2000
) -> list[SeededLink]:
    """Insert ``count`` plain links with unique random keys, newest last, varied click counts."""
    runtime = build_runtime(settings)
    policy = runtime.policy
    rng = random.Random(seed)
    now = datetime.now(UTC)
    reserved = policy.all_reserved
    keys: set[str] = set()
    rows: list[dict[str, Any]] = []
    while len(rows) < count:
        key = random_key(policy.key_length, policy.key_alphabet, rng)
        lookup = normalize_key(key, case_sensitive=policy.default_case_sensitive)
        if lookup in keys or key.casefold() in reserved:
            continue
        keys.add(lookup)
        url = destination(rng, len(rows))
        created = now - timedelta(seconds=count - len(rows))
        rows.append(
            {
                "id": new_link_id(),
                "org_id": account.org_id,
                "domain": policy.default_domain,
                "key": key,
                "key_lookup": lookup,
                "url": url,
                "url_hash": links_service.url_hash(url),
                "title": f"Campaign page {len(rows)}",
                "archived": False,
                "redirect_status": 302,
                "forward_query": True,
                "created_by": account.user_id,
                "created_at": created,
                "updated_at": created,
                "clicks": int(rng.paretovariate(1.2)) - 1,
            }
        )
    try:
        await prepare_database(runtime, apply_migrations=True)
        for start in range(0, count, chunk):
            async with unit_of_work(runtime.sessionmaker) as session:
                await session.execute(insert(Link), rows[start : start + chunk])
    finally:
        await runtime.engine.dispose()
    return [SeededLink(r["id"], r["key"], r["url"]) for r in rows]


async def analyze(settings: Settings) -> None:
    """Refresh the planner statistics of the seeded database (``ANALYZE``)."""
    runtime = build_runtime(settings)
    try:
        async with runtime.engine.connect() as conn:
            await conn.execute(text("ANALYZE"))
            await conn.commit()
    finally:
        await runtime.engine.dispose()
