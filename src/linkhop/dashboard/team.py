"""Pages: the team — members and their roles, pending invitations, inviting by a single-use link.

Every change goes through ``linkhop.orgs.service`` and ``linkhop.invites.service`` (which check
permissions, keep one owner, and write the audit trail) inside the request's transaction. A
change that may be refused runs in a SAVEPOINT, so a refusal keeps nothing of it.

An invitation's token exists only in the answer to the form that created it: the page shows the
link once (``#invite-link``) and the database keeps a hash. Reloading the team page never shows
it again; inviting the same email again replaces the link.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from linkhop.auth import service as auth_service
from linkhop.dashboard.deps import FormDep, SignedIn, SignedInDep
from linkhop.dashboard.forms import FormState, sentence
from linkhop.dashboard.rendering import PREFIX, redirect, render
from linkhop.deps import NowDep, RuntimeDep, SessionDep
from linkhop.errors import Conflict, Invalid, LinkhopError
from linkhop.invites import service as invites_service
from linkhop.invites.models import Invite
from linkhop.orgs import service as orgs_service
from linkhop.principal import ROLES, require
from linkhop.runtime import Runtime

router = APIRouter(prefix="/team")
TEAM = f"{PREFIX}/team"
INVITE_FIELDS = frozenset({"email", "role"})
RANK = {"viewer": 0, "member": 1, "admin": 2, "owner": 3}
ROLE_LABELS = {"owner": "Owner", "admin": "Admin", "member": "Member", "viewer": "Viewer"}
ROLE_HELP = {
    "owner": "everything, including the organisation itself and other owners",
    "admin": "links, members, invitations and every API key",
    "member": "links, tags and their own API keys",
    "viewer": "read-only: links and analytics",
}


@dataclass(frozen=True, slots=True)
class MemberRow:
    """One member as the team page shows them, with what the viewer may do to them."""

    user_id: str
    email: str
    name: str | None
    role: str
    joined_at: datetime
    is_me: bool
    role_choices: tuple[str, ...]  # empty: the role cannot be changed by this viewer
    can_remove: bool


@dataclass(frozen=True, slots=True)
class InviteRow:
    """A pending invitation and whether the viewer may revoke it."""

    invite: Invite
    invited_by: str | None
    can_revoke: bool


@dataclass(frozen=True, slots=True)
class NewInvite:
    """The invitation just made: its link is shown this once."""

    url: str
    email: str
    role: str
    expires_at: datetime


def grantable_roles(me: SignedIn) -> tuple[str, ...]:
    """Roles the viewer may give: none without ``members:write``, else up to their own."""
    if not me.can("members:write"):
        return ()
    mine = RANK.get(me.principal.role, -1)
    return tuple(role for role in ROLES if RANK[role] <= mine)


def duration(hours: int) -> str:
    """``7 days``, ``1 day`` or ``36 hours``."""
    if hours % 24:
        return f"{hours} hour{'s' if hours != 1 else ''}"
    days = hours // 24
    return f"{days} day{'s' if days != 1 else ''}"


def _may_manage(me: SignedIn, role: str) -> bool:
    # The services' rules: members:write, and only an owner touches an owner.
    return me.can("members:write") and (role != "owner" or me.principal.role == "owner")


def public_base(request: Request, runtime: Runtime) -> str:
    """Where people reach the dashboard: ``LINKHOP_PUBLIC_URL``, else the address in use."""
    if runtime.settings.public_url:
        return runtime.settings.public_url.rstrip("/")
    return f"{request.url.scheme}://{request.url.netloc}"


async def _member_rows(session: AsyncSession, me: SignedIn) -> list[MemberRow]:
    members = await orgs_service.list_members(session, principal=me.principal)
    users = await auth_service.users_by_ids(session, user_ids=[m.user_id for m in members])
    grantable = grantable_roles(me)
    rows = []
    for m in members:
        user = users.get(m.user_id)
        if user is None:
            continue
        # Your own row has no controls: demoting or removing yourself would lock you out of
        # this page mid-way (the services allow it; another owner or admin can do it).
        manage = m.user_id != me.principal.user_id and _may_manage(me, m.role)
        rows.append(
            MemberRow(
                user_id=m.user_id,
                email=user.email,
                name=user.name,
                role=m.role,
                joined_at=m.created_at,
                is_me=m.user_id == me.principal.user_id,
                role_choices=grantable if manage else (),
                can_remove=manage,
            )
        )
    return rows


async def _invite_rows(session: AsyncSession, me: SignedIn, now: datetime) -> list[InviteRow]:
    invites = await invites_service.list_invites(session, principal=me.principal, now=now)
    inviters = await auth_service.users_by_ids(
        session, user_ids=[i.invited_by for i in invites if i.invited_by]
    )
    return [
        InviteRow(
            invite=i,
            invited_by=inviters[i.invited_by].email if i.invited_by in inviters else None,
            can_revoke=_may_manage(me, i.role),
        )
        for i in invites
    ]


async def _team_page(
    request: Request,
    session: AsyncSession,
    runtime: Runtime,
    me: SignedIn,
    now: datetime,
    *,
    invite_state: FormState | None = None,
    new_invite: NewInvite | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    grantable = grantable_roles(me)
    state = invite_state or FormState(values={"role": "member"}, fields=INVITE_FIELDS)
    context: dict[str, Any] = {
        "me": me,
        "nav": "team",
        "title": "Team",
        "members": await _member_rows(session, me),
        "invites": await _invite_rows(session, me, now),
        "can_invite": bool(grantable),
        "role_options": [(r, ROLE_LABELS[r]) for r in grantable],
        "role_labels": ROLE_LABELS,
        "role_help": ROLE_HELP,
        "invite_state": state,
        "new_invite": new_invite,
        "error": error,
        "invite_ttl": duration(runtime.settings.invite_ttl_hours),
    }
    return render(request, "team/team.html", context, status=status, secret=runtime.secret_key)


def _status_of(exc: LinkhopError) -> int:
    return 409 if isinstance(exc, Conflict) else 422


@router.get("")
async def team_page(
    request: Request, session: SessionDep, runtime: RuntimeDep, me: SignedInDep, now: NowDep
) -> Response:
    """Members, pending invitations and (for owners and admins) the invite form."""
    return await _team_page(request, session, runtime, me, now)


@router.post("/invites")
async def invite(
    request: Request,
    *,
    session: SessionDep,
    runtime: RuntimeDep,
    me: SignedInDep,
    form: FormDep,
    now: NowDep,
) -> Response:
    """Invite an email address: answers with the team page showing the link once (201)."""
    require(me.principal, "members:write")
    email, role = form.get("email").strip(), form.get("role")
    state = FormState(values={"email": email, "role": role}, fields=INVITE_FIELDS)
    if not email:
        state.errors["email"] = "Enter the email address of the person to invite."
        return await _team_page(request, session, runtime, me, now, invite_state=state, status=422)
    try:
        async with session.begin_nested():
            row, token = await invites_service.create_invite(
                session,
                principal=me.principal,
                email=email,
                role=role,
                now=now,
                ttl=timedelta(hours=runtime.settings.invite_ttl_hours),
            )
    except (Invalid, Conflict) as exc:
        state.add(exc)
        status = _status_of(exc)
        return await _team_page(
            request, session, runtime, me, now, invite_state=state, status=status
        )
    created = NewInvite(
        url=f"{public_base(request, runtime)}{PREFIX}/invite/{token}",
        email=row.email,
        role=row.role,
        expires_at=row.expires_at,
    )
    blank = FormState(values={"role": role}, fields=INVITE_FIELDS)
    return await _team_page(
        request, session, runtime, me, now, invite_state=blank, new_invite=created, status=201
    )


@router.post("/invites/{invite_id}/revoke")
async def revoke_invite(
    invite_id: str,
    request: Request,
    *,
    session: SessionDep,
    runtime: RuntimeDep,
    me: SignedInDep,
    form: FormDep,
    now: NowDep,
) -> Response:
    """Withdraw a pending invitation: its link stops working at once."""
    require(me.principal, "members:write")
    try:
        async with session.begin_nested():
            row = await invites_service.revoke_invite(
                session, principal=me.principal, invite_id=invite_id, now=now
            )
    except Conflict as exc:
        return await _team_page(
            request, session, runtime, me, now, error=sentence(exc.detail), status=409
        )
    done = f"Revoked the invitation for {row.email}. Its link no longer works."
    return redirect(TEAM, secret=runtime.secret_key, flash=("success", done))


async def _member_label(session: AsyncSession, me: SignedIn, user_id: str) -> tuple[str, str]:
    """The member's role and how to name them (404 for anyone outside the org)."""
    member = await orgs_service.get_member(session, principal=me.principal, user_id=user_id)
    user = await auth_service.get_user(session, user_id=user_id)
    return member.role, user.email


