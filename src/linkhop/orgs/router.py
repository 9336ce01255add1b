"""HTTP routes for the caller, their org and its members."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from linkhop.auth import service as auth_service
from linkhop.auth.csrf import csrf_token
from linkhop.deps import PrincipalDep, RuntimeDep, SessionDep
from linkhop.orgs import service as orgs_service
from linkhop.orgs.models import Membership
from linkhop.orgs.schemas import MemberOut, MemberUpdate, MeOut, OrgOut
from linkhop.principal import PERMISSIONS

router = APIRouter(tags=["org"])


@router.get("/me", response_model=MeOut, summary="The caller")
async def me(
    request: Request, session: SessionDep, principal: PrincipalDep, runtime: RuntimeDep
) -> MeOut:
    """Who you are, which org you act in, and what you may do."""
    user = await auth_service.get_user(session, user_id=principal.user_id)
    org = await orgs_service.get_org(session, principal=principal)
    session_id = getattr(request.state, "user_session_id", None)
    return MeOut(
        user_id=user.id,
        email=user.email,
        name=user.name,
        org=OrgOut(id=org.id, name=org.name, created_at=org.created_at),
        role=principal.role,
        permissions=[p for p in PERMISSIONS if principal.can(p)],
        api_key_id=principal.api_key_id,
        csrf_token=csrf_token(secret=runtime.secret_key, session_id=session_id)
        if session_id
        else None,
    )


@router.get("/org", response_model=OrgOut, summary="The caller's organisation")
async def get_org(session: SessionDep, principal: PrincipalDep) -> OrgOut:
    """The organisation the caller acts in."""
    org = await orgs_service.get_org(session, principal=principal)
    return OrgOut(id=org.id, name=org.name, created_at=org.created_at)


async def _members_out(session: AsyncSession, members: list[Membership]) -> list[MemberOut]:
    users = await auth_service.users_by_ids(session, user_ids=[m.user_id for m in members])
    return [
        MemberOut(
            user_id=m.user_id,
            email=users[m.user_id].email,
            name=users[m.user_id].name,
            role=m.role,
            joined_at=m.created_at,
        )
        for m in members
        if m.user_id in users
    ]


@router.get("/org/members", response_model=list[MemberOut], summary="List members")
async def list_members(session: SessionDep, principal: PrincipalDep) -> list[MemberOut]:
    """Everyone in the org with their role."""
    return await _members_out(
        session, await orgs_service.list_members(session, principal=principal)
    )


@router.get("/org/members/{user_id}", response_model=MemberOut, summary="Get a member")
async def get_member(user_id: str, session: SessionDep, principal: PrincipalDep) -> MemberOut:
    """One member."""
    member = await orgs_service.get_member(session, principal=principal, user_id=user_id)
    return (await _members_out(session, [member]))[0]


@router.patch("/org/members/{user_id}", response_model=MemberOut, summary="Change a role")
async def change_role(
    user_id: str, body: MemberUpdate, session: SessionDep, principal: PrincipalDep
) -> MemberOut:
    """Change a member's role (owners only for the owner role; one owner always remains)."""
    member = await orgs_service.change_role(
        session, principal=principal, user_id=user_id, role=body.role
    )
    return (await _members_out(session, [member]))[0]


@router.delete("/org/members/{user_id}", status_code=204, summary="Remove a member")
async def remove_member(user_id: str, session: SessionDep, principal: PrincipalDep) -> Response:
    """Remove someone from the org."""
    await orgs_service.remove_member(session, principal=principal, user_id=user_id)
    return Response(status_code=204)
