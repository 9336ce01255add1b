"""Raw click -> one ``clicks`` row. Pure functions; the only I/O is the passed-in ``GeoReader``.

Bot rules, first match wins (the reason is stored in ``bot_reason``):
``head_request`` (HEAD never comes from a person following a link), ``empty_ua``,
``ua_parser_spider`` (uap-core's Spider device), ``ua_keyword`` (see ``useragent``). Bots are
stored with device ``bot`` and left out of per-link counters.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Literal, NamedTuple
from urllib.parse import parse_qsl, urlsplit

from linkhop.ingest.addresses import anonymize, parse_ip
from linkhop.ingest.geo import GeoReader, locate
from linkhop.ingest.schemas import RawClick
from linkhop.ingest.useragent import MAX_UA_LENGTH, UaInfo, parse_user_agent

StoreIp = Literal["full", "anonymized", "none"]

# Referers longer than this are cut before storage; the domain is taken from the full value.
MAX_REFERRER_LENGTH = 2048

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
_EMPTY_UA = UaInfo("bot", "", "", "", "", "empty_ua")
_BAD_HOST_CHAR = re.compile(r"[\s\\/@]")


class EnrichedClick(NamedTuple):
    """One row of the ClickHouse ``clicks`` table; field order IS the column order."""

    click_id: uuid.UUID
    ts: datetime
    org_id: str
    link_id: str
    domain: str
    key: str
    url: str
    trigger: str
    ip: str
    country: str
    region: str
    city: str
    continent: str
    device: str
    browser: str
    browser_version: str
    os: str
    os_version: str
    ua: str
    bot: int
    bot_reason: str
    referrer: str
    referrer_domain: str
    utm_source: str
    utm_medium: str
    utm_campaign: str
    utm_term: str
    utm_content: str
    visitor_id: int


CLICK_COLUMNS: tuple[str, ...] = EnrichedClick._fields


def referrer_domain(referrer: str) -> str:
    """Host of a Referer URL, lower-cased and without a leading ``www.``; '' if none or invalid."""
    if not referrer:
        return ""
    try:
        host = urlsplit(referrer.strip()).hostname
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return ""
    if not host or _BAD_HOST_CHAR.search(host):
        return ""
    host = host.rstrip(".")
    return host.removeprefix("www.")


def store_ip_value(ip: str, policy: StoreIp) -> str:
    """The address as stored under ``policy``: full, anonymized (IPv4 /24, IPv6 /48) or ''."""
    if policy == "none":
        return ""
    addr = parse_ip(ip.strip())
    if addr is None:
        return ""
    return str(addr if policy == "full" else anonymize(addr))


def visitor_id(ip: str, ua: str) -> int:
    """Pseudonymous visitor hash: the first 8 bytes of sha256(ip + '\\n' + ua) as a UInt64.

    It is computed from the FULL address before any anonymisation, so unique-visitor counts stay
    meaningful whatever ``store_ip`` says. It is pseudonymous, not anonymous: anyone holding a
    candidate (ip, ua) pair can recompute it.
    """
    digest = hashlib.sha256(f"{ip}\n{ua}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def utm_params(url: str) -> tuple[str, str, str, str, str]:
    """The five utm_* values (source, medium, campaign, term, content) of a URL; '' if absent."""
    query = urlsplit(url).query if "utm_" in url.lower() else ""
    if not query:
        return ("", "", "", "", "")
    found: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        # Parameter names are matched case-insensitively (UTM_Source is seen in the wild); the
        # first occurrence wins, as in most analytics tools.
        found.setdefault(name.lower(), value)
    source, medium, campaign, term, content = (found.get(k, "") for k in _UTM_KEYS)
    return (source, medium, campaign, term, content)


def click_time(ts: float) -> datetime:
    """Epoch seconds -> UTC datetime rounded to the millisecond (the column is DateTime64(3))."""
    # Rounding through integer milliseconds avoids float artefacts such as .123 -> .122999.
    return _EPOCH + timedelta(milliseconds=round(ts * 1000))


def classify(*, ua: str, method: str) -> UaInfo:
    """Device, browser, OS and bot reason for a request."""
    info = parse_user_agent(ua) if ua.strip() else _EMPTY_UA
    if method == "HEAD":
        return info._replace(device="bot", bot_reason="head_request")
    return info


def enrich(raw: RawClick, *, geo: GeoReader | None, store_ip: StoreIp) -> EnrichedClick:
    """Turn one validated raw click into a ``clicks`` row."""
    agent = classify(ua=raw["ua"], method=raw["method"])
    where = locate(ip=raw["ip"], header_country=raw["country"], geo=geo)
    source, medium, campaign, term, content = utm_params(raw["url"])
    return EnrichedClick(
        click_id=uuid.UUID(raw["click_id"]),
        ts=click_time(raw["ts"]),
        org_id=raw["org_id"],
        link_id=raw["link_id"],
        domain=raw["domain"],
        key=raw["key"],
        url=raw["url"],
        trigger=raw["trigger"],
        ip=store_ip_value(raw["ip"], store_ip),
        country=where.country,
        region=where.region,
        city=where.city,
        continent=where.continent,
        device=agent.device,
        browser=agent.browser,
        browser_version=agent.browser_version,
        os=agent.os,
        os_version=agent.os_version,
        ua=raw["ua"][:MAX_UA_LENGTH],
        bot=1 if agent.bot_reason else 0,
        bot_reason=agent.bot_reason,
        referrer=raw["referrer"][:MAX_REFERRER_LENGTH],
        referrer_domain=referrer_domain(raw["referrer"]),
        utm_source=source,
        utm_medium=medium,
        utm_campaign=campaign,
        utm_term=term,
        utm_content=content,
        visitor_id=visitor_id(raw["ip"], raw["ua"]),
    )
