"""Page: accepting an invitation (``/app/invite/{token}``, the link the team page hands out).

The page previews the invitation (organisation, role, email) and offers what fits the visitor:

- signed in as the invited email → a *Join* button;
- no account for that email yet → name + password, which creates the account, joins the org
  and signs the new user in (a session like the sign-in form's);
- the account exists but this browser is not signed in → sign in first, then come back here;
- signed in as someone else → say so (sign out, then open the link again).

An unknown, used, withdrawn or expired link gets a page saying which, and changes nothing. The
page needs no organisation of the visitor (someone removed from their only org can be invited
back), so it resolves the session itself instead of using ``SignedInDep``. The token travels in
the path: the access log redacts it (``apps/middleware.py``) and ``Referrer-Policy:
same-origin`` keeps it from other sites.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from linkhop.auth import service as auth_service
from linkhop.auth.csrf import check_csrf, csrf_token
from linkhop.auth.models import User, UserSession
from linkhop.dashboard import service
from linkhop.dashboard.deps import (
    ANON_CSRF_COOKIE,
    CSRF_FAILED,
    CSRF_FIELD,
    Form,
    anon_csrf,
    get_anon_form,
    store_anon_nonce,
    viewer_tz,
)
from linkhop.dashboard.forms import FormState, sentence
from linkhop.dashboard.orgswitch import remember_org
from linkhop.dashboard.rendering import PREFIX, redirect, render
from linkhop.dashboard.team import ROLE_HELP, ROLE_LABELS
from linkhop.deps import SESSION_COOKIE, NowDep, RuntimeDep, SessionDep
from linkhop.errors import (
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    LinkhopError,
    NotFound,
    Unauthenticated,
)
from linkhop.ids import UserId
from linkhop.invites import service as invites_service
from linkhop.invites.service import AcceptedInvite, InvitePreview
from linkhop.orgs import service as orgs_service
from linkhop.runtime import Runtime

router = APIRouter()
HOME = f"{PREFIX}/links"
ACCOUNT_FIELDS = frozenset({"name", "password", "password_confirm"})
MAX_TOKEN = 200
MAX_NAME = 200
CHOOSE_PASSWORD = "Choose a password."  # noqa: S105 — a message, not a password
PASSWORDS_DIFFER = "The two passwords do not match."
INVALID_TITLES = {
    "invite_not_found": "This invitation link does not work",
    "invite_used": "This invitation was already used",
    "invite_revoked": "This invitation was withdrawn",
    "invite_expired": "This invitation has expired",
}


def loggable_path(path: str) -> str:
    """``path`` for a log line: an invitation link's token is cut off."""
    prefix = f"{PREFIX}/invite/"
    return prefix + "…" if path.startswith(prefix) else path


