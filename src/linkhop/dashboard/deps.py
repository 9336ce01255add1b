"""What every dashboard page needs: the signed-in user and principal, CSRF-checked forms, and
the viewer's time zone.

Sessions are the server-side ones of ``linkhop.auth`` behind the same ``linkhop_session`` cookie
the API accepts; every form carries a CSRF token (``linkhop.auth.csrf``) bound to that session.
Forms shown before sign-in (setup, sign-in) bind their token to a random nonce kept in an
HttpOnly cookie instead, so a third-party page cannot sign a visitor into another account.

Someone in several organisations picks the one they work in with the header's switcher
(``orgswitch.py``). The choice is kept in the ``linkhop_org`` cookie, signed with the server
secret and bound to the session, and it is checked against the user's memberships on every
request: a forged, stale or foreign org id is ignored (the first org is used), never trusted.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from functools import cache
from typing import Annotated
from zoneinfo import ZoneInfo, available_timezones

from fastapi import Depends, Request, Response
from starlette.datastructures import FormData

from linkhop.auth import service as auth_service
from linkhop.auth.csrf import check_csrf, csrf_token
from linkhop.auth.models import User, UserSession
from linkhop.deps import SESSION_COOKIE, NowDep, RuntimeDep, SessionDep
from linkhop.errors import Forbidden, Unauthenticated
from linkhop.orgs import service as orgs_service
from linkhop.principal import Principal, require
from linkhop.runtime import Runtime

ANON_CSRF_COOKIE = "linkhop_csrf"
TZ_COOKIE = "linkhop_tz"
ORG_COOKIE = "linkhop_org"
CSRF_FIELD = "csrf_token"
CSRF_FAILED = (
    "The form's security token is missing or does not match your session, so nothing was "
    "changed. This happens when a form was open while you signed in again elsewhere, or when "
    "the page was tampered with. Reload the page and try again."
)
UTC = ZoneInfo("UTC")


class SignInRequired(Exception):
    """No live session: the page answers with a redirect to the sign-in form."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "sign in required")
        self.message = message


@dataclass(frozen=True, slots=True)
class OrgChoice:
    """One organisation the user belongs to, as the header's switcher lists it."""

    id: str
    name: str
    role: str


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The signed-in user of a page, the org they act in, and their CSRF token."""

    principal: Principal
    user: User
    org_name: str
    session: UserSession
    csrf_token: str
    tz: ZoneInfo
    # Every org of the user (oldest membership first); the switcher shows when there are two+.
    orgs: tuple[OrgChoice, ...] = field(default=())

    @property
    def session_id(self) -> str:
        """The id of the browser's server-side session."""
        return self.session.id

    def can(self, permission: str) -> bool:
        """Whether the user's role grants ``permission`` (templates hide controls with it)."""
        return self.principal.can(permission)


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def zone_named(name: str) -> ZoneInfo | None:
    """The IANA time zone ``name``, or None when it is not one."""
    return ZoneInfo(name) if name in _zones() else None


def viewer_tz(request: Request) -> ZoneInfo:
    """The browser's IANA time zone (set by app.js in a cookie), UTC until known."""
    return zone_named(request.cookies.get(TZ_COOKIE, "")) or UTC


def _org_signature(secret: str, session_id: str, org_id: str) -> str:
    message = f"org:{session_id}:{org_id}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32]


def org_cookie_value(secret: str, session_id: str, org_id: str) -> str:
    """The ``linkhop_org`` cookie naming ``org_id`` for this session (signed, session-bound)."""
    return f"{org_id}.{_org_signature(secret, session_id, org_id)}"


def chosen_org_id(request: Request, secret: str, session_id: str) -> str | None:
    """The org id the browser chose, if the cookie is ours and for this session.

    Only a hint: the caller still checks that the user is a member of it.
    """
    raw = request.cookies.get(ORG_COOKIE, "")
    org_id, _, signature = raw.rpartition(".")
    if not org_id or not hmac.compare_digest(signature, _org_signature(secret, session_id, org_id)):
        return None
    return org_id


