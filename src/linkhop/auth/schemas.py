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
