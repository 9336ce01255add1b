"""Organisations, memberships, roles, and building the acting principal."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linkhop.audit import service as audit_service
from linkhop.errors import Conflict, Forbidden, Invalid, NotFound
from linkhop.ids import OrgId, UserId, new_id, new_org_id
from linkhop.orgs.models import Membership, Org, RolePermission
from linkhop.principal import ROLES, Principal, require

# Grants change only through migrations, so one read per process is enough.
_role_cache: dict[str, frozenset[str]] = {}


async def permissions_for_role(session: AsyncSession, *, role: str) -> frozenset[str]:
    """The permissions ``role`` grants, from the role_permissions table."""
    cached = _role_cache.get(role)
    if cached is not None:
        return cached
    rows = await session.execute(
        select(RolePermission.permission).where(RolePermission.role == role)
    )
    perms = frozenset(rows.scalars())
    if perms:
        _role_cache[role] = perms
    return perms


def validate_org_name(name: str) -> str:
    """Trimmed org name, 1–100 printable characters."""
    cleaned = " ".join(name.split())
    if not cleaned:
        raise Invalid("organisation name must not be empty", field="org")
    if len(cleaned) > 100:
        raise Invalid("organisation name must be at most 100 characters", field="org")
    if any(not c.isprintable() for c in cleaned):
        raise Invalid("organisation name contains control characters", field="org")
    return cleaned


async def get_org_by_name(session: AsyncSession, *, name: str) -> Org | None:
    """The org with this exact name, if any."""
    cleaned = validate_org_name(name)
    return (await session.execute(select(Org).where(Org.name == cleaned))).scalar_one_or_none()


async def get_org(session: AsyncSession, *, principal: Principal) -> Org:
    """The principal's own org."""
    require(principal, "org:read")
    org = await session.get(Org, principal.org_id)
    if org is None:
        raise NotFound("organisation not found")
    return org


async def org_by_id(session: AsyncSession, *, org_id: str) -> Org | None:
    """An org by id WITHOUT a permission check: only for callers whose right to see it was
    proven another way (an invitation token names its org)."""
    return await session.get(Org, org_id)


async def create_org(session: AsyncSession, *, name: str, owner_id: UserId) -> Org:
    """Create an org with ``owner_id`` as its owner."""
    cleaned = validate_org_name(name)
    if await get_org_by_name(session, name=cleaned) is not None:
        raise Conflict(f"an organisation named '{cleaned}' already exists", field="org")
    org = Org(id=new_org_id(), name=cleaned)
    session.add(org)
    await session.flush()
    await add_member(session, org_id=OrgId(org.id), user_id=owner_id, role="owner")
    audit_service.record(
        session,
        principal=None,
        action="org.created",
        target_type="org",
        target_id=org.id,
        org_id=org.id,
        data={"name": cleaned, "owner": owner_id},
    )
    return org


async def add_member(
    session: AsyncSession, *, org_id: OrgId, user_id: UserId, role: str
) -> Membership:
    """Give a user a role in an org (no permission check: callers are admin paths)."""
    if role not in ROLES:
        raise Invalid(f"unknown role '{role}'; use one of {', '.join(ROLES)}", field="role")
    existing = await _membership(session, org_id=org_id, user_id=user_id)
    if existing is not None:
        raise Conflict("the user is already a member of this organisation", field="email")
    membership = Membership(id=new_id("mem"), org_id=org_id, user_id=user_id, role=role)
    session.add(membership)
    await session.flush()
    return membership


