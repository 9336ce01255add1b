"""API models for signing in."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class LoginIn(BaseModel):
    """Body of ``POST /api/v1/auth/login``."""

    model_config = ConfigDict(extra="forbid")
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class LoginOut(BaseModel):
    """A new session: the cookie is set; send ``csrf_token`` as X-CSRF-Token on writes."""

    user_id: str
    csrf_token: str
    expires_at: datetime


class PasswordChange(BaseModel):
    """Body of ``POST /api/v1/auth/password``."""

    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class PasswordChanged(BaseModel):
    """The password was replaced; every other session was signed out."""

    revoked_sessions: int


class SessionOut(BaseModel):
    """One of your live sign-in sessions."""

    id: str
    created_at: datetime
    last_seen_at: datetime | None = Field(
        description="Last request seen, updated at most every 5 minutes."
    )
    expires_at: datetime
    user_agent: str | None
    current: bool = Field(description="Whether this is the session making the request.")


class SessionsRevoked(BaseModel):
    """How many other sessions were signed out."""

    revoked: int
