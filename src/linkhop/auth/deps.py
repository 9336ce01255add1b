"""Dependencies for endpoints that act for a signed-in PERSON rather than for an org principal:
account settings (password, sessions) and accepting invitations.

They take the dashboard session cookie only. API keys are org-scoped automation credentials and
are refused here (403 ``session_required``): a leaked key must not change its owner's password,
list their sessions or join orgs on their behalf. Writes need the session's X-CSRF-Token, like
every other cookie-authenticated write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials

from linkhop.auth import service as auth_service
from linkhop.auth.csrf import check_csrf
from linkhop.auth.models import User, UserSession
from linkhop.deps import NowDep, RuntimeDep, SessionDep, bearer, session_cookie
from linkhop.errors import Forbidden, Unauthenticated

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The caller's live session and user."""

    session: UserSession
    user: User


async def optional_signed_in(
    request: Request,
    *,
    session: SessionDep,
    runtime: RuntimeDep,
    now: NowDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    cookie: Annotated[str | None, Depends(session_cookie)],
) -> SignedIn | None:
    """The signed-in caller, or None without a cookie. A dead cookie is a 401 (the caller
    believes they are signed in and must learn otherwise); an API key is a 403."""
    if credentials is not None:
        raise Forbidden(
            "this endpoint acts for a signed-in person: use a dashboard session "
            "(POST /api/v1/auth/login), not an API key",
            code="session_required",
        )
    if not cookie:
        return None
    user_session, user = await auth_service.resolve_session(session, token=cookie, now=now)
    if request.method not in _SAFE_METHODS:
        check_csrf(
            secret=runtime.secret_key,
            session_id=user_session.id,
            token=request.headers.get("X-CSRF-Token"),
        )
    request.state.user_session_id = user_session.id
    return SignedIn(session=user_session, user=user)


async def require_signed_in(
    signed_in: Annotated[SignedIn | None, Depends(optional_signed_in)],
) -> SignedIn:
    """The signed-in caller; 401 without a session."""
    if signed_in is None:
        raise Unauthenticated("sign in first: this needs a dashboard session cookie")
    return signed_in


OptionalSignedInDep = Annotated[SignedIn | None, Depends(optional_signed_in)]
SignedInDep = Annotated[SignedIn, Depends(require_signed_in)]
