"""Short domains: lookups the link and redirect paths need (management comes with branded
domains)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linkhop.domains.models import Domain
from linkhop.principal import Principal


async def all_hostnames(session: AsyncSession) -> frozenset[str]:
    """Every branded hostname we serve (destinations may not point at them: loops)."""
    return frozenset((await session.execute(select(Domain.hostname))).scalars())


async def find_org_domain(
    session: AsyncSession, *, principal: Principal, hostname: str
) -> Domain | None:
    """The org's domain with this hostname, if it has one."""
    stmt = select(Domain).where(
        Domain.hostname == hostname.strip().lower(), Domain.org_id == principal.org_id
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def domain_for_host(session: AsyncSession, *, hostname: str) -> Domain | None:
    """The branded domain a request's Host names, if any (redirect path)."""
    stmt = select(Domain).where(Domain.hostname == hostname)
    return (await session.execute(stmt)).scalar_one_or_none()
