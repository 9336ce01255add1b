"""HTTP routes for analytics: one query endpoint (Dub-style ``group_by``) and a raw export."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, TypedDict, TypeVar

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from linkhop.analytics import service as analytics_service
from linkhop.analytics.export import FORMATS, UA_PERMISSION, export_filename
from linkhop.analytics.export_stream import stream_chunks
from linkhop.analytics.schemas import (
    AnalyticsQuery,
    DimensionFilters,
    ExportFormat,
    ExportQuery,
    Granularity,
    GroupBy,
    IntervalPreset,
)
from linkhop.clickhouse.client import ClickHouse
from linkhop.deps import NowDep, PrincipalDep, RuntimeDep, SessionDep
from linkhop.errors import Unavailable
from linkhop.links import service as links_service
from linkhop.principal import Principal, require
from linkhop.runtime import Runtime
from linkhop.tags import service as tags_service

router = APIRouter(tags=["analytics"])

LinkIdParam = Annotated[str | None, Query(max_length=64)]
DomainParam = Annotated[str | None, Query(max_length=260)]
TagParam = Annotated[str | None, Query(max_length=50, description="Tag name")]
TimezoneParam = Annotated[str, Query(max_length=64)]
DimensionsParam = Annotated[DimensionFilters, Query()]
# Declared last with this default so the OpenAPI page lists group_by/format and the range first.
NO_DIMENSIONS = DimensionFilters()


class _Scope(TypedDict):
    """The tenancy and link filters every analytics route resolves the same way."""

    org_id: str
    link_id: str | None
    link_ids: list[str] | None
    domain: str | None


async def _scope(
    session: AsyncSession,
    principal: Principal,
    runtime: Runtime,
    *,
    link_id: str | None,
    domain: str | None,
    tag: str | None,
) -> tuple[ClickHouse, _Scope]:
    """Check access, resolve the tag to link ids; the store and the org/link/domain filters."""
    require(principal, "analytics:read")
    if runtime.clickhouse is None:
        raise Unavailable("the analytics store is not configured in this process")
    if link_id is not None:
        await links_service.get_link(session, principal=principal, link_id=link_id)  # 404s
    link_ids: list[str] | None = None
    if tag is not None:
        found = await tags_service.find_by_name(session, principal=principal, name=tag)
        link_ids = await tags_service.link_ids_for_tag(session, tag_id=found.id) if found else []
    scope = _Scope(
        org_id=principal.org_id,
        link_id=link_id,
        link_ids=link_ids,
        domain=domain.strip().lower() if domain else None,
    )
    return runtime.clickhouse, scope


Q = TypeVar("Q", bound=BaseModel)


def _validated(model: type[Q], **fields: Any) -> Q:
    """Build a query model; its validation errors become the API's 422 problem."""
    try:
        return model(**fields)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from exc


@router.get("/analytics", summary="Click analytics")
async def analytics(
    session: SessionDep,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    now: NowDep,
    group_by: GroupBy = "count",
    link_id: LinkIdParam = None,
    domain: DomainParam = None,
    tag: TagParam = None,
    interval: IntervalPreset | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    timezone: TimezoneParam = "UTC",
    granularity: Granularity | None = None,
    include_bots: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    dimensions: DimensionsParam = NO_DIMENSIONS,
) -> Any:
    """Clicks and unique visitors for the org, a link, a domain or a tag.

    `count` → `{"clicks", "visitors"}`; `timeseries` → `[{"start", "clicks", "visitors"}]` with
    empty buckets filled; the dimension groupings → `[{"<dimension>", "clicks", "visitors"}]`
    sorted by clicks (`cities` and `regions` rows also carry their `country`); `top_links` adds
    each link's `key`, `domain`, `short_url` and `url`. The dimension filters (`country`, `city`,
    `utm_source`, …) are equality filters; `referrer=(direct)` selects clicks without one. Bot
    clicks are left out unless `include_bots=true`. Without `interval` or `start`/`end`, all time
    is counted.
    """
    ch, scope = await _scope(session, principal, runtime, link_id=link_id, domain=domain, tag=tag)
    query = _validated(
        AnalyticsQuery,
        **dimensions.model_dump(),
        **scope,
        group_by=group_by,
        interval=interval,
        start=start,
        end=end,
        timezone=timezone,
        granularity=granularity,
        include_bots=include_bots,
        limit=limit,
    )
    result = await analytics_service.run_query(
        ch=ch, database=runtime.settings.clickhouse_database, query=query, now=now
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


@router.get(
    "/analytics/export",
    summary="Export raw click events",
    response_class=StreamingResponse,
    responses={200: {"content": {f.media_type: {} for f in FORMATS.values()}}},
)
async def export(
    session: SessionDep,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    now: NowDep,
    format: ExportFormat = "csv",
    link_id: LinkIdParam = None,
    domain: DomainParam = None,
    tag: TagParam = None,
    interval: IntervalPreset | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    timezone: TimezoneParam = "UTC",
    include_bots: bool = False,
    include_ua: bool = False,
    dimensions: DimensionsParam = NO_DIMENSIONS,
) -> StreamingResponse:
    """Stream the org's raw click events as CSV, JSON lines or Parquet (a file download).

    Same filters as `GET /analytics`. One row per click: `click_id`, `ts` (ISO 8601 UTC; a
    timestamp in Parquet), `link_id`, `domain`, `key`, `url`, `trigger`, the place (`country`,
    `region`, `city`, `continent`), the client (`device`, `browser`, `browser_version`, `os`,
    `os_version`, `bot`, `bot_reason`), `referrer`, `referrer_domain` and `utm_*`. IP addresses
    are never exported; `include_ua=true` adds the user agent and needs the `org:write`
    permission. Rows come in storage order (by link, then time). A failure after the download
    has started breaks the transfer instead of ending the file early.
    """
    ch, scope = await _scope(session, principal, runtime, link_id=link_id, domain=domain, tag=tag)
    if include_ua:
        require(principal, UA_PERMISSION)
    query = _validated(
        ExportQuery,
        **dimensions.model_dump(),
        **scope,
        format=format,
        interval=interval,
        start=start,
        end=end,
        timezone=timezone,
        include_bots=include_bots,
        include_ua=include_ua,
    )
    stream = await analytics_service.start_export(
        ch=ch,
        configured_dsn=runtime.settings.resolved_clickhouse_url,
        database=runtime.settings.clickhouse_database,
        query=query,
        now=now,
    )
    analytics_service.audit_export(session, principal=principal, query=query)
    filename = export_filename(format, now)
    return StreamingResponse(
        stream_chunks(stream, context={"org_id": principal.org_id, "format": format}),
        media_type=FORMATS[format].media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
