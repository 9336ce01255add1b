"""HTTP routes for signing in and out with email and password (sessions for the dashboard)."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from linkhop.asgi import client_ip
from linkhop.audit import service as audit_service
from linkhop.auth import service as auth_service
from linkhop.auth.csrf import check_csrf, csrf_token
from linkhop.auth.deps import SignedInDep
from linkhop.auth.schemas import (
    LoginIn,
    LoginOut,
    PasswordChange,
    PasswordChanged,
    SessionOut,
    SessionsRevoked,
)
from linkhop.deps import SESSION_COOKIE, NowDep, RuntimeDep, SessionDep, session_cookie
from linkhop.errors import RateLimited, Unauthenticated
from linkhop.ids import UserId

router = APIRouter(prefix="/auth", tags=["auth"])


def _client(request: Request, trusted_hops: int) -> str:
    return client_ip(request.scope, trusted_hops) or "unknown"


@router.post("/login", response_model=LoginOut, summary="Sign in")
async def login(
    body: LoginIn,
    request: Request,
    response: Response,
    session: SessionDep,
    runtime: RuntimeDep,
    now: NowDep,
) -> LoginOut:
    """Start a session (HttpOnly cookie). Ten failures in 15 minutes lock the email and address."""
    keys = [
        f"email:{body.email.strip().lower()}",
        f"ip:{_client(request, runtime.settings.trusted_proxy_count)}",
    ]
    wait = runtime.login_failures.retry_after(keys, time.monotonic())
    if wait:
        raise RateLimited(f"too many failed sign-ins; try again in {wait} s", retry_after=wait)
    try:
        user = await auth_service.authenticate(session, email=body.email, password=body.password)
    except Unauthenticated:
        runtime.login_failures.fail(keys, time.monotonic())
        raise
    runtime.login_failures.reset(keys)
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
        data={"ip": keys[1][3:]},
    )
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(ttl.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=runtime.settings.secure_cookies,
        path="/",
    )
    return LoginOut(
        user_id=user.id,
        csrf_token=csrf_token(secret=runtime.secret_key, session_id=row.id),
        expires_at=row.expires_at,
    )


@router.post("/logout", status_code=204, summary="Sign out")
async def logout(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    now: NowDep,
    cookie: Annotated[str | None, Depends(session_cookie)],
) -> Response:
    """End the current session and clear the cookie. Like every cookie write it needs the
    session's X-CSRF-Token (else 403 `csrf_failed` and the session stays); without a live
    session it just clears the cookie (idempotent)."""
    if cookie:
        try:
            row, _ = await auth_service.resolve_session(session, token=cookie, now=now)
        except Unauthenticated:
            row = None
        if row is not None:
            # Without this check any page could sign a visitor out by posting a form here.
            check_csrf(
                secret=runtime.secret_key,
                session_id=row.id,
                token=request.headers.get("X-CSRF-Token"),
            )
            await auth_service.sign_out(session, user_session=row, now=now)
    out = Response(status_code=204)
    out.delete_cookie(SESSION_COOKIE, path="/")
    return out


@router.get("/sessions", response_model=list[SessionOut], summary="List your sessions")
async def list_sessions(
    signed_in: SignedInDep, session: SessionDep, now: NowDep
) -> list[SessionOut]:
    """Your live sign-in sessions, most recently used first (session cookie only)."""
    rows = await auth_service.list_sessions(session, user_id=UserId(signed_in.user.id), now=now)
    return [
        SessionOut(
            id=row.id,
            created_at=row.created_at,
            last_seen_at=row.last_seen_at,
            expires_at=row.expires_at,
            user_agent=row.user_agent,
            current=row.id == signed_in.session.id,
        )
        for row in rows
    ]


@router.post(
    "/sessions/revoke-others", response_model=SessionsRevoked, summary="Sign out other sessions"
)
async def revoke_other_sessions(
    signed_in: SignedInDep, session: SessionDep, now: NowDep
) -> SessionsRevoked:
    """Sign out every session of yours except this one (session cookie + X-CSRF-Token)."""
    revoked = await auth_service.sign_out_other_sessions(
        session,
        user_id=UserId(signed_in.user.id),
        current_session_id=signed_in.session.id,
        now=now,
    )
    return SessionsRevoked(revoked=revoked)


@router.post(
    "/password",
    response_model=PasswordChanged,
    summary="Change your password",
    responses={
        429: {
            "description": "Too many wrong current passwords; see `Retry-After`",
            "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            },
        }
    },
)
async def change_password(
    body: PasswordChange,
    signed_in: SignedInDep,
    session: SessionDep,
    runtime: RuntimeDep,
    now: NowDep,
) -> PasswordChanged:
    """Replace your password (session cookie + X-CSRF-Token). The current password is checked
    (422 `wrong_password`; ten wrong tries lock the form for 15 minutes), the new one follows the
    sign-up rules, and every other session is signed out. API keys keep working."""
    revoked = await auth_service.change_password(
        session,
        user_id=UserId(signed_in.user.id),
        current_password=body.current_password,
        new_password=body.new_password,
        current_session_id=signed_in.session.id,
        now=now,
        failures=runtime.login_failures,
    )
    return PasswordChanged(revoked_sessions=revoked)
