"""Names of the analytics tables and the column order writers use; a test pins them to the DDL."""

from __future__ import annotations

CLICKS = "clicks"
CLICKS_HOURLY = "clicks_hourly"
CLICKS_DAILY = "clicks_daily"
CLICKS_ORG_DIMS_DAILY = "clicks_org_dims_daily"

# The org dimension rollup's pseudo-dimension holding every click once (value '').
ALL_CLICKS = "all"
# The other `dim` values of the org dimension rollup (migration 0005), each a `clicks` column.
ROLLUP_DIMENSIONS: tuple[str, ...] = (
    "country",
    "continent",
    "device",
    "browser",
    "os",
    "trigger",
    "referrer",
    "referrer_domain",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
)

# Every table that holds click data, with the column that dates a row and how long a row's time
# span is (0 = an instant; a rollup bucket covers [time, time + span)). Retention (TTL) applies to
# each of them, so no table keeps an org's data longer than the others.
TIMED_TABLES: dict[str, tuple[str, int]] = {
    CLICKS: ("ts", 0),
    CLICKS_HOURLY: ("hour", 3600),
    CLICKS_DAILY: ("day", 86400),
    CLICKS_ORG_DIMS_DAILY: ("day", 86400),
}

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
