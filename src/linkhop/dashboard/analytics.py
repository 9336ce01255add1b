"""Pages: click analytics for the organisation (``/app/analytics``) and for one link
(``/app/links/{link_id}/analytics``).

The numbers come from ``linkhop.analytics.service.run_query`` with the same query models, the same
permission (``analytics:read``) and the same tenancy filters as ``GET /api/v1/analytics``, so the
page shows what the API returns for the same filters. The tables are always rendered (they are
the page without JavaScript); ``static/js/charts.js`` draws the timeseries from the JSON in the
chart's ``data-series`` attribute (no inline script: the CSP forbids it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, available_timezones

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from linkhop.analytics import router as analytics_router
from linkhop.analytics import service as analytics_service
from linkhop.analytics.schemas import DIRECT, AnalyticsQuery, GroupBy, IntervalPreset
from linkhop.dashboard.deps import SignedIn, SignedInDep, zone_named
from linkhop.dashboard.forms import field_errors, sentence
from linkhop.dashboard.rendering import PREFIX, render
from linkhop.deps import NowDep, RuntimeDep, SessionDep
from linkhop.errors import Invalid, Unavailable
from linkhop.links import service as links_service
from linkhop.links.models import Link
from linkhop.principal import require
from linkhop.runtime import Runtime

router = APIRouter()

PERMISSION = "analytics:read"
# The dashboard's own export route (below), so that the export acts in the org the page is in
# (the API's /api/v1/analytics/export takes the org from a header a download link cannot send).
EXPORT_URL = f"{PREFIX}/analytics/export"
INTERVALS: tuple[tuple[str, str], ...] = (
    ("24h", "24 hours"),
    ("7d", "7 days"),
    ("30d", "30 days"),
    ("90d", "90 days"),
    ("1y", "12 months"),
    ("custom", "Custom"),
)
PRESETS = frozenset(value for value, _ in INTERVALS if value != "custom")
DEFAULT_INTERVAL = "7d"
TABLE_ROWS = 10
# Custom ranges stay where click timestamps can be (and where date arithmetic cannot overflow).
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(2199, 12, 31)
# Time-zone names are ≤ 32 characters in the tz database; dates are YYYY-MM-DD.
_SHORT = Query(max_length=64)


@dataclass(frozen=True, slots=True)
class Breakdown:
    """One table of the page: an API ``group_by``, the row key it returns, and its labels."""

    group_by: GroupBy
    key: str
    title: str
    column: str


BREAKDOWNS: tuple[Breakdown, ...] = (
    Breakdown("countries", "country", "Countries", "Country"),
    Breakdown("devices", "device", "Devices", "Device"),
    Breakdown("browsers", "browser", "Browsers", "Browser"),
    Breakdown("os", "os", "Operating systems", "OS"),
    Breakdown("referrer_domains", "referrer_domain", "Referrer domains", "Domain"),
    Breakdown("referrers", "referrer", "Referrers", "Referrer"),
    Breakdown("triggers", "trigger", "Link clicks and QR scans", "Opened by"),
)
TRIGGER_LABELS = {"link": "Link click", "qr": "QR code scan", "api": "API"}
# Seconds between two bucket starts → the unit the chart's axis names (days and months vary in
# length with DST and the calendar, hence ranges).
_UNITS: tuple[tuple[int, str], ...] = ((60, "minute"), (3600, "hour"), (90_000, "day"))
TIME_FORMATS = {
    "minute": "%b %d, %H:%M",
    "hour": "%b %d, %H:%M",
    "day": "%a %b %d, %Y",
    "month": "%B %Y",
}


@cache
def zone_choices() -> tuple[str, ...]:
    """The time zones the picker offers: UTC, then the tz database's Area/Location names."""
    names = {
        name
        for name in available_timezones()
        if "/" in name and not name.startswith(("Etc/", "SystemV/", "US/", "posix/", "right/"))
    }
    return ("UTC", *sorted(names))


