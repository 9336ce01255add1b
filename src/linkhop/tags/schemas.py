"""API models for tags."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

TagColor = Literal["gray", "red", "orange", "yellow", "green", "teal", "blue", "purple", "pink"]


class TagCreate(BaseModel):
    """Body of ``POST /api/v1/tags``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str = Field(min_length=1, max_length=50)
    color: TagColor = "gray"


class TagUpdate(BaseModel):
    """Body of ``PATCH /api/v1/tags/{id}``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str | None = Field(default=None, min_length=1, max_length=50)
    color: TagColor | None = None


class TagOut(BaseModel):
    """A tag."""

    id: str
    name: str
    color: str
    created_at: datetime
