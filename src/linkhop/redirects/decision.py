"""The redirect decision: what to answer for a short-link request, as a pure function.

Order (architecture §3, Dub's order from peers.md §7):

1. unknown key → :class:`NotFoundPage`;
2. inspect (``key+``) → :class:`InspectPage`, except that a password link shows its password
   page until unlocked (as Dub does) and an archived link stays :class:`GonePage`: archiving is
   how links are taken out of service, abuse included, and inspect must not reveal where they
   went;
3. password → :class:`PasswordPage` until unlocked. It comes before everything about the link's
   state, so a locked link tells strangers nothing, not even that it expired;
4. archived → :class:`GonePage` ``"archived"``. 410 rather than Dub's 404: the link existed and
   was retired on purpose, which is the meaning of 410 (RFC 9110 §15.5.11), tells crawlers to
   drop it, and lets the visitor tell a retired link from a typo;
5. expired, then click limit reached → :class:`ExpiredRedirect` (302) to the link's
   ``expired_url`` when set, else :class:`GonePage`. The click counter is maintained by the
   worker in batches, so a click limit is approximate under load by design;
6. otherwise :class:`Redirect` with the link's status.

Caching: 302 and 307 carry no ``Cache-Control``: they are not heuristically cacheable
(RFC 9111 §4.2.2), so every click reaches us and a destination edit takes effect at once
(peers.md §5: "Default to 302 with no cache headers"). 301 and 308 ARE heuristically
cacheable, possibly for a long time, so they get an explicit short ``private, max-age=N``:
bounded staleness, and no shared cache keeps them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from linkhop.redirects.query import merge_query, query_value

RedirectStatus = Literal[301, 302, 307, 308]
GoneReason = Literal["expired", "max_clicks", "archived"]
Trigger = Literal["link", "qr"]

_STATUSES: dict[int, RedirectStatus] = {301: 301, 302: 302, 307: 307, 308: 308}
REDIRECT_STATUSES: frozenset[int] = frozenset(_STATUSES)
CONTROL_PARAMS: frozenset[str] = frozenset({"qr"})
"""Our own query parameters: read by the redirect service, never forwarded to destinations."""
INSPECT_SUFFIX = "+"


@dataclass(frozen=True, slots=True)
class LinkRecord:
    """What the short-key cache holds for one link: everything the decision needs."""

    id: str
    org_id: str
    domain: str
    key: str
    url: str
    expires_at: datetime | None
    expired_url: str | None
    max_clicks: int | None
    clicks: int
    password_hash: str | None
    archived: bool
    redirect_status: int
    forward_query: bool
    title: str | None = None
    created_at: datetime | None = None

    def __post_init__(self) -> None:
        # Checked once when the cache loads the record, so the hot path can trust it.
        if self.redirect_status not in REDIRECT_STATUSES:
            raise ValueError(
                f"redirect_status must be 301, 302, 307 or 308, not {self.redirect_status}"
            )


# RedirectRequest and Redirect are made for every click, so they are plain slotted dataclasses:
# a frozen one's __init__ goes through object.__setattr__ per field (measured 3.3 µs against
# 1.3 µs here). Treat them as immutable all the same.
@dataclass(slots=True)
class RedirectRequest:
    """The parts of an HTTP request the decision looks at."""

    method: str
    key: str
    is_inspect: bool
    query: str
    unlocked: bool
    user_agent: str
    now: datetime


@dataclass(slots=True)  # not frozen: see RedirectRequest
class Redirect:
    """Send the visitor on; ``record_click`` says whether a click event is published."""

    location: str
    status: RedirectStatus
    cache_control: str | None
    trigger: Trigger
    record_click: bool


@dataclass(frozen=True, slots=True)
class InspectPage:
    """Show where the link goes instead of going there."""

    link: LinkRecord


@dataclass(frozen=True, slots=True)
class PasswordPage:
    """Ask for the link's password; ``error`` is shown above the form."""

    link: LinkRecord
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ExpiredRedirect:
    """302 to the link's ``expired_url``; no click is recorded for the link."""

    location: str
    reason: GoneReason