@dataclass
class Filters:
    """The page's filters as the form shows them, and what they mean as API parameters."""

    interval: str = DEFAULT_INTERVAL
    start: str = ""
    end: str = ""
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    tz_auto: bool = True
    bots: bool = False
    errors: dict[str, str] = field(default_factory=dict)
    # The resolved custom range: [local midnight of start, local midnight after end).
    start_at: datetime | None = None
    end_at: datetime | None = None

    def range_fields(self) -> dict[str, Any]:
        """The time-range fields of an ``AnalyticsQuery``."""
        if self.interval == "custom":
            return {"start": self.start_at, "end": self.end_at}
        return {"interval": self.interval}

    def api_params(self) -> dict[str, str]:
        """The same filters as query parameters of ``GET /api/v1/analytics`` (and its export)."""
        params: dict[str, str] = {}
        if self.interval == "custom":
            assert self.start_at is not None
            assert self.end_at is not None
            params.update(start=self.start_at.isoformat(), end=self.end_at.isoformat())
        else:
            params["interval"] = self.interval
        params["timezone"] = self.tz.key
        if self.bots:
            params["include_bots"] = "true"
        return params

    def page_params(self) -> dict[str, str]:
        """The filters as this page's own query string (for links that keep them)."""
        params = {"interval": self.interval, "tz": self.tz.key}
        if self.interval == "custom":
            params.update(start=self.start, end=self.end)
        if self.bots:
            params["bots"] = "1"
        return params

    @property
    def description(self) -> str:
        """The period in words, for headings and the chart's accessible name."""
        if self.interval == "custom":
            return f"{self.start} to {self.end}"
        return "Last " + dict(INTERVALS)[self.interval]


def _parse_date(raw: str, name: str, errors: dict[str, str]) -> date | None:
    try:
        day = date.fromisoformat(raw.strip())
    except ValueError:
        errors[name] = "Enter a date as YYYY-MM-DD, for example 2030-01-31."
        return None
    if not FIRST_DAY <= day <= LAST_DAY:
        errors[name] = f"Choose a day from {FIRST_DAY} to {LAST_DAY}."
        return None
    return day


def parse_filters(
    *, me: SignedIn, now: datetime, interval: str, start: str, end: str, tz: str, bots: str
) -> Filters:
    """The filters of a request; problems are messages by field (``errors``), never a 500."""
    chosen = zone_named(tz) if tz else None
    filters = Filters(
        interval=interval or DEFAULT_INTERVAL,
        start=start.strip(),
        end=end.strip(),
        tz=chosen or me.tz,
        tz_auto=not tz,
        bots=bots not in ("", "0", "off", "false"),
    )
    if tz and chosen is None:
        filters.errors["tz"] = f"Unknown time zone '{tz[:40]}': pick one from the list."
    if filters.interval not in PRESETS and filters.interval != "custom":
        filters.errors["interval"] = (
            "Choose 24 hours, 7, 30 or 90 days, 12 months, or a custom range."
        )
        filters.interval = DEFAULT_INTERVAL
    if filters.interval != "custom":
        return filters
    today = now.astimezone(filters.tz).date()
    if not filters.start:
        filters.errors["start"] = "Choose the first day of the range."
        return filters
    first = _parse_date(filters.start, "start", filters.errors)
    last = _parse_date(filters.end, "end", filters.errors) if filters.end else today
    if first is None or last is None:
        return filters
    if last < first:
        filters.errors["end"] = "The last day must not be before the first day."
        return filters
    filters.end = last.isoformat()
    filters.start_at = datetime.combine(first, time(0), tzinfo=filters.tz)
    filters.end_at = datetime.combine(last + timedelta(days=1), time(0), tzinfo=filters.tz)
    return filters


def _unit(starts: list[int]) -> str:
    """The bucket size of a timeseries, read from the distance between its buckets."""
    if len(starts) < 2:
        return "day"
    step = starts[1] - starts[0]
    for most, unit in _UNITS:
        if step <= most:
            return unit
    return "month"


