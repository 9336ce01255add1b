"""Inviting people into an org: create, list, revoke, preview and accept single-use invitations.

A token is ``lhinv_`` + 256 random bits; only its SHA-256 is stored, so a database leak reveals
no usable invitation. An invitation is pending until it is accepted (once), revoked, or expires.
Inviting an email again replaces its pending invitation (the old token stops working), which is
how a lost link is re-sent.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from linkhop.audit import service as audit_service
from linkhop.auth import service as auth_service
from linkhop.auth.passwords import validate_password
from linkhop.errors import Conflict, Forbidden, Gone, Invalid, NotFound
from linkhop.ids import OrgId, UserId, new_id
from linkhop.invites.models import Invite
from linkhop.invites.schemas import InviteStatus
from linkhop.orgs import service as orgs_service
from linkhop.principal import ROLES, Principal, require

if TYPE_CHECKING:
    from linkhop.auth.models import User

TOKEN_PREFIX = "lhinv_"  # noqa: S105 — a public prefix that makes tokens recognisable, not a secret
DEFAULT_TTL = timedelta(days=7)

# Higher can do more; an invitation may not offer more than the inviter holds.
_RANK = {"viewer": 0, "member": 1, "admin": 2, "owner": 3}


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.strip().encode()).hexdigest()


def invite_status(invite: Invite, *, now: datetime) -> InviteStatus:
    """``accepted``, ``revoked``, ``expired`` or ``pending``, in that order of precedence."""
    if invite.accepted_at is not None:
        return "accepted"
    if invite.revoked_at is not None:
        return "revoked"
    if invite.expires_at <= now:
        return "expired"
    return "pending"


def _check_role(principal: Principal, role: str) -> None:
    if role not in ROLES:
        raise Invalid(f"unknown role '{role}'; use one of {', '.join(ROLES)}", field="role")
    if _RANK[role] > _RANK.get(principal.role, -1):
        raise Forbidden(
            f"you cannot invite someone as '{role}', a role above your own ('{principal.role}')",
            code="role_above_yours",
        )


async def _pending_for_email(
    session: AsyncSession, *, org_id: str, email: str, now: datetime
) -> list[Invite]:
    stmt = select(Invite).where(
        Invite.org_id == org_id,
        Invite.email == email,
        Invite.accepted_at.is_(None),
        Invite.revoked_at.is_(None),
        Invite.expires_at > now,
    )
    return list((await session.execute(stmt)).scalars())


async def _is_member(session: AsyncSession, *, principal: Principal, user_id: str) -> bool:
    try:
        await orgs_service.get_member(session, principal=principal, user_id=user_id)
    except NotFound:
        return False
    return True


async def create_invite(
    session: AsyncSession,
    *,
    principal: Principal,
    email: str,
    role: str,
    now: datetime,
    ttl: timedelta = DEFAULT_TTL,
) -> tuple[Invite, str]:
    """Invite ``email`` as ``role``; returns the row and the token (shown once, never stored).

    Needs ``members:write``; the role may not exceed the inviter's. A pending invitation for the
    same email is revoked and replaced. Someone who is already a member gets 409.
    """
    require(principal, "members:write")
    _check_role(principal, role)
    normalized = auth_service.normalize_email(email)
    if ttl <= timedelta(0):
        raise Invalid("an invitation must expire in the future", field="expires_at")
    existing_user = await auth_service.get_user_by_email(session, email=normalized)
    if existing_user is not None and await _is_member(
        session, principal=principal, user_id=existing_user.id
    ):
        raise Conflict(
            f"{normalized} is already a member of this organisation",
            field="email",
            code="already_member",
        )
    replaced = await _pending_for_email(session, org_id=principal.org_id, email=normalized, now=now)
    for old in replaced:
        old.revoked_at = now
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    invite = Invite(
        id=new_id("inv"),
        org_id=principal.org_id,
        email=normalized,
        role=role,
        token_hash=_token_hash(token),
        invited_by=principal.user_id,
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(invite)
    await session.flush()
    audit_service.record(
        session,
        principal=principal,
        action="invite.created",
        target_type="invite",
        target_id=invite.id,
        data={
            "email": normalized,
            "role": role,
            "expires_at": invite.expires_at.isoformat(),
            "replaces": [old.id for old in replaced],
        },
    )
    return invite, token


async def list_invites(
    session: AsyncSession, *, principal: Principal, now: datetime, pending_only: bool = True
) -> list[Invite]:
    """The org's invitations, newest first: pending ones only, or every one ever made."""
    require(principal, "members:read")
    stmt = select(Invite).where(Invite.org_id == principal.org_id)
    if pending_only:
        stmt = stmt.where(
            Invite.accepted_at.is_(None), Invite.revoked_at.is_(None), Invite.expires_at > now
        )
    stmt = stmt.order_by(Invite.created_at.desc(), Invite.id.desc())
    return list((await session.execute(stmt)).scalars())


async def get_invite(session: AsyncSession, *, principal: Principal, invite_id: str) -> Invite:
    """One invitation of the principal's org (404 for any other org's)."""
    require(principal, "members:read")
    stmt = select(Invite).where(Invite.id == invite_id, Invite.org_id == principal.org_id)
    invite = (await session.execute(stmt)).scalar_one_or_none()
    if invite is None:
        raise NotFound("invitation not found")
    return invite


