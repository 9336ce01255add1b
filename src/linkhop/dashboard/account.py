"""Pages: your account — change the password, see your sessions, sign out the other ones.

Both changes go through ``linkhop.auth.service`` (the same calls as ``POST /api/v1/auth/...``):
a password change checks the current password (ten wrong guesses lock the form for the sign-in
window, so a stolen session cannot brute-force it), signs out every other session, and is
audited; so is signing out the other sessions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from linkhop.auth import service as auth_service
from linkhop.auth.models import UserSession
from linkhop.dashboard.deps import FormDep, SignedIn, SignedInDep
from linkhop.dashboard.forms import FormState, sentence
from linkhop.dashboard.rendering import PREFIX, redirect, render
from linkhop.deps import NowDep, RuntimeDep, SessionDep
from linkhop.errors import Invalid, RateLimited
from linkhop.ids import UserId
from linkhop.ingest.useragent import parse_user_agent
from linkhop.runtime import Runtime

router = APIRouter(prefix="/account")
ACCOUNT = f"{PREFIX}/account"
PASSWORDS_DIFFER = "The two new passwords do not match."
PASSWORD_FIELDS = frozenset({"current_password", "new_password", "new_password_confirm"})


@dataclass(frozen=True, slots=True)
class SessionRow:
    """One signed-in browser as the account page lists it."""

    id: str
    device: str
    created_at: datetime
    last_seen_at: datetime | None
    expires_at: datetime
    current: bool


def describe_agent(user_agent: str | None) -> str:
    """``Firefox 128 on Linux`` from a user agent string (``Unknown browser`` when empty)."""
    if not user_agent:
        return "Unknown browser"
    info = parse_user_agent(user_agent)
    browser = info.browser or "Unknown browser"
    if info.browser_version:
        browser += f" {info.browser_version.split('.')[0]}"
    return f"{browser} on {info.os}" if info.os and info.os != "Other" else browser


def _rows(sessions: list[UserSession], current_id: str) -> list[SessionRow]:
    rows = [
        SessionRow(
            id=s.id,
            device=describe_agent(s.user_agent),
            created_at=s.created_at,
            last_seen_at=s.last_seen_at,
            expires_at=s.expires_at,
            current=s.id == current_id,
        )
        for s in sessions
    ]
    return sorted(rows, key=lambda r: not r.current)  # this browser first


async def _account_page(
    request: Request,
    session: AsyncSession,
    runtime: Runtime,
    me: SignedIn,
    now: datetime,
    *,
    state: FormState | None = None,
    status: int = 200,
) -> Response:
    sessions = await auth_service.list_sessions(session, user_id=UserId(me.user.id), now=now)
    rows = _rows(sessions, me.session_id)
    context: dict[str, Any] = {
        "me": me,
        "nav": "account",
        "title": "Account",
        "state": state or FormState(fields=PASSWORD_FIELDS),
        "sessions": rows,
        "others": sum(1 for r in rows if not r.current),
    }
    return render(
        request, "account/account.html", context, status=status, secret=runtime.secret_key
    )


@router.get("")
async def account_page(
    request: Request, session: SessionDep, runtime: RuntimeDep, me: SignedInDep, now: NowDep
) -> Response:
    """Your profile, the password form and your signed-in sessions."""
    return await _account_page(request, session, runtime, me, now)


def _sessions_phrase(count: int) -> str:
    return (
        "No other session was signed in."
        if count == 0
        else (f"{count} other session{'s were' if count != 1 else ' was'} signed out.")
    )


@router.post("/password")
async def change_password(
    request: Request,
    *,
    session: SessionDep,
    runtime: RuntimeDep,
    me: SignedInDep,
    form: FormDep,
    now: NowDep,
) -> Response:
    """Change your password; every other session is signed out, this one stays."""
    state = FormState(fields=PASSWORD_FIELDS)  # no values: passwords are never echoed back
    current, new = form.get("current_password"), form.get("new_password")
    if not current:
        state.errors["current_password"] = "Enter your current password."  # noqa: S105 — a message
    if not new:
        state.errors["new_password"] = "Enter a new password."  # noqa: S105 — a message
    elif new != form.get("new_password_confirm"):
        state.errors["new_password_confirm"] = PASSWORDS_DIFFER
    status, retry_after = 422, 0
    if not state.errors:
        try:
            async with session.begin_nested():
                revoked = await auth_service.change_password(
                    session,
                    user_id=UserId(me.user.id),
                    current_password=current,
                    new_password=new,
                    current_session_id=me.session_id,
                    now=now,
                    failures=runtime.login_failures,
                )
        except Invalid as exc:
            state.add(exc)
        except RateLimited as exc:
            state.message = sentence(exc.detail)
            status, retry_after = 429, exc.retry_after
        else:
            done = f"Your password was changed. {_sessions_phrase(revoked)}"
            return redirect(ACCOUNT, secret=runtime.secret_key, flash=("success", done))
    response = await _account_page(request, session, runtime, me, now, state=state, status=status)
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


@router.post("/sessions/sign-out-others")
async def sign_out_others(
    *, session: SessionDep, runtime: RuntimeDep, me: SignedInDep, form: FormDep, now: NowDep
) -> Response:
    """Sign out every session of yours except this browser's."""
    revoked = await auth_service.sign_out_other_sessions(
        session, user_id=UserId(me.user.id), current_session_id=me.session_id, now=now
    )
    done = "You were signed in nowhere else."
    if revoked:
        plural = "s" if revoked != 1 else ""
        done = f"Signed out {revoked} other session{plural}. This browser stays signed in."
    return redirect(ACCOUNT, secret=runtime.secret_key, flash=("success", done))
