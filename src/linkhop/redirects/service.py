"""Loading what the redirect path needs from the transactional store (the cache-miss path)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from linkhop.domains import service as domains_service
from linkhop.links import service as links_service
from linkhop.redirects.decision import LinkRecord


@dataclass(frozen=True, slots=True)
class DomainRule:
    """How keys on one short domain are matched."""

    domain: str
    case_sensitive: bool


async def load_link(
    sessionmaker: async_sessionmaker[AsyncSession], domain: str, key_lookup: str
) -> LinkRecord | None:
    """The cacheable record of a link, with its UTM parameters applied to the destination."""
    async with sessionmaker() as session:
        link = await links_service.get_by_lookup(session, domain=domain, key_lookup=key_lookup)
    if link is None:
        return None
    url = links_service.final_destination(link)
    return LinkRecord(
        id=link.id,
        org_id=link.org_id,
        domain=link.domain,
        key=link.key,
        url=url,
        expires_at=link.expires_at,
        expired_url=link.expired_url,
        max_clicks=link.max_clicks,
        clicks=link.clicks,
        password_hash=link.password_hash,
        archived=link.archived,
        redirect_status=link.redirect_status,
        forward_query=link.forward_query,
        title=link.title,
        created_at=link.created_at,
    )


async def load_domain(
    sessionmaker: async_sessionmaker[AsyncSession], hostname: str
) -> DomainRule | None:
    """The key rule of a branded domain, or None when we do not serve ``hostname``."""
    async with sessionmaker() as session:
        found = await domains_service.domain_for_host(session, hostname=hostname)
    return None if found is None else DomainRule(found.hostname, found.case_sensitive)
