"""HTTP route for analytics: one endpoint, Dub-style ``group_by``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from linkhop.analytics import service as analytics_service
from linkhop.analytics.schemas import AnalyticsQuery, Granularity, GroupBy, IntervalPreset
from linkhop.deps import NowDep, PrincipalDep, RuntimeDep, SessionDep
from linkhop.errors import Unavailable
from linkhop.links import service as links_service
from linkhop.principal import require
from linkhop.tags import service as tags_service

router = APIRouter(tags=["analytics"])


@router.get("/analytics", summary="Click analytics")
async def analytics(
    session: SessionDep,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    now: NowDep,
    group_by: GroupBy = "count",
    link_id: Annotated[str | None, Query(max_length=64)] = None,
    domain: Annotated[str | None, Query(max_length=260)] = None,
    tag: Annotated[str | None, Query(max_length=50, description="Tag name")] = None,
    interval: IntervalPreset | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    timezone: Annotated[str, Query(max_length=64)] = "UTC",
    granularity: Granularity | None = None,
    include_bots: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    """Clicks for the org, a link, a domain or a tag.

    `count` → `{"clicks", "visitors"}`; `timeseries` → `[{"start", "clicks"}]` with empty buckets
    filled; the dimension groupings → `[{"<dimension>", "clicks"}]` sorted by clicks;
    `top_links` adds each link's `key`, `domain`, `short_url` and `url`. Bot clicks are left out
    unless `include_bots=true`. Without `interval` or `start`/`end`, all time is counted.
    """
    require(principal, "analytics:read")
    if runtime.clickhouse is None:
        raise Unavailable("the analytics store is not configured in this process")
    if link_id is not None:
        await links_service.get_link(session, principal=principal, link_id=link_id)
    link_ids: list[str] | None = None
    if tag is not None:
        found = await tags_service.find_by_name(session, principal=principal, name=tag)
        link_ids = await tags_service.link_ids_for_tag(session, tag_id=found.id) if found else []
    try:
        query = AnalyticsQuery(
            group_by=group_by,
            org_id=principal.org_id,
            link_id=link_id,
            link_ids=link_ids,
            domain=domain.strip().lower() if domain else None,
            interval=interval,
            start=start,
            end=end,
            timezone=timezone,
            granularity=granularity,
            include_bots=include_bots,
            limit=limit,
        )
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from exc
    result = await analytics_service.run_query(
        ch=runtime.clickhouse, database=runtime.settings.clickhouse_database, query=query, now=now
    )
    if group_by == "top_links" and isinstance(result, list):
        links = await links_service.links_by_ids(
            session, principal=principal, link_ids=[str(r["link_id"]) for r in result]
        )
        for row in result:
            link = links.get(str(row["link_id"]))
            row.update(
                key=link.key if link else None,
                domain=link.domain if link else None,
                short_url=runtime.short_url(link.domain, link.key) if link else None,
                url=link.url if link else None,
            )
    return result