async def get_signed_in(
    request: Request, session: SessionDep, runtime: RuntimeDep, now: NowDep
) -> SignedIn:
    """The page's user, or ``SignInRequired``."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise SignInRequired
    try:
        row, user = await auth_service.resolve_session(session, token=token, now=now)
    except Unauthenticated as exc:
        raise SignInRequired("Your session has ended. Sign in again.") from exc
    # One query for every org of the user: the chosen one (if the user is still a member of
    # it; else their first) and the switcher's names.
    member_of = await orgs_service.orgs_of_user(session, user_id=user.id)
    if not member_of:
        raise Forbidden("this account belongs to no organisation")
    wanted = chosen_org_id(request, runtime.secret_key, row.id)
    membership, org = next(((m, o) for m, o in member_of if m.org_id == wanted), member_of[0])
    principal = await orgs_service.principal_of_membership(session, membership)
    require(principal, "org:read")
    orgs: tuple[OrgChoice, ...] = ()
    if len(member_of) > 1:
        orgs = tuple(OrgChoice(m.org_id, o.name, m.role) for m, o in member_of)
    request.state.user_session_id = row.id
    return SignedIn(
        principal=principal,
        user=user,
        org_name=org.name,
        session=row,
        csrf_token=csrf_token(secret=runtime.secret_key, session_id=row.id),
        tz=viewer_tz(request),
        orgs=orgs,
    )


SignedInDep = Annotated[SignedIn, Depends(get_signed_in)]


class Form:
    """A submitted form's text fields (file parts read as empty)."""

    def __init__(self, data: FormData) -> None:
        self._data = data

    def get(self, name: str, default: str = "") -> str:
        """The field's value, or ``default`` when absent."""
        value = self._data.get(name)
        return value if isinstance(value, str) else default

    def has(self, name: str) -> bool:
        """Whether the field was sent (an unchecked checkbox is not)."""
        return name in self._data

    def values(self) -> dict[str, str]:
        """Every text field (first value each), for re-showing a refused form."""
        return {k: v for k, v in self._data.items() if isinstance(v, str) and k != CSRF_FIELD}


def _check(runtime: Runtime, binding: str, token: str | None) -> None:
    try:
        check_csrf(secret=runtime.secret_key, session_id=binding, token=token)
    except Forbidden as exc:
        raise Forbidden(CSRF_FAILED, code="csrf_failed") from exc


async def get_form(request: Request, me: SignedInDep, runtime: RuntimeDep) -> Form:
    """The POSTed form of a signed-in user, after its CSRF token was checked."""
    form = Form(await request.form())
    token = form.get(CSRF_FIELD) or request.headers.get("X-CSRF-Token")
    _check(runtime, me.session_id, token)
    return form


FormDep = Annotated[Form, Depends(get_form)]


def anon_csrf(request: Request, runtime: Runtime) -> tuple[str, str | None]:
    """A CSRF token for a form shown before sign-in, and the new nonce to store (if one was made).

    The nonce cookie stays for a day so several tabs (and a refused attempt) keep one token.
    """
    nonce = request.cookies.get(ANON_CSRF_COOKIE)
    fresh = None
    if not nonce:
        nonce = fresh = secrets.token_urlsafe(24)
    return csrf_token(secret=runtime.secret_key, session_id=f"anon:{nonce}"), fresh


def store_anon_nonce(response: Response, nonce: str | None) -> None:
    """Set the nonce cookie that ``anon_csrf`` made (no-op when it reused one)."""
    if nonce:
        response.set_cookie(
            ANON_CSRF_COOKIE, nonce, httponly=True, samesite="lax", path="/app", max_age=86400
        )


async def get_anon_form(request: Request, runtime: RuntimeDep) -> Form:
    """A POSTed pre-sign-in form (setup, sign-in) after its CSRF token was checked."""
    form = Form(await request.form())
    nonce = request.cookies.get(ANON_CSRF_COOKIE)
    if not nonce:
        raise Forbidden(
            "Your browser did not send this form's cookie, so nothing was changed. Allow "
            "cookies for this site, reload the page and try again.",
            code="csrf_failed",
        )
    _check(runtime, f"anon:{nonce}", form.get(CSRF_FIELD))
    return form


AnonFormDep = Annotated[Form, Depends(get_anon_form)]
