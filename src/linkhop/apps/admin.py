"""Admin commands behind the CLI. Each runs in one transaction it owns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linkhop.api_keys import service as api_keys_service
from linkhop.apps.bootstrap import build_runtime, prepare_database
from linkhop.auth import service as auth_service
from linkhop.db import migrate as db_migrate
from linkhop.db.engine import unit_of_work
from linkhop.errors import Invalid, NotFound
from linkhop.ids import OrgId, UserId
from linkhop.links import bulk, imports, listing
from linkhop.links import service as links_service
from linkhop.links.schemas import LinkCreate
from linkhop.orgs import service as orgs_service
from linkhop.orgs.models import Membership, Org
from linkhop.principal import Principal
from linkhop.runtime import Runtime
from linkhop.settings import Settings


async def _runtime(settings: Settings) -> Runtime:
    runtime = build_runtime(settings)
    await prepare_database(runtime, apply_migrations=settings.auto_migrate)
    return runtime


async def migrate_all(settings: Settings, *, revision: str, down: bool) -> None:
    """Migrate the transactional store and the analytics store."""
    runtime = build_runtime(settings)
    try:
        if down:
            await db_migrate.downgrade(runtime.engine, revision)
        else:
            await db_migrate.upgrade(runtime.engine, revision)
        print(f"database at revision {await db_migrate.current_revision(runtime.engine)}")
        if not down:
            from linkhop.apps.analytics_store import open_analytics  # noqa: PLC0415

            store = await open_analytics(settings)
            print(f"analytics store at version {store.version}")
            store.close()
    finally:
        await runtime.engine.dispose()


async def create_user(
    settings: Settings,
    *,
    email: str,
    password: str,
    org: str | None,
    role: str,
    name: str | None,
) -> tuple[str, str | None, bool]:
    """Create a user; join or create ``org``. Returns (user id, org id, org created)."""
    runtime = await _runtime(settings)
    try:
        async with unit_of_work(runtime.sessionmaker) as session:
            user = await auth_service.create_user(
                session, email=email, password=password, name=name
            )
            if org is None:
                return user.id, None, False
            existing = await orgs_service.get_org_by_name(session, name=org)
            if existing is None:
                created = await orgs_service.create_org(session, name=org, owner_id=UserId(user.id))
                return user.id, created.id, True
            await orgs_service.add_member(
                session, org_id=OrgId(existing.id), user_id=UserId(user.id), role=role
            )
            return user.id, existing.id, False
    finally:
        await runtime.engine.dispose()


async def create_key(
    settings: Settings,
    *,
    email: str,
    org: str,
    scopes: list[str],
    name: str,
    expires_in_days: int | None,
) -> tuple[str, str]:
    """Create an API key for a user in an org. Returns (record id, key)."""
    runtime = await _runtime(settings)
    try:
        async with unit_of_work(runtime.sessionmaker) as session:
            user = await auth_service.get_user_by_email(session, email=email)
            if user is None:
                raise NotFound(f"no user with email {email}")
            found = await orgs_service.get_org_by_name(session, name=org)
            if found is None:
                raise NotFound(f"no organisation named '{org}'")
            try:
                principal = await orgs_service.principal_for(
                    session, user_id=UserId(user.id), org_id=found.id
                )
            except NotFound as exc:
                raise NotFound(f"{email} is not a member of '{org}'") from exc
            row, key = await api_keys_service.create_key(
                session,
                principal=principal,
                name=name,
                scopes=scopes,
                expires_in_days=expires_in_days,
                env=settings.api_key_env,
                now=datetime.now(UTC),
            )
            return row.id, key
    finally:
        await runtime.engine.dispose()


async def _owner_principal(runtime: Runtime, org: str | None) -> Principal:
    """Act as the org's first owner (the CLI has the database: it is an admin path)."""
    async with unit_of_work(runtime.sessionmaker) as session:
        if org is None:
            orgs = list((await session.execute(select(Org).limit(2))).scalars())
            if not orgs:
                raise NotFound("no organisation exists yet: run `linkhop users create --org …`")
            if len(orgs) > 1:
                raise Invalid("several organisations exist: pass --org NAME", field="org")
            found: Org | None = orgs[0]
        else:
            found = await orgs_service.get_org_by_name(session, name=org)
        if found is None:
            raise NotFound(f"no organisation named '{org}'")
        owner = (
            await session.execute(
                select(Membership)
                .where(Membership.org_id == found.id, Membership.role == "owner")
                .order_by(Membership.created_at)
                .limit(1)
            )
        ).scalar_one()
        return await orgs_service.principal_for(
            session, user_id=UserId(owner.user_id), org_id=found.id
        )