@dataclass(frozen=True, slots=True)
class GonePage:
    """410: the link exists but no longer serves."""

    reason: GoneReason


@dataclass(frozen=True, slots=True)
class NotFoundPage:
    """404: no such link on this domain."""


Decision = Redirect | InspectPage | PasswordPage | ExpiredRedirect | GonePage | NotFoundPage


def split_inspect_suffix(requested_key: str) -> tuple[str, bool]:
    """Split ``key+`` into ``("key", True)``; other keys come back as ``(key, False)``."""
    # Custom keys may not end with '+', so one trailing '+' is always the inspect suffix.
    if len(requested_key) > 1 and requested_key.endswith(INSPECT_SUFFIX):
        return requested_key[: -len(INSPECT_SUFFIX)], True
    return requested_key, False


def _as_utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; every timestamp we store is UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _gone_reason(link: LinkRecord, now: datetime) -> GoneReason | None:
    if link.archived:
        return "archived"
    if link.expires_at is not None and _as_utc(now) >= _as_utc(link.expires_at):
        return "expired"
    if link.max_clicks is not None and link.clicks >= link.max_clicks:
        return "max_clicks"
    return None


def _stop(link: LinkRecord, request: RedirectRequest) -> Decision | None:
    """Every answer other than the normal redirect, in decision order; None to redirect."""
    if link.password_hash and not request.unlocked:
        return PasswordPage(link)
    if request.is_inspect:
        return GonePage("archived") if link.archived else InspectPage(link)
    reason = _gone_reason(link, request.now)
    if reason is None:
        return None
    if reason != "archived" and link.expired_url:
        return ExpiredRedirect(location=link.expired_url, reason=reason)
    return GonePage(reason)


def decide_redirect(
    link: LinkRecord | None, request: RedirectRequest, *, permanent_max_age: int
) -> Decision:
    """Decide the answer to a short-link request (order and caching: see the module docstring)."""
    if link is None:
        return NotFoundPage()
    stop = _stop(link, request)
    if stop is not None:
        return stop
    query = request.query
    trigger: Trigger = "qr" if query and query_value(query, "qr") == "1" else "link"
    location = link.url
    if query and link.forward_query:
        location = merge_query(link.url, query, strip=CONTROL_PARAMS)
    status = _STATUSES[link.redirect_status]
    cache_control = f"private, max-age={permanent_max_age}" if status in {301, 308} else None
    return Redirect(
        location=location,
        status=status,
        cache_control=cache_control,
        trigger=trigger,
        # HEAD and empty user agents are recorded too; the worker flags them as bots.
        record_click=True,
    )


def _unlock_mac(link_id: str, password_hash: str, secret: str | bytes, issued: int) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    # The password hash is in the message, so changing a link's password voids every cookie.
    message = f"linkhop-unlock\x00{link_id}\x00{password_hash}\x00{issued}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def password_unlock_token(
    link_id: str, password_hash: str, secret: str | bytes, *, now: datetime
) -> str:
    """A cookie value proving the visitor gave this link's current password at ``now``."""
    issued = int(_as_utc(now).timestamp())
    return f"{issued}.{_unlock_mac(link_id, password_hash, secret, issued)}"


def check_unlock_token(
    token: str,
    *,
    link_id: str,
    password_hash: str,
    secret: str | bytes,
    now: datetime,
    max_age: timedelta,
) -> bool:
    """Whether ``token`` unlocks this link now: right MAC, not older than ``max_age``."""
    issued_text, dot, mac = token.partition(".")
    if not dot or not issued_text.isascii() or not issued_text.isdigit() or len(issued_text) > 12:
        return False
    issued = int(issued_text)
    age = _as_utc(now).timestamp() - issued
    # A token from the future (beyond clock skew between replicas) was not issued by us.
    if age > max_age.total_seconds() or age < -300:
        return False
    expected = _unlock_mac(link_id, password_hash, secret, issued)
    return hmac.compare_digest(expected.encode("ascii"), mac.encode("ascii", "replace"))
