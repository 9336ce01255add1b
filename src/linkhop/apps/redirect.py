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
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, unquote

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

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
from linkhop.redirects.service import DomainRule, load_domain, load_link
from linkhop.settings import Settings

if TYPE_CHECKING:  # redis-py is imported only when a Redis tier is configured
    from linkhop.cache.redis_tier import RedisTier

log = structlog.get_logger("linkhop.redirect")
HTML = b"text/html; charset=utf-8"
NOINDEX = (b"x-robots-tag", b"noindex")
UNLOCK_TTL = timedelta(hours=24)
ROBOTS_TXT = b"User-agent: *\nDisallow:\n"
_STATUS_LABELS = {s: str(s) for s in (200, 301, 302, 303, 307, 308, 401, 404, 405, 410, 413, 429)}
_HEAD_GET = frozenset({"GET", "HEAD"})
# Metric children bound once: a labels() lookup per request cost ≈ 5 µs (bench/README.md).
_REQUESTS: dict[tuple[str, int], Any] = {}
_LATENCY = HTTP_LATENCY.labels("redirect", "/{key}")
CACHE_HIT = CACHE_EVENTS.labels("hit")
CACHE_MISS = CACHE_EVENTS.labels("miss")


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
    headers = [(b"location", location.encode("utf-8")), NOINDEX, (b"cache-control", cache_control)]
    await send_bytes(send, status, b"", b"text/plain", head=True, headers=headers)


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
    ) -> None:
        self.settings = settings
        self.publisher = publisher
        self.secret_key = secret_key
        self.other = other
        self.default_rule = DomainRule(settings.default_domain, settings.keys_case_sensitive)
        self.short_domains = settings.short_domains

        def load(k: tuple[str, str]) -> Awaitable[LinkRecord | None]:
            if link_tier is None:
                return load_link(sessionmaker, k[0], k[1])
            return link_tier.get_or_load(k, lambda: load_link(sessionmaker, k[0], k[1]))

        self.links: CachedLoader[tuple[str, str], LinkRecord] = CachedLoader(
            load,
            cache=TTLCache(
                maxsize=max(settings.cache_size, 1),
                ttl=settings.cache_ttl_seconds,
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
        self.country_header = (
            settings.country_header.lower().encode() if settings.country_header else None
        )

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
        started = time.perf_counter()
        status = await self._handle(scope, receive, send)
        counter = _REQUESTS.get((scope["method"], status))
        if counter is None:
            counter = _REQUESTS[(scope["method"], status)] = HTTP_REQUESTS.labels(
                "redirect", "/{key}", scope["method"], str(status)
            )
        counter.inc()
        _LATENCY.observe(time.perf_counter() - started)

    def _parse(self, scope: Scope) -> Incoming:
        """The parts of the request the redirect path reads, from one pass over the headers."""
        raw_key = scope["path"][1:]
        if raw_key.endswith("/"):
            raw_key = raw_key[:-1]  # one optional trailing slash
        key, inspect = split_inspect_suffix(unquote(raw_key))
        incoming = Incoming(
            method=scope["method"],
            path=scope["path"],
            key=key,
            inspect=inspect,
            query=scope.get("query_string", b"").decode("latin-1"),
        )
        forwarded = ""
        for name, value in scope["headers"]:
            if name == b"host":
                incoming.host = value.decode("latin-1").lower().rstrip(".")
            elif name == b"user-agent":
                incoming.ua = value.decode("latin-1")
            elif name == b"referer":
                incoming.referrer = value.decode("latin-1")
            elif name == b"cookie":
                incoming.cookie = value.decode("latin-1")
            elif name == b"x-forwarded-for":
                forwarded = value.decode("latin-1")
            elif name == self.country_header:
                incoming.country = value.decode("latin-1").strip().upper()
        client = scope.get("client")
        incoming.ip = pick_client_ip(
            str(client[0]) if client else "", forwarded, self.settings.trusted_proxy_count
        )
        return incoming

    async def _lookup(self, rule: DomainRule, key: str) -> LinkRecord | None:
        cache_key = (rule.domain, normalize_key(key, case_sensitive=rule.case_sensitive))
        cached = self.links.cache.get(cache_key, time.monotonic())
        if cached is MISSING:
            CACHE_MISS.inc()
            return await self.links.get(cache_key)
        CACHE_HIT.inc()
        return cached

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
        rule = await self._rule_for(req.host)
        if not req.key or "/" in req.key:
            return await self._page(send, 404, pages.not_found_page(), method)
        link = await self._lookup(rule, req.key)
        scheme = self.settings.short_scheme

        def short_url() -> str:  # only pages show it: a redirect never pays for quote()
            return f"{scheme}://{rule.domain}/{quote(req.key, safe='-._~')}"

        if method == "POST":
            if link is None:
                return await self._page(send, 404, pages.not_found_page(), method)
            if not link.password_hash:
                return await _not_allowed(send)
            return await self._unlock(receive, send, link=link, short_url=short_url(), req=req)
        now = datetime.now(UTC)
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
                self._publish(link, decision, req, now)
            cache = decision.cache_control.encode() if decision.cache_control else b"no-store"
            await _redirect(send, decision.status, decision.location, cache)
            return decision.status
        return await self._answer_page(send, decision, short_url(), method)

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

    def _publish(self, link: LinkRecord, decision: Redirect, req: Incoming, now: datetime) -> None:
        country = req.country
        event: RawClick = {
            "click_id": uuid7_text(),
            "ts": round(now.timestamp(), 3),
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
            if self.spooled:
                CLICKS_SPOOLED.inc()
        except OSError as exc:
            # The redirect still succeeds (architecture.md §3.5); the loss is counted and logged.
            CLICKS_PUBLISH_ERRORS.inc()
            log.error("click_publish_failed", error=str(exc), link_id=link.id)
            return
        CLICKS_PUBLISHED.inc()

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