async def revoke_invite(
    session: AsyncSession, *, principal: Principal, invite_id: str, now: datetime
) -> Invite:
    """Revoke an invitation so its token stops working (idempotent; accepted ones: 409)."""
    require(principal, "members:write")
    invite = await get_invite(session, principal=principal, invite_id=invite_id)
    if invite.accepted_at is not None:
        raise Conflict(
            "this invitation was already accepted; remove the member instead",
            code="invite_used",
        )
    if invite.role == "owner" and principal.role != "owner":
        raise Forbidden("only an owner can revoke an invitation to the owner role")
    if invite.revoked_at is not None:
        return invite
    invite.revoked_at = now
    await session.flush()
    audit_service.record(
        session,
        principal=principal,
        action="invite.revoked",
        target_type="invite",
        target_id=invite.id,
        data={"email": invite.email, "role": invite.role},
    )
    return invite


async def _usable(session: AsyncSession, *, token: str, now: datetime) -> Invite:
    """The pending invitation behind ``token``, else a problem saying why not."""
    row = (
        await session.execute(select(Invite).where(Invite.token_hash == _token_hash(token)))
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(
            "no invitation matches this link; check that it was copied whole",
            code="invite_not_found",
        )
    status = invite_status(row, now=now)
    if status == "accepted":
        raise Gone("this invitation was already used", code="invite_used")
    if status == "revoked":
        raise Gone("this invitation was withdrawn; ask for a new one", code="invite_revoked")
    if status == "expired":
        raise Gone("this invitation has expired; ask for a new one", code="invite_expired")
    return row


@dataclass(frozen=True, slots=True)
class InvitePreview:
    """What an invitee sees before accepting."""

    org_id: str
    org_name: str
    email: str
    role: str
    expires_at: datetime
    account_exists: bool


async def preview_invite(session: AsyncSession, *, token: str, now: datetime) -> InvitePreview:
    """Describe a usable invitation (for the accept page); 404/410 problems as ``accept``."""
    invite = await _usable(session, token=token, now=now)
    org_name = await _org_name(session, org_id=invite.org_id)
    existing = await auth_service.get_user_by_email(session, email=invite.email)
    return InvitePreview(
        org_id=invite.org_id,
        org_name=org_name,
        email=invite.email,
        role=invite.role,
        expires_at=invite.expires_at,
        account_exists=existing is not None,
    )


async def _org_name(session: AsyncSession, *, org_id: str) -> str:
    org = await orgs_service.org_by_id(session, org_id=org_id)
    if org is None:
        raise NotFound("organisation not found")
    return org.name


@dataclass(frozen=True, slots=True)
class AcceptedInvite:
    """The result of accepting: who joined which org with which role."""

    invite: Invite
    user: User
    org_id: str
    org_name: str
    role: str
    new_account: bool


async def accept_invite(
    session: AsyncSession,
    *,
    token: str,
    now: datetime,
    user_id: UserId | None = None,
    name: str | None = None,
    password: str | None = None,
) -> AcceptedInvite:
    """Accept an invitation, once.

    - ``user_id`` set (a signed-in user): that user joins; their email must be the invited one.
    - ``user_id`` None: a new account is created for the invited email with ``password`` (and
      ``name``); if an account with that email exists, sign in first (409 ``account_exists``).

    Unknown token → 404 ``invite_not_found``; used / revoked / expired → 410 ``invite_used`` /
    ``invite_revoked`` / ``invite_expired``. Nothing changes when any check fails (the caller's
    transaction rolls back).
    """
    invite = await _usable(session, token=token, now=now)
    new_account = user_id is None
    user: User | None = None
    if user_id is not None:
        user = await auth_service.get_user(session, user_id=user_id)
        if user.email != invite.email:
            raise Forbidden(
                f"this invitation is for {invite.email}, but you are signed in as {user.email}",
                code="invite_email_mismatch",
            )
        memberships = await orgs_service.memberships_of_user(session, user_id=user.id)
        if any(m.org_id == invite.org_id for m in memberships):
            raise Conflict(
                "you are already a member of this organisation",
                field="email",
                code="already_member",
            )
    else:
        if password is None:
            raise Invalid(
                "choose a password to create your account (or sign in first)",
                field="password",
                code="password_required",
            )
        validate_password(password)
        if await auth_service.get_user_by_email(session, email=invite.email) is not None:
            raise Conflict(
                f"an account for {invite.email} already exists: sign in, then accept",
                field="email",
                code="account_exists",
            )
    # Every check passed and nothing is written yet. Claim the invitation with a guarded UPDATE
    # before writing: of two concurrent accepts exactly one matches (PostgreSQL re-checks the
    # WHERE after taking the row lock; SQLite serialises writers).
    claimed = await session.execute(
        update(Invite)
        .where(
            Invite.id == invite.id,
            Invite.accepted_at.is_(None),
            Invite.revoked_at.is_(None),
            Invite.expires_at > now,
        )
        .values(accepted_at=now)
        .execution_options(synchronize_session=False)
    )
    if int(getattr(claimed, "rowcount", 0) or 0) != 1:
        raise Gone("this invitation was already used", code="invite_used")
    if user is None:
        assert password is not None  # checked above
        user = await auth_service.create_user(
            session,
            email=invite.email,
            password=password,
            name=" ".join((name or "").split()) or None,
        )
    await orgs_service.add_member(
        session, org_id=OrgId(invite.org_id), user_id=UserId(user.id), role=invite.role
    )
    invite.accepted_at = now
    invite.accepted_by = user.id
    await session.flush()
    org_name = await _org_name(session, org_id=invite.org_id)
    audit_service.record(
        session,
        principal=None,
        action="invite.accepted",
        target_type="invite",
        target_id=invite.id,
        org_id=invite.org_id,
        actor=("user", user.id),
        data={"email": invite.email, "role": invite.role, "new_account": new_account},
    )
    return AcceptedInvite(
        invite=invite,
        user=user,
        org_id=invite.org_id,
        org_name=org_name,
        role=invite.role,
        new_account=new_account,
    )
