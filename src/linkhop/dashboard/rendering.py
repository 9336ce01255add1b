"""Rendering pages: the Jinja2 environment, versioned static URLs and one-shot flash messages."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import orjson
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

PREFIX = "/app"
HERE = Path(__file__).parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"
FLASH_COOKIE = "linkhop_flash"
FLASH_KINDS = frozenset({"success", "info", "warning", "error"})

# The sidebar. Other pages fill in their entries; ``key`` is what a page passes as ``nav``.
NAV: tuple[tuple[str, str, str], ...] = (
    ("links", "Links", f"{PREFIX}/links"),
    ("analytics", "Analytics", f"{PREFIX}/analytics"),
    ("team", "Team", f"{PREFIX}/team"),
    ("keys", "API keys", f"{PREFIX}/keys"),
    ("account", "Account", f"{PREFIX}/account"),
)


def section_href(key: str) -> str:
    """The first page of the sidebar section ``key`` (the links page for an unknown key)."""
    return next((href for k, _, href in NAV if k == key), f"{PREFIX}/links")


@cache
def _file_version(name: str) -> str:
    # Content hash in the URL: browsers may cache the file for a year and still get a new one
    # the moment it changes (see security.py for the Cache-Control header).
    return hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]


def static_url(name: str) -> str:
    """The cache-busting URL of a file under ``static/``."""
    return f"{PREFIX}/static/{name}?v={_file_version(name)}"


def format_time(value: datetime | None, tz: tzinfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored (UTC) time shown in the viewer's time zone."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(tz).strftime(fmt)


# (limit in seconds, unit in seconds, singular, plural): the first row whose limit is above the
# distance words it. Rounded, so 90 minutes reads "2 h" rather than "1 h".
_RELATIVE_UNITS: tuple[tuple[float, int, str, str], ...] = (
    (45 * 60, 60, "min", "min"),
    (22 * 3600, 3600, "h", "h"),
    (26 * 86400, 86400, "day", "days"),
    (320 * 86400, 30 * 86400, "month", "months"),
    (float("inf"), 365 * 86400, "year", "years"),
)


def relative_time(value: datetime, now: datetime) -> str:
    """How far ``value`` is from ``now`` in words: "just now", "3 h ago", "in 5 days"."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    seconds = (value - now).total_seconds()
    distance = abs(seconds)
    if distance < 45:
        return "just now"
    for limit, unit, one, many in _RELATIVE_UNITS:
        if distance < limit:
            count = max(1, round(distance / unit))
            words = f"{count} {one if count == 1 else many}"
            return f"in {words}" if seconds > 0 else f"{words} ago"
    raise AssertionError("unreachable: the last unit has no limit")


def when(value: datetime | None, tz: ZoneInfo, now: datetime | None = None) -> Markup:
    """The one way pages show a stored time: relative words in a ``<time>`` element, with the
    exact time as its tooltip (in the viewer's zone, and in UTC when that differs) and as its
    machine-readable ``datetime`` (ISO 8601, UTC). An empty string for None."""
    if value is None:
        return Markup("")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    utc = value.astimezone(UTC)
    exact = f"{format_time(utc, tz)} ({tz.key})"
    if tz.key != "UTC":
        exact += f" · {format_time(utc, UTC)} UTC"
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        utc.isoformat(timespec="seconds"),
        exact,
        relative_time(utc, now or datetime.now(UTC)),
    )


def query_string(params: Mapping[str, object], **changes: object) -> str:
    """``?a=1&b=2`` from ``params`` updated by ``changes``; empty values are left out."""
    merged = {**params, **changes}
    kept = {k: str(v) for k, v in merged.items() if v not in (None, "", False)}
    return f"?{urlencode(kept)}" if kept else ""


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,  # a typo in a template fails the tests instead of rendering ""
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        static_url=static_url,
        nav_items=NAV,
        prefix=PREFIX,
        query_string=query_string,
        section_href=section_href,
    )
    # One format for every stored time on every page: see ``when``.
    env.filters["when"] = when
    return env


templates = _environment()


def warm_up() -> None:
    """Compile every template now rather than on the first visitor's request (≈0.3 s)."""
    for name in templates.list_templates(extensions=["html"]):
        templates.get_template(name)


def _sign(secret: str, payload: bytes) -> str:
    return hmac.new(secret.encode(), b"flash:" + payload, hashlib.sha256).hexdigest()[:32]


def set_flash(response: RedirectResponse | HTMLResponse, secret: str, kind: str, text: str) -> None:
    """Show ``text`` once on the next page this browser renders."""
    assert kind in FLASH_KINDS
    payload = base64.urlsafe_b64encode(orjson.dumps([kind, text])).decode()
    response.set_cookie(
        FLASH_COOKIE,
        f"{payload}.{_sign(secret, payload.encode())}",
        max_age=60,
        httponly=True,
        samesite="lax",
        path=PREFIX,
    )


def read_flash(request: Request, secret: str) -> tuple[str, str] | None:
    """The pending flash message, if its signature is ours."""
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw or "." not in raw:
        return None
    payload, _, signature = raw.rpartition(".")
    if not hmac.compare_digest(signature, _sign(secret, payload.encode())):
        return None
    try:
        kind, text = orjson.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, TypeError):
        return None
    if kind not in FLASH_KINDS or not isinstance(text, str):
        return None
    return kind, text


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    status: int = 200,
    secret: str | None = None,
) -> HTMLResponse:
    """Render a template to a response; pass ``secret`` to show (and consume) a flash message."""
    flash = read_flash(request, secret) if secret else None
    html = templates.get_template(template).render({"flash": flash, **context})
    response = HTMLResponse(html, status_code=status)
    if flash is not None:
        response.delete_cookie(FLASH_COOKIE, path=PREFIX)
    return response


def redirect(
    url: str, *, secret: str | None = None, flash: tuple[str, str] | None = None
) -> RedirectResponse:
    """A 303 See Other (the answer to a successful form POST), optionally with a flash."""
    response = RedirectResponse(url, status_code=303)
    if flash is not None:
        assert secret is not None
        set_flash(response, secret, *flash)
    return response
