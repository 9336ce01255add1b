"""The shapes of analytics answers (Dub's row keys), documented as models.

``service.run_query`` returns plain dicts of exactly these shapes; every row and point carries
``clicks`` and ``visitors`` (unique ``visitor_id``s: a hash of IP and user agent).
"""

from __future__ import annotations

from pydantic import BaseModel


class Counts(BaseModel):
    """Clicks and unique visitors; every answer below carries both."""

    clicks: int
    visitors: int


class CountResult(Counts):
    """``group_by=count``."""


class TimeseriesPoint(Counts):
    """One bucket of ``group_by=timeseries``; ``start`` is ISO 8601 with the zone's offset."""

    start: str


class CountryRow(Counts):
    """``group_by=countries`` (ISO-3166 alpha-2; '' = unknown)."""

    country: str


class RegionRow(Counts):
    """``group_by=regions``: the country is part of the key (regions repeat across countries)."""

    region: str
    country: str


class CityRow(Counts):
    """``group_by=cities``: the country is part of the key ("Paris, FR" is not "Paris, US")."""

    city: str
    country: str


class ContinentRow(Counts):
    """``group_by=continents`` (AF AN AS EU NA OC SA; '' = unknown)."""

    continent: str


class DeviceRow(Counts):
    """``group_by=devices``."""

    device: str


class BrowserRow(Counts):
    """``group_by=browsers``."""

    browser: str


class OsRow(Counts):
    """``group_by=os``."""

    os: str


class TriggerRow(Counts):
    """``group_by=triggers``: link, qr or api."""

    trigger: str


class ReferrerRow(Counts):
    """``group_by=referrers``; no referrer is shown as ``(direct)``."""

    referrer: str


class ReferrerDomainRow(Counts):
    """``group_by=referrer_domains``; no referrer is shown as ``(direct)``."""

    referrer_domain: str


class UtmSourceRow(Counts):
    """``group_by=utm_sources`` ('' = none)."""

    utm_source: str


class UtmMediumRow(Counts):
    """``group_by=utm_mediums``."""

    utm_medium: str


class UtmCampaignRow(Counts):
    """``group_by=utm_campaigns``."""

    utm_campaign: str


class UtmTermRow(Counts):
    """``group_by=utm_terms``."""

    utm_term: str


class UtmContentRow(Counts):
    """``group_by=utm_contents``."""

    utm_content: str


class TopLinkRow(Counts):
    """``group_by=top_links``; the router joins the link's key, domain, short_url and url."""

    link_id: str


AnalyticsResult = (
    CountResult
    | list[TimeseriesPoint]
    | list[CountryRow]
    | list[RegionRow]
    | list[CityRow]
    | list[ContinentRow]
    | list[DeviceRow]
    | list[BrowserRow]
    | list[OsRow]
    | list[TriggerRow]
    | list[ReferrerRow]
    | list[ReferrerDomainRow]
    | list[UtmSourceRow]
    | list[UtmMediumRow]
    | list[UtmCampaignRow]
    | list[UtmTermRow]
    | list[UtmContentRow]
    | list[TopLinkRow]
)

# The row model of each dimension grouping; a test pins the service's row keys to these fields.
ROW_MODELS: dict[str, type[Counts]] = {
    "countries": CountryRow,
    "regions": RegionRow,
    "cities": CityRow,
    "continents": ContinentRow,
    "devices": DeviceRow,
    "browsers": BrowserRow,
    "os": OsRow,
    "triggers": TriggerRow,
    "referrers": ReferrerRow,
    "referrer_domains": ReferrerDomainRow,
    "utm_sources": UtmSourceRow,
    "utm_mediums": UtmMediumRow,
    "utm_campaigns": UtmCampaignRow,
    "utm_terms": UtmTermRow,
    "utm_contents": UtmContentRow,
    "top_links": TopLinkRow,
}
