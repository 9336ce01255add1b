"""Names of the analytics tables and the column order writers use; a test pins them to the DDL."""

from __future__ import annotations

CLICKS = "clicks"
CLICKS_HOURLY = "clicks_hourly"

# Column order of `clicks` as created by migration 0001. Writers pass these names to insert().
CLICK_COLUMNS: tuple[str, ...] = (
    "click_id",
    "ts",
    "org_id",
    "link_id",
    "domain",
    "key",
    "url",
    "trigger",
    "ip",
    "country",
    "region",
    "city",
    "continent",
    "device",
    "browser",
    "browser_version",
    "os",
    "os_version",
    "ua",
    "bot",
    "bot_reason",
    "referrer",
    "referrer_domain",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "visitor_id",
)