def chart_data(
    series: list[dict[str, Any]], tz: ZoneInfo
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The timeseries in uPlot's columnar shape (``x``: Unix seconds of each bucket start), with
    the zone and bucket unit for the axes; and the same points as rows for the table."""
    starts = [int(datetime.fromisoformat(str(p["start"])).timestamp()) for p in series]
    unit = _unit(starts)
    points = [
        {
            "start": str(p["start"]),
            "label": datetime.fromtimestamp(x, UTC).astimezone(tz).strftime(TIME_FORMATS[unit]),
            "clicks": int(p["clicks"]),
            "visitors": int(p["visitors"]),
        }
        for x, p in zip(starts, series, strict=True)
    ]
    return {
        "zone": tz.key,
        "unit": unit,
        "x": starts,
        "clicks": [p["clicks"] for p in points],
        "visitors": [p["visitors"] for p in points],
    }, points


def row_label(breakdown: Breakdown, value: str) -> str:
    """How a breakdown value reads in the table ('' is unknown, (direct) has no referrer)."""
    if breakdown.group_by == "triggers":
        return TRIGGER_LABELS.get(value, value or "Unknown")
    if value == DIRECT:
        return "Direct (no referrer)"
    return value or "Unknown"


@dataclass
class Report:
    """Everything the page shows (all of it from ``run_query``)."""

    totals: dict[str, int]
    chart: dict[str, Any]
    points: list[dict[str, Any]]
    tables: list[tuple[Breakdown, list[dict[str, Any]]]]
    top_links: list[dict[str, Any]] | None
    qr_scans: int


async def build_report(
    session: AsyncSession,
    *,
    me: SignedIn,
    runtime: Runtime,
    now: datetime,
    filters: Filters,
    link: Link | None,
) -> Report:
    """Run the page's queries through the analytics service (Unavailable when the store is)."""
    require(me.principal, PERMISSION)
    ch = runtime.clickhouse
    if ch is None:
        raise Unavailable("the analytics store is not configured in this process")
    base: dict[str, Any] = {
        "org_id": me.principal.org_id,
        "link_id": link.id if link else None,
        "timezone": filters.tz.key,
        "include_bots": filters.bots,
        **filters.range_fields(),
    }
    database = runtime.settings.clickhouse_database

    async def run(group_by: GroupBy, **extra: Any) -> Any:
        query = AnalyticsQuery(**base, group_by=group_by, **extra)
        return await analytics_service.run_query(ch=ch, database=database, query=query, now=now)

    totals = await run("count")
    chart, points = chart_data(await run("timeseries"), filters.tz)
    tables = [(b, list(await run(b.group_by, limit=TABLE_ROWS))) for b in BREAKDOWNS]
    for breakdown, rows in tables:
        for row in rows:
            row["label"] = row_label(breakdown, str(row[breakdown.key]))
    triggers = next(rows for b, rows in tables if b.group_by == "triggers")
    qr_scans = sum(int(r["clicks"]) for r in triggers if r["trigger"] == "qr")
    top_links = None
    if link is None:
        top_links = list(await run("top_links", limit=TABLE_ROWS))
        found = await links_service.links_by_ids(
            session, principal=me.principal, link_ids=[str(r["link_id"]) for r in top_links]
        )
        for row in top_links:
            known = found.get(str(row["link_id"]))
            row["link"] = known
            row["short_url"] = runtime.short_url(known.domain, known.key) if known else None
    return Report(
        totals={"clicks": int(totals["clicks"]), "visitors": int(totals["visitors"])},
        chart=chart,
        points=points,
        tables=tables,
        top_links=top_links,
        qr_scans=qr_scans,
    )


def _export_url(filters: Filters, link: Link | None) -> str | None:
    if filters.errors:
        return None
    params = {"format": "csv", **filters.api_params()}
    if link is not None:
        params["link_id"] = link.id
    return f"{EXPORT_URL}?{urlencode(params)}"


async def _page(
    request: Request,
    *,
    session: AsyncSession,
    runtime: Runtime,
    me: SignedIn,
    now: datetime,
    link: Link | None,
    interval: str,
    start: str,
    end: str,
    tz: str,
    bots: str,
) -> Response:
    require(me.principal, PERMISSION)
    filters = parse_filters(
        me=me, now=now, interval=interval, start=start, end=end, tz=tz, bots=bots
    )
    report: Report | None = None
    unavailable: str | None = None
    status = 200
    if not filters.errors:
        try:
            report = await build_report(
                session, me=me, runtime=runtime, now=now, filters=filters, link=link
            )
        except Unavailable as exc:
            unavailable, status = sentence(exc.detail), 503
        except Invalid as exc:
            filters.errors[exc.field or "interval"] = sentence(exc.detail)
        except ValidationError as exc:
            filters.errors.update(field_errors(exc))
    if filters.errors:
        status = 422
    action = f"{PREFIX}/links/{link.id}/analytics" if link else f"{PREFIX}/analytics"
    context = {
        "me": me,
        "nav": "analytics",
        "link": link,
        "short_url": runtime.short_url(link.domain, link.key) if link else None,
        "filters": filters,
        "intervals": INTERVALS,
        "zones": zone_choices(),
        "report": report,
        "unavailable": unavailable,
        "export_url": _export_url(filters, link),
        "action": action,
        "trigger_labels": TRIGGER_LABELS,
    }
    return render(request, "analytics/page.html", context, status=status, secret=runtime.secret_key)


IntervalParam = Annotated[str, Query(max_length=10)]
DateParam = Annotated[str, Query(max_length=32)]
ZoneParam = Annotated[str, _SHORT]
FlagParam = Annotated[str, Query(max_length=5)]


@router.get("/analytics")
async def org_analytics(
    request: Request,
    *,
    session: SessionDep,
    runtime: RuntimeDep,
    me: SignedInDep,
    now: NowDep,
    interval: IntervalParam = "",
    start: DateParam = "",
    end: DateParam = "",
    tz: ZoneParam = "",
    bots: FlagParam = "",
) -> Response:
    """The organisation's clicks: chart, totals, breakdowns and top links."""
    return await _page(
        request,
        session=session,
        runtime=runtime,
        me=me,
        now=now,
        link=None,
        interval=interval,
        start=start,
        end=end,
        tz=tz,
        bots=bots,
    )


@router.get("/links/{link_id}/analytics")
async def link_analytics(
    link_id: str,
    request: Request,
    *,
    session: SessionDep,
    runtime: RuntimeDep,
    me: SignedInDep,
    now: NowDep,
    interval: IntervalParam = "",
    start: DateParam = "",
    end: DateParam = "",
    tz: ZoneParam = "",
    bots: FlagParam = "",
) -> Response:
    """One link's clicks: chart, totals and breakdowns (another org's link is a 404)."""
    require(me.principal, PERMISSION)
    link = await links_service.get_link(session, principal=me.principal, link_id=link_id)
    return await _page(
        request,
        session=session,
        runtime=runtime,
        me=me,
        now=now,
        link=link,
        interval=interval,
        start=start,
        end=end,
        tz=tz,
        bots=bots,
    )


@router.get("/analytics/export")
async def export_csv(
    *,
    me: SignedInDep,
    session: SessionDep,
    runtime: RuntimeDep,
    now: NowDep,
    link_id: Annotated[str | None, _SHORT] = None,
    interval: IntervalPreset | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    timezone: Annotated[str, _SHORT] = "UTC",
    include_bots: bool = False,
) -> StreamingResponse:
    """The Export CSV button: ``GET /api/v1/analytics/export`` (same checks, audit and file),
    acting in the org the dashboard is in (``me.principal``) rather than the user's first one."""
    return await analytics_router.export(
        session=session,
        principal=me.principal,
        runtime=runtime,
        now=now,
        format="csv",
        link_id=link_id,
        domain=None,
        tag=None,
        interval=interval,
        start=start,
        end=end,
        timezone=timezone,
        include_bots=include_bots,
        include_ua=False,
        dimensions=analytics_router.NO_DIMENSIONS,
    )
