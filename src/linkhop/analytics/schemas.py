"""The analytics inputs: Dub-style dimension filters, the query (``group_by``) and the export."""

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
    "regions",
    "cities",
    "continents",
    "devices",
    "browsers",
    "os",
    "triggers",
    "referrers",
    "referrer_domains",
    "utm_sources",
    "utm_mediums",
    "utm_campaigns",
    "utm_terms",
    "utm_contents",
    "top_links",
]
IntervalPreset = Literal["24h", "7d", "30d", "90d", "1y", "mtd", "qtd", "ytd", "all"]
Granularity = Literal["minute", "hour", "day", "month"]
Trigger = Literal["link", "qr", "api"]
Continent = Literal["AF", "AN", "AS", "EU", "NA", "OC", "SA"]
ExportFormat = Literal["csv", "jsonl", "parquet"]

# The label a dimension row shows for "no referrer"; as a filter value it selects those clicks.
DIRECT = "(direct)"

# Generous bounds: a tag can hold many links, but an IN list past this is a mistake or an attack.
MAX_LINK_IDS = 10_000
MAX_LIMIT = 1_000
# Filter values are compared for equality only; these bounds keep a query string sane.
_NAME = 100  # device, browser, OS names
_PLACE = 200  # region and city names
_URL = 2048  # referrers (the redirect stores at most this much of a Referer)
_UTM = 500


@lru_cache(maxsize=1)
def _known_timezones() -> frozenset[str]:
    # available_timezones() walks the tz database on every call; the set never changes at runtime.
    return frozenset(available_timezones())


class DimensionFilters(BaseModel):
    """Optional equality filters on click dimensions (Dub's filter names); all must match.

    Also the query-string model of the analytics routes, so it ignores unknown names; the
    stricter ``AnalyticsFilters`` below refuses them.
    """

    model_config = ConfigDict(frozen=True)

    country: str | None = Field(
        default=None, pattern=r"^[A-Za-z]{2}$", description="ISO-3166 alpha-2, e.g. `FR`."
    )
    region: str | None = Field(default=None, min_length=1, max_length=_PLACE)
    city: str | None = Field(default=None, min_length=1, max_length=_PLACE)
    continent: Continent | None = Field(default=None, description="AF AN AS EU NA OC SA.")
    device: str | None = Field(default=None, min_length=1, max_length=_NAME)
    browser: str | None = Field(default=None, min_length=1, max_length=_NAME)
    os: str | None = Field(default=None, min_length=1, max_length=_NAME)
    trigger: Trigger | None = Field(default=None, description="How the link was opened.")
    referrer: str | None = Field(
        default=None, min_length=1, max_length=_URL, description=f"`{DIRECT}` = no referrer."
    )
    referrer_domain: str | None = Field(
        default=None, min_length=1, max_length=260, description=f"`{DIRECT}` = no referrer."
    )
    utm_source: str | None = Field(default=None, min_length=1, max_length=_UTM)
    utm_medium: str | None = Field(default=None, min_length=1, max_length=_UTM)
    utm_campaign: str | None = Field(default=None, min_length=1, max_length=_UTM)
    utm_term: str | None = Field(default=None, min_length=1, max_length=_UTM)
    utm_content: str | None = Field(default=None, min_length=1, max_length=_UTM)

    @field_validator("country", mode="after")
    @classmethod
    def _upper_country(cls, value: str | None) -> str | None:
        # Stored upper-case by the worker; `fr` in a URL means the same country.
        return value.upper() if value is not None else None

    @field_validator("continent", mode="before")
    @classmethod
    def _upper_continent(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    def dimension_values(self) -> dict[str, str]:
        """The filters that are set, by column name."""
        return {
            name: value
            for name in DimensionFilters.model_fields
            if (value := getattr(self, name)) is not None
        }


class AnalyticsFilters(DimensionFilters):
    """Which clicks: the org (always), links, short domain, time range, bots, dimensions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    org_id: str = Field(min_length=1, description="Tenant; always filtered on, set by the caller.")
    link_id: str | None = Field(default=None, min_length=1, description="One link.")
    link_ids: list[str] | None = Field(
        default=None,
        max_length=MAX_LINK_IDS,
        description="Several links (a tag filter resolved by the caller); [] matches nothing.",
    )
    domain: str | None = Field(default=None, min_length=1, description="Short domain host.")
    timezone: str = Field(default="UTC", description="IANA zone for buckets and mtd/qtd/ytd.")
    interval: IntervalPreset | None = Field(
        default=None, description="Preset range ending now; exclusive with start/end."
    )
    start: datetime | None = Field(
        default=None, description="Inclusive; without an offset it is read in `timezone`."
    )
    end: datetime | None = Field(
        default=None, description="Exclusive; without an offset it is read in `timezone`."
    )
    include_bots: bool = False

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
    def _coherent_range(self) -> AnalyticsFilters:
        if self.interval is not None and (self.start is not None or self.end is not None):
            raise ValueError("give either interval or start/end, not both")
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise ValueError("start must be before end")
        return self


class AnalyticsQuery(AnalyticsFilters):
    """What to count (``group_by``) over the filtered clicks."""

    group_by: GroupBy = "count"
    granularity: Granularity | None = Field(
        default=None, description="Timeseries bucket size; chosen from the range when omitted."
    )
    limit: int = Field(default=100, ge=1, le=MAX_LIMIT, description="Rows of a dimension list.")


class ExportQuery(AnalyticsFilters):
    """Raw click events to stream out, in one file format."""

    format: ExportFormat = "csv"
    include_ua: bool = Field(
        default=False, description="Add the user-agent column (needs its own permission)."
    )
