"""API models for the caller, their org and its members."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

Role = Literal["owner", "admin", "member", "viewer"]


class OrgOut(BaseModel):
    """An organisation."""

    id: str
    name: str
    created_at: datetime


class MeOut(BaseModel):
    """The caller as the API sees them."""

    user_id: str
    email: str
    name: str | None
    org: OrgOut
    role: str
    permissions: list[str]
    api_key_id: str | None
    csrf_token: str | None


class MemberOut(BaseModel):
    """A member of the org."""

    user_id: str
    email: str
    name: str | None
    role: str
    joined_at: datetime


class MemberUpdate(BaseModel):
    """Body of ``PATCH /api/v1/org/members/{user_id}``."""

    model_config = ConfigDict(extra="forbid")
    role: Role