@router.post("/members/{user_id}/role")
async def change_role(
    user_id: str,
    request: Request,
    *,
    session: SessionDep,
    runtime: RuntimeDep,
    me: SignedInDep,
    form: FormDep,
    now: NowDep,
) -> Response:
    """Give a member another role (only owners grant or take away ownership)."""
    require(me.principal, "members:write")
    current, email = await _member_label(session, me, user_id)
    role = form.get("role")
    if role == current:
        message = f"{email} already has the {ROLE_LABELS.get(role, role)} role. Nothing changed."
        return redirect(TEAM, secret=runtime.secret_key, flash=("info", message))
    try:
        async with session.begin_nested():
            await orgs_service.change_role(
                session, principal=me.principal, user_id=user_id, role=role
            )
    except (Invalid, Conflict) as exc:
        return await _team_page(
            request, session, runtime, me, now, error=sentence(exc.detail), status=_status_of(exc)
        )
    done = f"{email} is now {ROLE_LABELS[role].lower()}."
    return redirect(TEAM, secret=runtime.secret_key, flash=("success", done))


@router.get("/members/{user_id}/remove")
async def remove_form(
    user_id: str, request: Request, session: SessionDep, runtime: RuntimeDep, me: SignedInDep
) -> Response:
    """Ask before removing a member (works without JavaScript)."""
    require(me.principal, "members:write")
    role, email = await _member_label(session, me, user_id)
    context = {
        "me": me,
        "nav": "team",
        "title": f"Remove {email}",
        "user_id": user_id,
        "email": email,
        "role": ROLE_LABELS.get(role, role),
    }
    return render(request, "team/remove.html", context, secret=runtime.secret_key)


@router.post("/members/{user_id}/remove")
async def remove(
    user_id: str,
    request: Request,
    *,
    session: SessionDep,
    runtime: RuntimeDep,
    me: SignedInDep,
    form: FormDep,
    now: NowDep,
) -> Response:
    """Remove a member from the organisation (the last owner stays)."""
    require(me.principal, "members:write")
    _, email = await _member_label(session, me, user_id)
    try:
        async with session.begin_nested():
            await orgs_service.remove_member(session, principal=me.principal, user_id=user_id)
    except (Invalid, Conflict) as exc:
        return await _team_page(
            request, session, runtime, me, now, error=sentence(exc.detail), status=_status_of(exc)
        )
    done = f"Removed {email} from the organisation. Their API keys for it stop working."
    return redirect(TEAM, secret=runtime.secret_key, flash=("success", done))