async def create_link(
    settings: Settings, *, url: str, key: str | None, org: str | None, title: str | None
) -> str:
    """Create a link; returns its short URL."""
    runtime = await _runtime(settings)
    try:
        principal = await _owner_principal(runtime, org)
        async with unit_of_work(runtime.sessionmaker) as session:
            link = await links_service.create_link(
                session,
                principal=principal,
                data=LinkCreate(url=url, key=key, title=title),
                policy=runtime.policy,
                now=datetime.now(UTC),
            )
            return runtime.short_url(link.domain, link.key)
    finally:
        await runtime.engine.dispose()


async def list_links(
    settings: Settings, *, org: str | None, q: str | None, limit: int
) -> list[tuple[str, str, int, datetime]]:
    """The newest links as (short url, destination, clicks, created)."""
    runtime = await _runtime(settings)
    try:
        principal = await _owner_principal(runtime, org)
        async with unit_of_work(runtime.sessionmaker) as session:
            links, _ = await listing.list_links(
                session, principal=principal, q=q, limit=limit, archived=None
            )
            return [
                (runtime.short_url(x.domain, x.key), x.url, x.clicks, x.created_at) for x in links
            ]
    finally:
        await runtime.engine.dispose()


@dataclass(frozen=True)
class ImportResult:
    """Links created from a file as (line, short URL, destination); refused rows as (line, why)."""

    created: list[tuple[int, str, str]]
    refused: list[tuple[int, str]]


async def import_links(
    settings: Settings, *, text: str, org: str | None, all_or_nothing: bool
) -> ImportResult:
    """Create the links of a CSV document through the bulk service, 1000 rows per transaction.

    With ``all_or_nothing`` every row shares one transaction and any refusal creates nothing.
    """
    rows = list(imports.csv_rows(text))
    runtime = await _runtime(settings)
    created: list[tuple[int, str, str]] = []
    refused: list[tuple[int, str]] = []
    chunks = [rows[i : i + bulk.MAX_LINKS] for i in range(0, len(rows), bulk.MAX_LINKS)]
    try:
        principal = await _owner_principal(runtime, org)

        async def create(session: AsyncSession, chunk: list[tuple[int, dict[str, Any]]]) -> None:
            lines = [line for line, _ in chunk]
            try:
                outcome = await bulk.create_links(
                    session,
                    principal=principal,
                    items=[body for _, body in chunk],
                    policy=runtime.policy,
                    now=datetime.now(UTC),
                    all_or_nothing=all_or_nothing,
                )
            except bulk.BulkRejected as exc:
                refused.extend((lines[f.index], _why(f)) for f in exc.failed)
                raise
            for done in outcome.created:
                row = done.row
                short = runtime.short_url(row["domain"], row["key"])
                created.append((lines[done.index], short, row["url"]))
            refused.extend((lines[f.index], _why(f)) for f in outcome.failed)

        if all_or_nothing:
            try:
                async with unit_of_work(runtime.sessionmaker) as session:
                    for chunk in chunks:
                        await create(session, chunk)
            except bulk.BulkRejected:
                created.clear()  # rolled back
        else:
            for chunk in chunks:
                async with unit_of_work(runtime.sessionmaker) as session:
                    await create(session, chunk)
    finally:
        await runtime.engine.dispose()
    return ImportResult(created=created, refused=sorted(refused))


def _why(failure: bulk.ItemError) -> str:
    error = failure.error
    return f"{error.code}: {error.detail}"
