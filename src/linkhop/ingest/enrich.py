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
from typing import Any, Literal, NamedTuple
from urllib.parse import parse_qsl, urlsplit

from linkhop.ingest.addresses import anonymize, parse_ip
from linkhop.ingest.geo import GeoInfo, GeoReader, locate
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


def _location(
    geo: GeoReader | None, cache: dict[tuple[str, str], GeoInfo], ip: str, country: str
) -> GeoInfo:
    # Without a database the location depends on the edge header alone: one entry per country.
    key = (ip if geo is not None else "", country)
    where = cache.get(key)
    if where is None:
        where = cache[key] = locate(ip=ip, header_country=country, geo=geo)
    return where


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


# Column positions in an insert row (``BatchEnricher.row``); a test pins them to CLICK_COLUMNS.
TS_INDEX = CLICK_COLUMNS.index("ts")
LINK_INDEX = CLICK_COLUMNS.index("link_id")
BOT_INDEX = CLICK_COLUMNS.index("bot")

InsertRow = tuple[Any, ...]
"""A ``clicks`` row in ``CLICK_COLUMNS`` order, as the batch path builds it: like
``EnrichedClick`` except ``click_id`` is its canonical text and ``ts`` is epoch milliseconds
(what clickhouse-connect writes into UUID and DateTime64(3) columns without conversion)."""


class BatchEnricher:
    """``enrich`` for a whole batch: the same functions, each evaluated once per distinct input.

    Real traffic repeats a handful of user agents, referrers, destinations and (per visitor)
    addresses, so the user agent classification, referrer domain, UTM parsing and address
    handling (anonymisation + location) are memoised for the batch; only the click id,
    timestamp and visitor hash are computed per click. Rows come out as tuples assembled from
    the memoised column groups, in ``CLICK_COLUMNS`` order.
    """

    def __init__(self, *, geo: GeoReader | None, store_ip: StoreIp) -> None:
        self.geo = geo
        self.store_ip: StoreIp = store_ip
        self._agents: dict[tuple[str, str], tuple[Any, ...]] = {}
        self._referrers: dict[str, tuple[str, str]] = {}
        self._utms: dict[str, tuple[str, str, str, str, str]] = {}
        self._addresses: dict[str, str] = {}
        self._places: dict[tuple[str, str], GeoInfo] = {}

    def row(self, raw: RawClick) -> InsertRow:
        """The insert row of one validated raw click (same values as ``enrich``)."""
        ua, method = raw["ua"], raw["method"]
        agent = self._agents.get((ua, method))
        if agent is None:
            info = classify(ua=ua, method=method)
            agent = self._agents[(ua, method)] = (
                info.device,
                info.browser,
                info.browser_version,
                info.os,
                info.os_version,
                ua[:MAX_UA_LENGTH],
                1 if info.bot_reason else 0,
                info.bot_reason,
            )
        referrer = raw["referrer"]
        referred = self._referrers.get(referrer)
        if referred is None:
            referred = self._referrers[referrer] = (
                referrer[:MAX_REFERRER_LENGTH],
                referrer_domain(referrer),
            )
        url = raw["url"]
        utm = self._utms.get(url)
        if utm is None:
            utm = self._utms[url] = utm_params(url)
        ip = raw["ip"]
        stored_ip = self._addresses.get(ip)
        if stored_ip is None:
            stored_ip = self._addresses[ip] = store_ip_value(ip, self.store_ip)
        where = _location(self.geo, self._places, ip, raw["country"])
        return (
            raw["click_id"],
            round(raw["ts"] * 1000),
            raw["org_id"],
            raw["link_id"],
            raw["domain"],
            raw["key"],
            url,
            raw["trigger"],
            stored_ip,
            *where,
            *agent,
            *referred,
            *utm,
            visitor_id(ip, ua),
        )


def as_enriched(row: InsertRow) -> EnrichedClick:
    """An insert row as the ``EnrichedClick`` that ``enrich`` builds (UUID, datetime)."""
    values = list(row)
    values[0] = uuid.UUID(row[0])
    values[TS_INDEX] = _EPOCH + timedelta(milliseconds=row[TS_INDEX])
    return EnrichedClick(*values)
