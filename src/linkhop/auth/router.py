"""HTTP routes for signing in and out with email and password (sessions for the dashboard)."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from linkhop.asgi import client_ip
from linkhop.audit import service as audit_service
from linkhop.auth import service as auth_service
from linkhop.auth.csrf import csrf_token
from linkhop.auth.schemas import LoginIn, LoginOut
from linkhop.deps import SESSION_COOKIE, NowDep, RuntimeDep, SessionDep, session_cookie
from linkhop.errors import RateLimited, Unauthenticated

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
    response: Response,
    session: SessionDep,
    now: NowDep,
    cookie: Annotated[str | None, Depends(session_cookie)],
) -> Response:
    """End the current session (idempotent)."""
    if cookie:
        try:
            row, _ = await auth_service.resolve_session(session, token=cookie, now=now)
        except Unauthenticated:
            row = None
        if row is not None:
            await auth_service.revoke_session(session, session_id=row.id, now=now)
            audit_service.record(
                session,
                principal=None,
                action="session.revoked",
                target_type="session",
                target_id=row.id,
                actor=("user", row.user_id),
            )
    out = Response(status_code=204)
    out.delete_cookie(SESSION_COOKIE, path="/")
    return out