async def _membership(session: AsyncSession, *, org_id: str, user_id: str) -> Membership | None:
    stmt = select(Membership).where(Membership.org_id == org_id, Membership.user_id == user_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def memberships_of_user(session: AsyncSession, *, user_id: str) -> list[Membership]:
    """A user's memberships, oldest first."""
    stmt = (
        select(Membership)
        .where(Membership.user_id == user_id)
        .order_by(Membership.created_at, Membership.id)
    )
    return list((await session.execute(stmt)).scalars())


async def orgs_of_user(session: AsyncSession, *, user_id: str) -> list[tuple[Membership, Org]]:
    """A user's memberships with their orgs, oldest membership first, in one query.

    Membership is the right to see the org (its name for a switcher), so no permission check.
    """
    stmt = (
        select(Membership, Org)
        .join(Org, Org.id == Membership.org_id)
        .where(Membership.user_id == user_id)
        .order_by(Membership.created_at, Membership.id)
    )
    return [(membership, org) for membership, org in await session.execute(stmt)]


async def principal_of_membership(
    session: AsyncSession,
    membership: Membership,
    *,
    api_key_id: str | None = None,
    scopes: frozenset[str] | None = None,
) -> Principal:
    """The principal acting through ``membership`` (its role's permissions, narrowed by
    ``scopes``)."""
    perms = await permissions_for_role(session, role=membership.role)
    if scopes is not None:
        perms = perms & scopes
    return Principal(
        user_id=UserId(membership.user_id),
        org_id=OrgId(membership.org_id),
        role=membership.role,
        permissions=perms,
        api_key_id=api_key_id,
    )


async def principal_for(
    session: AsyncSession,
    *,
    user_id: UserId,
    org_id: str | None,
    api_key_id: str | None = None,
    scopes: frozenset[str] | None = None,
) -> Principal:
    """The principal for a user acting in ``org_id`` (their first org when None)."""
    if org_id is None:
        memberships = await memberships_of_user(session, user_id=user_id)
        if not memberships:
            raise Forbidden("this account belongs to no organisation")
        membership = memberships[0]
    else:
        found = await _membership(session, org_id=org_id, user_id=user_id)
        if found is None:
            raise NotFound("organisation not found")
        membership = found
    return await principal_of_membership(session, membership, api_key_id=api_key_id, scopes=scopes)


async def list_members(session: AsyncSession, *, principal: Principal) -> list[Membership]:
    """Members of the principal's org."""
    require(principal, "members:read")
    stmt = (
        select(Membership)
        .where(Membership.org_id == principal.org_id)
        .order_by(Membership.created_at, Membership.id)
    )
    return list((await session.execute(stmt)).scalars())


async def get_member(session: AsyncSession, *, principal: Principal, user_id: str) -> Membership:
    """One member of the principal's org (404 for anyone else)."""
    require(principal, "members:read")
    membership = await _membership(session, org_id=principal.org_id, user_id=user_id)
    if membership is None:
        raise NotFound("member not found")
    return membership


async def _owner_count(session: AsyncSession, *, org_id: str) -> int:
    stmt = select(func.count()).where(Membership.org_id == org_id, Membership.role == "owner")
    return int((await session.execute(stmt)).scalar_one())


async def change_role(
    session: AsyncSession, *, principal: Principal, user_id: str, role: str
) -> Membership:
    """Change a member's role. Only owners grant or take away ownership; the last owner stays."""
    require(principal, "members:write")
    if role not in ROLES:
        raise Invalid(f"unknown role '{role}'; use one of {', '.join(ROLES)}", field="role")
    membership = await get_member(session, principal=principal, user_id=user_id)
    if "owner" in (role, membership.role) and principal.role != "owner":
        raise Forbidden("only an owner can grant or remove the owner role")
    demoting_owner = membership.role == "owner" and role != "owner"
    if demoting_owner and await _owner_count(session, org_id=principal.org_id) <= 1:
        raise Conflict("an organisation must keep at least one owner", field="role")
    old = membership.role
    membership.role = role
    await session.flush()
    audit_service.record(
        session,
        principal=principal,
        action="member.role_changed",
        target_type="user",
        target_id=user_id,
        data={"from": old, "to": role},
    )
    return membership


async def remove_member(session: AsyncSession, *, principal: Principal, user_id: str) -> None:
    """Remove a member (the last owner cannot be removed)."""
    require(principal, "members:write")
    membership = await get_member(session, principal=principal, user_id=user_id)
    if membership.role == "owner":
        if principal.role != "owner":
            raise Forbidden("only an owner can remove an owner")
        if await _owner_count(session, org_id=principal.org_id) <= 1:
            raise Conflict("an organisation must keep at least one owner", field="user_id")
    await session.delete(membership)
    await session.flush()
    audit_service.record(
        session,
        principal=principal,
        action="member.removed",
        target_type="user",
        target_id=user_id,
        data={"role": membership.role},
    )
