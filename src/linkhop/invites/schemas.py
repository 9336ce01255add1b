"""API models for invitations."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from linkhop.orgs.schemas import Role

InviteStatus = Literal["pending", "accepted", "revoked", "expired"]


class InviteCreate(BaseModel):
    """Body of ``POST /api/v1/invites``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    email: str = Field(min_length=3, max_length=320)
    role: Role = "member"


class InviteOut(BaseModel):
    """An invitation without its token."""

    id: str
    email: str
    role: str
    status: InviteStatus
    invited_by: str | None
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None
    accepted_by: str | None
    revoked_at: datetime | None


class InviteCreated(InviteOut):
    """A new invitation: ``token`` is shown this once; hand it to the invitee."""

    token: str


class InviteAccept(BaseModel):
    """Body of ``POST /api/v1/invites/accept``.

    Signed in (session cookie + X-CSRF-Token): send ``token`` only. Without an account: also
    send ``password`` (and optionally ``name``); the account is created with the invited email.
    """

    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=1, max_length=200)
    name: str | None = Field(default=None, max_length=200)
    password: str | None = Field(default=None, max_length=1024)


class InviteAccepted(BaseModel):
    """The membership an accepted invitation created."""

    org_id: str
    org_name: str
    role: str
    user_id: str
    email: str
    new_account: bool = Field(description="Whether the account was created by this request.")