async def _visitor(
    request: Request, session: SessionDep, now: NowDep
) -> tuple[UserSession, User] | None:
    """The browser's live session and user, or None (no cookie, or a session that ended)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        return await auth_service.resolve_session(session, token=token, now=now)
    except Unauthenticated:
        return None


async def _preview(session: AsyncSession, token: str, now: datetime) -> InvitePreview:
    if len(token) > MAX_TOKEN:
        raise NotFound("no invitation matches this link", code="invite_not_found")
    return await invites_service.preview_invite(session, token=token, now=now)


def _invalid_page(request: Request, exc: LinkhopError) -> Response:
    """Why the link does not work, in the card layout (404 unknown, 410 used/withdrawn/expired)."""
    code = exc.code or "invite_not_found"
    context = {
        "title": INVALID_TITLES.get(code, "This invitation link does not work"),
        "message": sentence(exc.detail).rstrip(".") + ".",
        "reason": code.removeprefix("invite_"),
        "status": exc.status,
    }
    return render(request, "invites/invalid.html", context, status=exc.status)


async def _state(
    session: AsyncSession, preview: InvitePreview, visitor: tuple[UserSession, User] | None
) -> str:
    """What the page offers: join, member, mismatch, sign-in or create."""
    if visitor is not None:
        user = visitor[1]
        if user.email != preview.email:
            return "mismatch"
        memberships = await orgs_service.memberships_of_user(session, user_id=user.id)
        return "member" if any(m.org_id == preview.org_id for m in memberships) else "join"
    return "sign-in" if preview.account_exists else "create"


@dataclass
class _Visit:
    """One request to an invitation's page: what every step needs."""

    request: Request
    session: AsyncSession
    runtime: Runtime
    token: str
    preview: InvitePreview
    now: datetime

    async def page(
        self,
        visitor: tuple[UserSession, User] | None,
        *,
        form_state: FormState | None = None,
        status: int = 200,
    ) -> Response:
        """The invitation page with what fits this visitor."""
        preview, runtime = self.preview, self.runtime
        here = f"{PREFIX}/invite/{self.token}"
        nonce = None
        if visitor is not None:
            csrf = csrf_token(secret=runtime.secret_key, session_id=visitor[0].id)
        else:
            csrf, nonce = anon_csrf(self.request, runtime)
        context: dict[str, Any] = {
            "title": f"Join {preview.org_name}",
            "invite": preview,
            "role_label": ROLE_LABELS.get(preview.role, preview.role),
            "role_help": ROLE_HELP.get(preview.role, ""),
            "state": await _state(self.session, preview, visitor),
            "form": form_state or FormState(fields=ACCOUNT_FIELDS),
            "csrf": csrf,
            "action": here,
            "sign_in_url": f"{PREFIX}/login?next={quote(here, safe='')}",
            "visitor_email": visitor[1].email if visitor else None,
            "tz": viewer_tz(self.request),
        }
        response = render(
            self.request,
            "invites/accept.html",
            context,
            status=status,
            secret=runtime.secret_key,
        )
        store_anon_nonce(response, nonce)
        return response

    async def join(self, visitor: tuple[UserSession, User]) -> Response:
        """A signed-in visitor joins (their email must be the invited one)."""
        form = Form(await self.request.form())
        try:
            check_csrf(
                secret=self.runtime.secret_key,
                session_id=visitor[0].id,
                token=form.get(CSRF_FIELD) or self.request.headers.get("X-CSRF-Token"),
            )
        except Forbidden as exc:
            raise Forbidden(CSRF_FAILED, code="csrf_failed") from exc
        try:
            accepted = await invites_service.accept_invite(
                self.session, token=self.token, now=self.now, user_id=UserId(visitor[1].id)
            )
        except Conflict as exc:  # already a member: nothing to do
            message = sentence(exc.detail) + "."
            return redirect(HOME, secret=self.runtime.secret_key, flash=("info", message))
        except Gone as exc:  # used up in the meantime
            return _invalid_page(self.request, exc)
        role = ROLE_LABELS.get(accepted.role, accepted.role).lower()
        message = (
            f"You joined {accepted.org_name} as {role}. You are working in it now; the "
            "organisation menu at the top switches between your organisations."
        )
        response = redirect(HOME, secret=self.runtime.secret_key, flash=("success", message))
        # Pages act in the org just joined (deps.get_signed_in checks the membership again).
        remember_org(
            response, self.request, self.runtime, session_id=visitor[0].id, org_id=accepted.org_id
        )
        return response

    async def create_account(self) -> Response:
        """No account yet: create it from the form, join, and sign the new user in."""
        form = await get_anon_form(self.request, self.runtime)
        name, password = form.get("name").strip(), form.get("password")
        state = FormState(values={"name": name}, fields=ACCOUNT_FIELDS)
        if len(name) > MAX_NAME:
            state.errors["name"] = f"Name must be at most {MAX_NAME} characters."
        if not password:
            state.errors["password"] = CHOOSE_PASSWORD
        elif password != form.get("password_confirm"):
            state.errors["password_confirm"] = PASSWORDS_DIFFER
        if state.errors:
            return await self.page(None, form_state=state, status=422)
        try:
            async with self.session.begin_nested():
                accepted = await invites_service.accept_invite(
                    self.session, token=self.token, now=self.now, name=name, password=password
                )
        except Invalid as exc:
            state.add(exc)
            return await self.page(None, form_state=state, status=422)
        except Conflict:  # the account was created meanwhile: sign in, then accept
            self.preview = await _preview(self.session, self.token, self.now)
            return await self.page(None, status=409)
        except (NotFound, Gone) as exc:
            return _invalid_page(self.request, exc)
        return await self._signed_in(accepted)

    async def _signed_in(self, accepted: AcceptedInvite) -> Response:
        _, cookie = await service.start_session(
            self.session,
            runtime=self.runtime,
            request=self.request,
            user=accepted.user,
            now=self.now,
        )
        role = ROLE_LABELS.get(accepted.role, accepted.role).lower()
        message = f"Welcome to {accepted.org_name}! You joined as {role}."
        response = redirect(HOME, secret=self.runtime.secret_key, flash=("success", message))
        service.set_session_cookie(response, self.request, self.runtime.settings, cookie)
        response.delete_cookie(ANON_CSRF_COOKIE, path=PREFIX)
        return response


@router.get("/invite/{token}")
async def invite_page(
    token: str, request: Request, session: SessionDep, runtime: RuntimeDep, now: NowDep
) -> Response:
    """What the invitation offers and how to accept it."""
    try:
        preview = await _preview(session, token, now)
    except (NotFound, Gone) as exc:
        return _invalid_page(request, exc)
    visit = _Visit(request, session, runtime, token, preview, now)
    return await visit.page(await _visitor(request, session, now))


@router.post("/invite/{token}")
async def accept(
    token: str, request: Request, session: SessionDep, runtime: RuntimeDep, now: NowDep
) -> Response:
    """Join with the signed-in account, or create the invited account and sign it in."""
    try:
        preview = await _preview(session, token, now)
    except (NotFound, Gone) as exc:
        return _invalid_page(request, exc)
    visit = _Visit(request, session, runtime, token, preview, now)
    visitor = await _visitor(request, session, now)
    if visitor is not None:
        return await visit.join(visitor)
    return await visit.create_account()
