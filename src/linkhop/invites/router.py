"""HTTP routes for invitations: owners and admins invite, the invitee accepts with the token."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from linkhop.auth.deps import OptionalSignedInDep
from linkhop.deps import NowDep, PrincipalDep, RuntimeDep, SessionDep
from linkhop.ids import UserId
from linkhop.invites import service as invites_service
from linkhop.invites.models import Invite
from linkhop.invites.schemas import (
    InviteAccept,
    InviteAccepted,
    InviteCreate,
    InviteCreated,
    InviteOut,
)

router = APIRouter(prefix="/invites", tags=["invites"])


def _problem(description: str) -> dict[str, Any]:
    # The Problem schema is registered by the app (apps/problems.py), which domains cannot import.
    schema = {"$ref": "#/components/schemas/Problem"}
    return {"description": description, "content": {"application/problem+json": {"schema": schema}}}


def _out(row: Invite, now: datetime) -> InviteOut:
    return InviteOut(
        id=row.id,
        email=row.email,
        role=row.role,
        status=invites_service.invite_status(row, now=now),
        invited_by=row.invited_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        accepted_at=row.accepted_at,
        accepted_by=row.accepted_by,
        revoked_at=row.revoked_at,
    )


@router.post(
    "",
    status_code=201,
    response_model=InviteCreated,
    summary="Invite someone",
    responses={409: _problem("`already_member`: the email belongs to a member")},
)
async def create_invite(
    body: InviteCreate,
    session: SessionDep,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    now: NowDep,
) -> InviteCreated:
    """Invite an email address into your org with a role no higher than your own (needs
    `members:write`). The single-use `token` is in this response only: send it to the invitee.
    It expires after `LINKHOP_INVITE_TTL_HOURS`; inviting the same email again replaces it."""
    row, token = await invites_service.create_invite(
        session,
        principal=principal,
        email=body.email,
        role=body.role,
        now=now,
        ttl=timedelta(hours=runtime.settings.invite_ttl_hours),
    )
    return InviteCreated(**_out(row, now).model_dump(), token=token)


@router.get("", response_model=list[InviteOut], summary="List invitations")
async def list_invites(
    session: SessionDep,
    principal: PrincipalDep,
    now: NowDep,
    status: Annotated[
        Literal["pending", "all"],
        Query(description="`pending` (default) or `all`, including used, revoked, expired."),
    ] = "pending",
) -> list[InviteOut]:
    """The org's invitations, newest first (needs `members:read`)."""
    rows = await invites_service.list_invites(
        session, principal=principal, now=now, pending_only=status == "pending"
    )
    return [_out(row, now) for row in rows]


@router.post(
    "/accept",
    response_model=InviteAccepted,
    summary="Accept an invitation",
    responses={
        409: _problem("`account_exists` (sign in first) or `already_member`"),
        410: _problem("`invite_used`, `invite_revoked` or `invite_expired`"),
    },
)
async def accept_invite(
    body: InviteAccept,
    session: SessionDep,
    signed_in: OptionalSignedInDep,
    now: NowDep,
) -> InviteAccepted:
    """Join the org an invitation names, once.

    - Signed in (session cookie + X-CSRF-Token) as the invited email: send `token`.
    - No account yet: send `token`, `password` and optionally `name`; the account is created
      for the invited email. Then sign in with `POST /api/v1/auth/login`.

    Unknown token: 404 `invite_not_found`. Used, withdrawn or expired: 410 `invite_used`,
    `invite_revoked`, `invite_expired`. API keys cannot accept (403 `session_required`).
    """
    accepted = await invites_service.accept_invite(
        session,
        token=body.token,
        now=now,
        user_id=UserId(signed_in.user.id) if signed_in else None,
        name=body.name,
        password=body.password,
    )
    return InviteAccepted(
        org_id=accepted.org_id,
        org_name=accepted.org_name,
        role=accepted.role,
        user_id=accepted.user.id,
        email=accepted.user.email,
        new_account=accepted.new_account,
    )


@router.get("/{invite_id}", response_model=InviteOut, summary="Get an invitation")
async def get_invite(
    invite_id: str, session: SessionDep, principal: PrincipalDep, now: NowDep
) -> InviteOut:
    """One invitation of your org."""
    row = await invites_service.get_invite(session, principal=principal, invite_id=invite_id)
    return _out(row, now)


@router.delete(
    "/{invite_id}",
    response_model=InviteOut,
    summary="Revoke an invitation",
    responses={409: _problem("`invite_used`: already accepted")},
)
async def revoke_invite(
    invite_id: str, session: SessionDep, principal: PrincipalDep, now: NowDep
) -> InviteOut:
    """Withdraw an invitation so its token stops working (idempotent; 409 `invite_used` once
    accepted). Needs `members:write`; invitations to the owner role need an owner."""
    row = await invites_service.revoke_invite(
        session, principal=principal, invite_id=invite_id, now=now
    )
    return _out(row, now)
