"""The analytics query (one endpoint, Dub-style ``group_by``) and the shapes of its results."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, available_timezones

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

GroupBy = Literal[
    "count",
    "timeseries",
    "countries",
    "devices",
    "browsers",
    "os",
    "referrers",
    "referrer_domains",
    "top_links",
]
IntervalPreset = Literal["24h", "7d", "30d", "90d", "1y", "mtd", "ytd", "all"]
Granularity = Literal["minute", "hour", "day", "month"]

# Generous bounds: a tag can hold many links, but an IN list past this is a mistake or an attack.
MAX_LINK_IDS = 10_000
MAX_LIMIT = 1_000


@lru_cache(maxsize=1)
def _known_timezones() -> frozenset[str]:
    # available_timezones() walks the tz database on every call; the set never changes at runtime.
    return frozenset(available_timezones())


class AnalyticsQuery(BaseModel):
    """What to count, for which org, over which links and time range."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    group_by: GroupBy = "count"
    org_id: str = Field(min_length=1, description="Tenant; always filtered on, set by the caller.")
    link_id: str | None = Field(default=None, min_length=1, description="One link.")
    link_ids: list[str] | None = Field(
        default=None,
        max_length=MAX_LINK_IDS,
        description="Several links (a tag filter resolved by the caller); [] matches nothing.",
    )
    domain: str | None = Field(default=None, min_length=1, description="Short domain host.")
    timezone: str = Field(default="UTC", description="IANA zone for buckets and mtd/ytd.")
    interval: IntervalPreset | None = Field(
        default=None, description="Preset range ending now; exclusive with start/end."
    )
    start: datetime | None = Field(
        default=None, description="Inclusive; without an offset it is read in `timezone`."
    )
    end: datetime | None = Field(
        default=None, description="Exclusive; without an offset it is read in `timezone`."
    )
    granularity: Granularity | None = Field(
        default=None, description="Timeseries bucket size; chosen from the range when omitted."
    )
    include_bots: bool = False
    limit: int = Field(default=100, ge=1, le=MAX_LIMIT, description="Rows of a dimension list.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value not in _known_timezones():
            raise ValueError(f"unknown IANA time zone {value!r}")
        return value

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        # A bare date-time means wall-clock time where the user is, i.e. in the query's zone
        # (declared above these fields, so already validated; absent if it was invalid).
        zone = info.data.get("timezone")
        if value is None or value.tzinfo is not None or zone is None:
            return value
        return value.replace(tzinfo=ZoneInfo(zone))

    @model_validator(mode="after")
    def _coherent_range(self) -> AnalyticsQuery:
        if self.interval is not None and (self.start is not None or self.end is not None):
            raise ValueError("give either interval or start/end, not both")
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise ValueError("start must be before end")
        return self


class CountResult(BaseModel):
    """``group_by=count``: clicks and unique visitors."""

    clicks: int
    visitors: int


class TimeseriesPoint(BaseModel):
    """One bucket of ``group_by=timeseries``; ``start`` is ISO 8601 with the zone's offset."""

    start: str
    clicks: int


class CountryRow(BaseModel):
    """One row of ``group_by=countries`` (ISO-3166 alpha-2; '' = unknown)."""

    country: str
    clicks: int


class DeviceRow(BaseModel):
    """One row of ``group_by=devices``."""

    device: str
    clicks: int


class BrowserRow(BaseModel):
    """One row of ``group_by=browsers``."""

    browser: str
    clicks: int


class OsRow(BaseModel):
    """One row of ``group_by=os``."""

    os: str
    clicks: int


class ReferrerRow(BaseModel):
    """One row of ``group_by=referrers``; no referrer is shown as ``(direct)``."""

    referrer: str
    clicks: int


class ReferrerDomainRow(BaseModel):
    """One row of ``group_by=referrer_domains``; no referrer is shown as ``(direct)``."""

    referrer_domain: str
    clicks: int


class TopLinkRow(BaseModel):
    """One row of ``group_by=top_links``; the caller joins the link's details."""

    link_id: str
    clicks: int


AnalyticsResult = (
    CountResult
    | list[TimeseriesPoint]
    | list[CountryRow]
    | list[DeviceRow]
    | list[BrowserRow]
    | list[OsRow]
    | list[ReferrerRow]
    | list[ReferrerDomainRow]
    | list[TopLinkRow]
)
