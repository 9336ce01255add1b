"""The redirect service: a bare ASGI app (no framework on this path; architecture.md §3).

resolve (LRU → database, single-flight, negative caching) → decide (pure) → respond → publish
the click (non-blocking; the embedded queue appends to a local spool before we answer).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, quote, unquote

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from linkhop.asgi import ASGIApp, Receive, Scope, Send, read_body, send_bytes
from linkhop.auth.passwords import verify_password
from linkhop.cache.loader import CachedLoader
from linkhop.cache.lru import TTLCache
from linkhop.ids import uuid7
from linkhop.ingest.schemas import RawClick, encode_click
from linkhop.links.keys import normalize_key
from linkhop.links.service import Invalidation
from linkhop.metrics import CACHE_EVENTS, CLICKS_PUBLISH_ERRORS, CLICKS_PUBLISHED, HTTP_LATENCY
from linkhop.metrics import HTTP_REQUESTS
from linkhop.queue.base import ClickPublisher
from linkhop.ratelimit import FailureWindow
from linkhop.redirects import pages
from linkhop.redirects.decision import (
    ExpiredRedirect,
    GonePage,
    InspectPage,
    LinkRecord,
    NotFoundPage,
    PasswordPage,
    Redirect,
    RedirectRequest,
    decide_redirect,
    password_unlock_token,
    split_inspect_suffix,
    check_unlock_token,
)
from linkhop.redirects.service import DomainRule, load_domain, load_link
from linkhop.settings import Settings

log = structlog.get_logger("linkhop.redirect")
HTML = b"text/html; charset=utf-8"
NOINDEX = (b"x-robots-tag", b"noindex")
UNLOCK_TTL = timedelta(hours=24)
ROBOTS_TXT = b"User-agent: *\nDisallow:\n"
_STATUS_LABELS = {s: str(s) for s in (200, 301, 302, 303, 307, 308, 401, 404, 405, 410, 413, 429)}
_HEAD_GET = frozenset({"GET", "HEAD"})


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
    ) -> None:
        self.settings = settings
        self.publisher = publisher
        self.secret_key = secret_key
        self.other = other
        self.default_rule = DomainRule(settings.default_domain, settings.keys_case_sensitive)
        self.short_domains = settings.short_domains
        self.links: CachedLoader[tuple[str, str], LinkRecord] = CachedLoader(
            lambda k: load_link(sessionmaker, k[0], k[1]),
            cache=TTLCache(maxsize=max(settings.cache_size, 1), ttl=settings.cache_ttl_seconds,
                           negative_ttl=settings.negative_cache_ttl_seconds),
        )
        self.domains: CachedLoader[str, DomainRule] = CachedLoader(
            lambda host: load_domain(sessionmaker, host),
            cache=TTLCache(maxsize=10_000, ttl=60.0, negative_ttl=10.0),
        )
        self.password_failures = FailureWindow(limit=10, window=300.0)
        self.country_header = (
            settings.country_header.lower().encode() if settings.country_header else None
        )

    def invalidate(self, entries: list[Invalidation]) -> None:
        """Drop changed links from the cache (called after the API commits)."""
        for entry in entries:
            self.links.invalidate((entry.domain, entry.key_lookup))

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
        HTTP_REQUESTS.labels("redirect", "/{key}", scope["method"],
                             _STATUS_LABELS.get(status) or str(status)).inc()
        HTTP_LATENCY.labels("redirect", "/{key}").observe(time.perf_counter() - started)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> int:
        method = scope["method"]
        path: str = scope["path"]
        if method not in _HEAD_GET and method != "POST":
            await send_bytes(send, 405, b"", b"text/plain", headers=[(b"allow", b"GET, HEAD")])
            return 405
        if path == "/robots.txt":
            await send_bytes(send, 200, ROBOTS_TXT, b"text/plain", head=method == "HEAD")
            return 200
        raw_key = path[1:]
        if raw_key.endswith("/"):
            raw_key = raw_key[:-1]  # one optional trailing slash
        key, inspect = split_inspect_suffix(unquote(raw_key))
        host = ""
        ua = referrer = cookie = forwarded = country = ""
        for name, value in scope["headers"]:
            if name == b"host":
                host = value.decode("latin-1").lower()
            elif name == b"user-agent":
                ua = value.decode("latin-1")
            elif name == b"referer":
                referrer = value.decode("latin-1")
            elif name == b"cookie":
                cookie = value.decode("latin-1")
            elif name == b"x-forwarded-for":
                forwarded = value.decode("latin-1")
            elif name == self.country_header:
                country = value.decode("latin-1").strip().upper()
        rule = await self._rule_for(host.rstrip("."))
        if not key or "/" in key:
            return await self._page(send, 404, pages.not_found_page(), method)
        lookup = normalize_key(key, case_sensitive=rule.case_sensitive)
        link = await self.links.get((rule.domain, lookup))
        CACHE_EVENTS.labels("found" if link is not None else "absent").inc()
        short_url = f"{self.settings.short_scheme}://{rule.domain}/{quote(key, safe='-._~')}"
        now = datetime.now(UTC)
        query = scope.get("query_string", b"").decode("latin-1")
        client = self._client_ip(scope, forwarded)
        if method == "POST":
            if link is None:
                return await self._page(send, 404, pages.not_found_page(), method)
            if not link.password_hash:
                await send_bytes(send, 405, b"", b"text/plain",
                                 headers=[(b"allow", b"GET, HEAD")])
                return 405
            return await self._unlock(scope, receive, send, link, short_url, path, query, client)
        unlocked = bool(link and link.password_hash and self._unlocked(link, cookie, now))
        decision = decide_redirect(
            link,
            RedirectRequest(method=method, key=key, is_inspect=inspect, query=query,
                            unlocked=unlocked, user_agent=ua, now=now),
            permanent_max_age=self.settings.permanent_redirect_max_age,
        )
        if isinstance(decision, Redirect):
            assert link is not None
            headers = [(b"location", decision.location.encode("utf-8")), NOINDEX]
            if decision.cache_control:
                headers.append((b"cache-control", decision.cache_control.encode()))
            else:
                headers.append((b"cache-control", b"no-store"))
            # Publish before answering: once the visitor has the redirect, the click is on disk.
            if decision.record_click:
                self._publish(link, decision, method, client, ua, referrer, country, now)
            await send_bytes(send, decision.status, b"", b"text/plain", head=True,
                             headers=headers)
            return decision.status
        if isinstance(decision, ExpiredRedirect):
            headers = [(b"location", decision.location.encode("utf-8")), NOINDEX,
                       (b"cache-control", b"no-store")]
            await send_bytes(send, 302, b"", b"text/plain", head=True, headers=headers)
            return 302
        if isinstance(decision, PasswordPage):
            return await self._page(send, 401, pages.password_page(short_url=short_url), method)
        if isinstance(decision, InspectPage):
            html = pages.inspect_page(short_url=short_url, destination=decision.link.url,
                                      created_at=decision.link.created_at,
                                      title=decision.link.title)
            return await self._page(send, 200, html, method)
        if isinstance(decision, GonePage):
            return await self._page(send, 410, pages.gone_page(reason=decision.reason,
                                                               short_url=short_url), method)
        assert isinstance(decision, NotFoundPage)
        return await self._page(send, 404, pages.not_found_page(short_url=short_url), method)

    def _client_ip(self, scope: Scope, forwarded: str) -> str:
        hops = self.settings.trusted_proxy_count
        if hops and forwarded:
            parts = [p.strip() for p in forwarded.split(",") if p.strip()]
            if len(parts) >= hops:
                return parts[-hops]
        client = scope.get("client")
        return str(client[0]) if client else ""

    def _publish(
        self, link: LinkRecord, decision: Redirect, method: str, ip: str, ua: str,
        referrer: str, country: str, now: datetime,
    ) -> None:
        event: RawClick = {
            "click_id": str(uuid7()), "ts": round(now.timestamp(), 3), "org_id": link.org_id,
            "link_id": link.id, "domain": link.domain, "key": link.key,
            "url": decision.location, "trigger": decision.trigger, "ip": ip, "ua": ua,
            "referrer": referrer, "country": country[:2] if len(country) == 2 else "",
            "method": "HEAD" if method == "HEAD" else "GET",
        }
        try:
            self.publisher.publish(encode_click(event))
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
        except Exception:  # noqa: BLE001 — a malformed Cookie header just means "locked"
            return False
        morsel = jar.get(f"lh_unlock_{link.id}")
        return morsel is not None and check_unlock_token(
            morsel.value, link_id=link.id, password_hash=link.password_hash,
            secret=self.secret_key, now=now, max_age=UNLOCK_TTL,
        )

    async def _unlock(
        self, scope: Scope, receive: Receive, send: Send, link: LinkRecord, short_url: str,
        path: str, query: str, client: str,
    ) -> int:
        assert link.password_hash is not None
        limit_keys = [f"{client}:{link.id}"]
        wait = self.password_failures.retry_after(limit_keys, time.monotonic())
        if wait:
            html = pages.password_page(short_url=short_url,
                                       error=f"Too many attempts. Try again in {wait} seconds.")
            return await self._page(send, 429, html, "POST")
        body = await read_body(receive, 8192)
        if body is None:
            return await self._page(send, 413, pages.password_page(
                short_url=short_url, error="That was too long."), "POST")
        password = (parse_qs(body.decode("utf-8", "replace")).get("password") or [""])[0]
        ok = bool(password) and await asyncio.to_thread(
            verify_password, link.password_hash, password
        )
        if not ok:
            self.password_failures.fail(limit_keys, time.monotonic())
            html = pages.password_page(short_url=short_url, error="Wrong password. Try again.")
            return await self._page(send, 401, html, "POST")
        self.password_failures.reset(limit_keys)
        token = password_unlock_token(link.id, link.password_hash, self.secret_key,
                                      now=datetime.now(UTC))
        secure = "; Secure" if self.settings.short_scheme == "https" else ""
        cookie = (f"lh_unlock_{link.id}={token}; Max-Age={int(UNLOCK_TTL.total_seconds())}; "
                  f"Path=/; HttpOnly; SameSite=Lax{secure}")
        location = path + (f"?{query}" if query else "")
        headers = [(b"location", location.encode("utf-8")), (b"set-cookie", cookie.encode()),
                   (b"cache-control", b"no-store"), NOINDEX]
        await send_bytes(send, 303, b"", b"text/plain", head=True, headers=headers)
        return 303

    async def _page(self, send: Send, status: int, html: str, method: str) -> int:
        await send_bytes(send, status, html.encode(), HTML, head=method == "HEAD",
                         headers=[NOINDEX, (b"cache-control", b"no-store")])
        return status
