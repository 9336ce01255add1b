"""The redirect service: a bare ASGI app (no framework on this path; architecture.md §3).

resolve (LRU → database, single-flight, negative caching) → decide (pure) → respond → publish
the click (non-blocking; the embedded queue appends to a local spool before we answer).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from time import monotonic, perf_counter
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote, unquote

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from linkhop.asgi import ASGIApp, Receive, Scope, Send, pick_client_ip, read_body, send_bytes
from linkhop.auth.passwords import verify_password_async
from linkhop.cache.loader import CachedLoader
from linkhop.cache.lru import MISSING, TTLCache
from linkhop.ids import uuid7_text
from linkhop.ingest.schemas import RawClick, encode_click
from linkhop.links.keys import normalize_key
from linkhop.links.service import Invalidation
from linkhop.metrics import (
    CACHE_EVENTS,
    CLICKS_PUBLISH_ERRORS,
    CLICKS_PUBLISHED,
    CLICKS_SPOOLED,
    HTTP_LATENCY,
    HTTP_REQUESTS,
    BufferedCounter,
    BufferedHistogram,
)
from linkhop.queue.base import ClickPublisher
from linkhop.ratelimit import FailureWindow
from linkhop.redirects import pages
from linkhop.redirects.decision import (
    Decision,
    ExpiredRedirect,
    GonePage,
    InspectPage,
    LinkRecord,
    NotFoundPage,
    PasswordPage,
    Redirect,
    RedirectRequest,
    check_unlock_token,
    decide_redirect,
    password_unlock_token,
    split_inspect_suffix,
)
from linkhop.redirects.service import DomainRule, LinkReader, load_domain, load_link
from linkhop.settings import Settings

if TYPE_CHECKING:  # redis-py is imported only when a Redis tier is configured
    from linkhop.cache.redis_tier import RedisTier

log = structlog.get_logger("linkhop.redirect")
HTML = b"text/html; charset=utf-8"
NOINDEX = (b"x-robots-tag", b"noindex")
UNLOCK_TTL = timedelta(hours=24)
ROBOTS_TXT = b"User-agent: *\nDisallow:\n"
_HEAD_GET = frozenset({"GET", "HEAD"})
_NO_STORE = b"no-store"
_WANTED_HEADERS = frozenset({b"host", b"user-agent", b"referer", b"cookie", b"x-forwarded-for"})
# Per-request metrics are plain ints and bucket counts, added to the Prometheus children when
# /metrics is scraped (linkhop.metrics.BufferedCounter): labels() + inc + observe cost ≈ 10 µs
# a request, the buffered form well under 1 µs (bench/README.md).
_REQUESTS: dict[tuple[str, int], BufferedCounter] = {}
_LATENCY = BufferedHistogram(HTTP_LATENCY.labels("redirect", "/{key}"))
CACHE_HIT = BufferedCounter(CACHE_EVENTS.labels("hit"))
CACHE_MISS = BufferedCounter(CACHE_EVENTS.labels("miss"))
_PUBLISHED = BufferedCounter(CLICKS_PUBLISHED)
_SPOOLED = BufferedCounter(CLICKS_SPOOLED)


def _request_counter(method: str, status: int) -> BufferedCounter:
    counter = _REQUESTS[(method, status)] = BufferedCounter(
        HTTP_REQUESTS.labels("redirect", "/{key}", method, str(status))
    )
    return counter


@dataclass(slots=True)
class Incoming:
    """What the redirect path reads from a request."""

    method: str
    path: str
    key: str
    inspect: bool
    query: str
    host: str = ""
    ua: str = ""
    referrer: str = ""
    cookie: str = ""
    country: str = ""
    ip: str = ""


async def _not_allowed(send: Send) -> int:
    await send_bytes(send, 405, b"", b"text/plain", headers=[(b"allow", b"GET, HEAD")])
    return 405


async def _redirect(send: Send, status: int, location: str, cache_control: bytes) -> None:
    # send_bytes inlined: this is every click's response.
    headers = [
        (b"content-type", b"text/plain"),
        (b"content-length", b"0"),
        (b"location", location.encode("utf-8")),
        NOINDEX,
        (b"cache-control", cache_control),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


class RedirectApp:
    """Answers ``GET|HEAD /{key}`` (and the password form's POST) on short domains."""

    def __init__(
        self,
        *,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        publisher: ClickPublisher,
        secret_key: str,
        other: ASGIApp | None = None,
        spooled: bool = True,
        link_tier: RedisTier[LinkRecord] | None = None,
        invalidated: bool = False,
    ) -> None:
        """``invalidated``: every edit reaches this process's ``invalidate``/``on_invalidation``
        (the API runs in this process, or the Redis invalidation channel is listened to), so
        the default cache TTL can be long (``Settings.link_cache_ttl``)."""
        self.settings = settings
        self.publisher = publisher
        self.secret_key = secret_key
        self.other = other
        self.default_rule = DomainRule(settings.default_domain, settings.keys_case_sensitive)
        self.short_domains = settings.short_domains

        bind = sessionmaker.kw.get("bind")
        self.reader = LinkReader(bind) if isinstance(bind, AsyncEngine) else None

        def read(k: tuple[str, str]) -> Awaitable[LinkRecord | None]:
            if self.reader is not None:
                return self.reader.load(k[0], k[1])
            return load_link(sessionmaker, k[0], k[1])

        def load(k: tuple[str, str]) -> Awaitable[LinkRecord | None]:
            if link_tier is None:
                return read(k)
            return link_tier.get_or_load(k, lambda: read(k))

        self.links: CachedLoader[tuple[str, str], LinkRecord] = CachedLoader(
            load,
            cache=TTLCache(
                maxsize=max(settings.cache_size, 1),
                ttl=settings.link_cache_ttl(invalidated=invalidated),
                negative_ttl=settings.negative_cache_ttl_seconds,
            ),
        )
        self.domains: CachedLoader[str, DomainRule] = CachedLoader(
            lambda host: load_domain(sessionmaker, host),
            cache=TTLCache(maxsize=10_000, ttl=60.0, negative_ttl=10.0),
        )
        self.password_failures = FailureWindow(limit=10, window=300.0)
        # The embedded queue is the disk spool itself; a network queue spools only on failure.
        self.spooled = spooled
        self._wanted_headers = _WANTED_HEADERS
        self.country_header = (
            settings.country_header.lower().encode() if settings.country_header else None
        )
        self._cache_controls: dict[str, bytes] = {}

    @property
    def country_header(self) -> bytes | None:
        """The lower-cased name of the trusted edge country header, if one is configured."""
        return self._country_header

    @country_header.setter
    def country_header(self, name: bytes | None) -> None:
        self._country_header = name
        self._wanted_headers = _WANTED_HEADERS | {name} if name else _WANTED_HEADERS

    def invalidate(self, entries: Iterable[Invalidation]) -> None:
        """Drop changed links from the cache (called after the API commits)."""
        for entry in entries:
            self.links.invalidate((entry.domain, entry.key_lookup))

    def on_invalidation(self, identities: list[tuple[str, ...]] | None) -> None:
        """Pub/sub callback: drop these links, or everything (None: messages may be missed)."""
        if identities is None:
            self.links.clear()
            self.domains.clear()
            return
        for identity in identities:
            if len(identity) == 2:
                self.links.invalidate((identity[0], identity[1]))

    async def _rule_for(self, host: str) -> DomainRule:
        if not host or host in self.short_domains:
            return self.default_rule
        rule = await self.domains.get(host)
        # Unknown hosts serve the default domain's links, so http://localhost:8080/abc works
        # as well as the configured http://127.0.0.1:8080/abc on a fresh install.
        return rule if rule is not None else self.default_rule

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if self.other is not None:
                await self.other(scope, receive, send)
            return
        started = perf_counter()
        status = await self._handle(scope, receive, send)
        method = scope["method"]
        counter = _REQUESTS.get((method, status)) or _request_counter(method, status)
        counter.value += 1
        _LATENCY.observe(perf_counter() - started)

    def _parse(self, scope: Scope) -> Incoming:
        """The parts of the request the redirect path reads, from one pass over the headers."""
        raw_key = scope["path"][1:]
        if raw_key.endswith("/"):
            raw_key = raw_key[:-1]  # one optional trailing slash
        key, inspect = split_inspect_suffix(unquote(raw_key) if "%" in raw_key else raw_key)
        query = scope.get("query_string")
        incoming = Incoming(
            method=scope["method"],
            path=scope["path"],
            key=key,
            inspect=inspect,
            query=query.decode("latin-1") if query else "",
        )
        # One set lookup per header line; the last line of a repeated header wins.
        wanted = self._wanted_headers
        found = {name: value for name, value in scope["headers"] if name in wanted}
        if found:
            get = found.get
            if (host := get(b"host")) is not None:
                incoming.host = host.decode("latin-1").lower().rstrip(".")
            if (ua := get(b"user-agent")) is not None:
                incoming.ua = ua.decode("latin-1")
            if (referrer := get(b"referer")) is not None:
                incoming.referrer = referrer.decode("latin-1")
            if (cookie := get(b"cookie")) is not None:
                incoming.cookie = cookie.decode("latin-1")
            country_header = self._country_header
            if country_header and (country := get(country_header)) is not None:
                incoming.country = country.decode("latin-1").strip().upper()
        client = scope.get("client")
        peer = str(client[0]) if client else ""
        trusted = self.settings.trusted_proxy_count
        forwarded = found.get(b"x-forwarded-for") if trusted else None
        incoming.ip = (
            pick_client_ip(peer, forwarded.decode("latin-1"), trusted) if forwarded else peer
        )
        return incoming

    def _cache_key(self, rule: DomainRule, key: str) -> tuple[str, str]:
        if key.isascii():  # NFC leaves ASCII unchanged and lower() keeps it ASCII
            return rule.domain, key if rule.case_sensitive else key.lower()
        return rule.domain, normalize_key(key, case_sensitive=rule.case_sensitive)

    async def _handle(  # noqa: PLR0911 — one early answer per request kind, in decision order
        self, scope: Scope, receive: Receive, send: Send
    ) -> int:
        method = scope["method"]
        if method not in _HEAD_GET and method != "POST":
            return await _not_allowed(send)
        if scope["path"] == "/robots.txt":
            await send_bytes(send, 200, ROBOTS_TXT, b"text/plain", head=method == "HEAD")
            return 200
        req = self._parse(scope)
        host = req.host
        # The default domain's hosts need no lookup (and no coroutine): most traffic.
        rule = (
            self.default_rule
            if not host or host in self.short_domains
            else await self._rule_for(host)
        )
        if not req.key or "/" in req.key:
            return await self._page(send, 404, pages.not_found_page(), method)
        # A cache hit is answered without a coroutine; a miss loads once per key (CachedLoader).
        cache_key = self._cache_key(rule, req.key)
        link = self.links.cache.get(cache_key, monotonic())
        if link is MISSING:
            CACHE_MISS.value += 1
            link = await self.links.get(cache_key)
        else:
            CACHE_HIT.value += 1
        if method == "POST":
            if link is None:
                return await self._page(send, 404, pages.not_found_page(), method)
            if not link.password_hash:
                return await _not_allowed(send)
            short_url = self._short_url(rule, req.key)
            return await self._unlock(receive, send, link=link, short_url=short_url, req=req)
        clock = time.time()
        now = datetime.fromtimestamp(clock, UTC)
        unlocked = bool(link and link.password_hash and self._unlocked(link, req.cookie, now))
        decision = decide_redirect(
            link,
            RedirectRequest(
                method=method,
                key=req.key,
                is_inspect=req.inspect,
                query=req.query,
                unlocked=unlocked,
                user_agent=req.ua,
                now=now,
            ),
            permanent_max_age=self.settings.permanent_redirect_max_age,
        )
        if isinstance(decision, Redirect):
            assert link is not None
            # Publish before answering: once the visitor has the redirect, the click is on disk.
            if decision.record_click:
                self._publish(link, decision, req, clock)
            control = decision.cache_control
            cache = self._cache_control(control) if control else _NO_STORE
            await _redirect(send, decision.status, decision.location, cache)
            return decision.status
        return await self._answer_page(send, decision, self._short_url(rule, req.key), method)

    def _short_url(self, rule: DomainRule, key: str) -> str:
        """The printable short URL; only pages show it, so a redirect never pays for quote()."""
        return f"{self.settings.short_scheme}://{rule.domain}/{quote(key, safe='-._~')}"

    def _cache_control(self, value: str) -> bytes:
        encoded = self._cache_controls.get(value)
        if encoded is None:  # a handful of distinct values (one per max-age setting)
            encoded = self._cache_controls[value] = value.encode()
        return encoded

    async def _answer_page(
        self, send: Send, decision: Decision, short_url: str, method: str
    ) -> int:
        """Every answer other than the link's own redirect."""
        if isinstance(decision, ExpiredRedirect):
            await _redirect(send, 302, decision.location, b"no-store")
            return 302
        if isinstance(decision, PasswordPage):
            return await self._page(send, 401, pages.password_page(short_url=short_url), method)
        if isinstance(decision, InspectPage):
            html = pages.inspect_page(
                short_url=short_url,
                destination=decision.link.url,
                created_at=decision.link.created_at,
                title=decision.link.title,
            )
            return await self._page(send, 200, html, method)
        if isinstance(decision, GonePage):
            html = pages.gone_page(reason=decision.reason, short_url=short_url)
            return await self._page(send, 410, html, method)
        assert isinstance(decision, NotFoundPage)
        return await self._page(send, 404, pages.not_found_page(short_url=short_url), method)

    def _publish(self, link: LinkRecord, decision: Redirect, req: Incoming, clock: float) -> None:
        country = req.country
        ms = int(clock * 1000)
        event: RawClick = {
            "click_id": uuid7_text(ms),
            "ts": ms / 1000,
            "org_id": link.org_id,
            "link_id": link.id,
            "domain": link.domain,
            "key": link.key,
            "url": decision.location,
            "trigger": decision.trigger,
            "ip": req.ip,
            "ua": req.ua,
            "referrer": req.referrer,
            "country": country if len(country) == 2 else "",
            "method": "HEAD" if req.method == "HEAD" else "GET",
        }
        try:
            self.publisher.publish(encode_click(event))
        except OSError as exc:
            # The redirect still succeeds (architecture.md §3.5); the loss is counted and logged.
            CLICKS_PUBLISH_ERRORS.inc()
            log.error("click_publish_failed", error=str(exc), link_id=link.id)
            return
        if self.spooled:
            _SPOOLED.value += 1
        _PUBLISHED.value += 1

    def _unlocked(self, link: LinkRecord, cookie: str, now: datetime) -> bool:
        if not cookie or link.password_hash is None:
            return False
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(cookie)
        except Exception:
            return False
        morsel = jar.get(f"lh_unlock_{link.id}")
        return morsel is not None and check_unlock_token(
            morsel.value,
            link_id=link.id,
            password_hash=link.password_hash,
            secret=self.secret_key,
            now=now,
            max_age=UNLOCK_TTL,
        )

    async def _unlock(
        self, receive: Receive, send: Send, *, link: LinkRecord, short_url: str, req: Incoming
    ) -> int:
        assert link.password_hash is not None
        limit_keys = [f"{req.ip}:{link.id}"]
        wait = self.password_failures.retry_after(limit_keys, time.monotonic())
        if wait:
            html = pages.password_page(
                short_url=short_url, error=f"Too many attempts. Try again in {wait} seconds."
            )
            return await self._page(send, 429, html, "POST")
        body = await read_body(receive, 8192)
        if body is None:
            return await self._page(
                send,
                413,
                pages.password_page(short_url=short_url, error="That was too long."),
                "POST",
            )
        password = (parse_qs(body.decode("utf-8", "replace")).get("password") or [""])[0]
        ok = bool(password) and await verify_password_async(link.password_hash, password)
        if not ok:
            self.password_failures.fail(limit_keys, time.monotonic())
            html = pages.password_page(short_url=short_url, error="Wrong password. Try again.")
            return await self._page(send, 401, html, "POST")
        self.password_failures.reset(limit_keys)
        token = password_unlock_token(
            link.id, link.password_hash, self.secret_key, now=datetime.now(UTC)
        )
        secure = "; Secure" if self.settings.short_scheme == "https" else ""
        cookie = (
            f"lh_unlock_{link.id}={token}; Max-Age={int(UNLOCK_TTL.total_seconds())}; "
            f"Path=/; HttpOnly; SameSite=Lax{secure}"
        )
        location = req.path + (f"?{req.query}" if req.query else "")
        headers = [
            (b"location", location.encode("utf-8")),
            (b"set-cookie", cookie.encode()),
            (b"cache-control", b"no-store"),
            NOINDEX,
        ]
        await send_bytes(send, 303, b"", b"text/plain", head=True, headers=headers)
        return 303

    async def _page(self, send: Send, status: int, html: str, method: str) -> int:
        await send_bytes(
            send,
            status,
            html.encode(),
            HTML,
            head=method == "HEAD",
            headers=[NOINDEX, (b"cache-control", b"no-store")],
        )
        return status
