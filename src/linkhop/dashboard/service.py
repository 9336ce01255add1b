"""First-run setup and dashboard sign-in: the few rules the pages add on top of auth and orgs."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
from datetime import datetime, timedelta

import structlog
from fastapi import Request, Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from linkhop.asgi import client_ip
from linkhop.audit import service as audit_service
from linkhop.auth import service as auth_service
from linkhop.auth.models import User, UserSession
from linkhop.deps import SESSION_COOKIE
from linkhop.errors import Conflict
from linkhop.ids import UserId
from linkhop.orgs import service as orgs_service
from linkhop.runtime import Runtime
from linkhop.settings import Settings

log = structlog.get_logger("linkhop")
# Any constant works: it names "the first-run setup" among PostgreSQL advisory locks.
_SETUP_LOCK = 0x6C6B6870_5E7A


def setup_token(secret: str) -> str:
    """The token of the setup URL printed in the log (derived from the server secret)."""
    return hmac.new(secret.encode(), b"first-run-setup", hashlib.sha256).hexdigest()[:32]


def setup_token_needed(request: Request, settings: Settings) -> bool:
    """Whether this visitor must show the logged setup token.

    A browser on the server's own machine may set up without it (the README's first run: open
    http://127.0.0.1:8080/app). Anyone else, or anything behind a proxy (which connects from
    loopback but adds X-Forwarded-For), needs the token from the server log, so an install
    exposed on a network cannot be claimed by the first stranger who finds it.
    """
    if settings.trusted_proxy_count or "x-forwarded-for" in request.headers:
        return True
    peer = request.client.host if request.client else ""
    try:
        return not ipaddress.ip_address(peer).is_loopback
    except ValueError:
        return True


def setup_token_ok(request: Request, runtime: Runtime, token: str) -> bool:
    """Whether the request may use the setup form."""
    if not setup_token_needed(request, runtime.settings):
        return True
    return hmac.compare_digest(token, setup_token(runtime.secret_key))


async def needs_setup(session: AsyncSession) -> bool:
    """True until the first user exists."""
    return await auth_service.count_users(session) == 0


async def create_first_owner(
    session: AsyncSession, *, email: str, password: str, name: str | None, org_name: str
) -> User:
    """Create the first user as owner of a new org; refused once any user exists."""
    if (await session.connection()).dialect.name == "postgresql":
        # Two setup forms sent at once must not both see "no users yet". SQLite needs no lock:
        # its transactions begin IMMEDIATE, so the count below already holds the write lock.
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SETUP_LOCK})
    if not await needs_setup(session):
        raise Conflict(
            "linkhop is already set up: sign in with an existing account", code="already_set_up"
        )
    user = await auth_service.create_user(session, email=email, password=password, name=name)
    await orgs_service.create_org(session, name=org_name, owner_id=UserId(user.id))
    return user


async def announce_setup(runtime: Runtime, base_url: str) -> str | None:
    """Log the setup URL when no user exists yet; returns it (None when set up)."""
    async with runtime.sessionmaker() as session:
        if not await needs_setup(session):
            return None
    url = f"{base_url.rstrip('/')}/app/setup?token={setup_token(runtime.secret_key)}"
    log.warning("setup_required", url=url, hint="open this URL to create the first account")
    return url


def client_address(request: Request, settings: Settings) -> str:
    """The client's address as the API's login rate limit counts it."""
    return client_ip(request.scope, settings.trusted_proxy_count) or "unknown"


def login_keys(request: Request, settings: Settings, email: str) -> list[str]:
    """The rate-limit keys of a sign-in attempt: the same as ``POST /api/v1/auth/login``."""
    return [f"email:{email.strip().lower()}", f"ip:{client_address(request, settings)}"]


async def start_session(
    session: AsyncSession, *, runtime: Runtime, request: Request, user: User, now: datetime
) -> tuple[UserSession, str]:
    """Start a server-side session for ``user`` (audited); returns the row and cookie token."""
    ttl = timedelta(hours=runtime.settings.session_ttl_hours)
    row, token = await auth_service.create_session(
        session, user=user, now=now, ttl=ttl, user_agent=request.headers.get("user-agent")
    )
    audit_service.record(
        session,
        principal=None,
        action="session.created",
        target_type="session",
        target_id=row.id,
        actor=("user", user.id),
        data={"ip": client_address(request, runtime.settings), "via": "dashboard"},
    )
    return row, token


def secure_request(request: Request, settings: Settings) -> bool:
    """Whether cookies get the Secure flag: configured, or the browser came over https."""
    if settings.secure_cookies or request.url.scheme == "https":
        return True
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return bool(settings.trusted_proxy_count) and forwarded == "https"


def set_session_cookie(
    response: Response, request: Request, settings: Settings, token: str
) -> None:
    """The session cookie: HttpOnly, SameSite=Lax, Secure behind https."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_ttl_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=secure_request(request, settings),
        path="/",
    )


async def announce_setup_when_ready(
    runtime: Runtime, *, ready: asyncio.Event, base_url: str
) -> bool:
    """Once the database is reachable, log the setup URL if no user exists; True if logged."""
    await ready.wait()
    try:
        return await announce_setup(runtime, base_url) is not None
    except (SQLAlchemyError, OSError) as exc:  # a missing hint must not take the server down
        log.warning("setup_check_failed", error=str(exc))
        return False
