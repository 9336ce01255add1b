"""The acting principal every service call takes, and the permission check."""

from __future__ import annotations

from dataclasses import dataclass

from linkhop.errors import Forbidden
from linkhop.ids import OrgId, UserId

ROLES = ("owner", "admin", "member", "viewer")

# Every permission a role or an API key scope can name (role grants live in the
# ``role_permissions`` table, seeded by migrations).
PERMISSIONS = (
    "links:read",
    "links:write",
    "tags:read",
    "tags:write",
    "analytics:read",
    "domains:read",
    "domains:write",
    "members:read",
    "members:write",
    "keys:read",
    "keys:write",
    "org:read",
    "org:write",
    "audit:read",
)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is acting, in which org, with which permissions.

    For an API key, ``permissions`` is the key's scopes intersected with the role of the user who
    owns it, so a key never outlives a demotion.
    """

    user_id: UserId
    org_id: OrgId
    role: str
    permissions: frozenset[str]
    api_key_id: str | None = None

    @property
    def actor_type(self) -> str:
        """``api_key`` or ``user``, as written to the audit trail."""
        return "api_key" if self.api_key_id else "user"

    @property
    def actor_id(self) -> str:
        """The key id for API keys, else the user id."""
        return self.api_key_id or self.user_id

    def can(self, permission: str) -> bool:
        """Whether this principal holds ``permission``."""
        return permission in self.permissions


def require(principal: Principal, permission: str) -> None:
    """Raise Forbidden unless the principal holds ``permission``."""
    if permission not in principal.permissions:
        how = (
            f"this API key (its scopes, or its owner's role '{principal.role}')"
            if principal.api_key_id
            else f"your role '{principal.role}'"
        )
        raise Forbidden(f"this action needs the '{permission}' permission, which {how} lacks")
