"""API models for links. Business validation (URLs, keys) happens in the service's pure rules."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

RedirectStatus = Literal[301, 302, 307, 308]
LinkSort = Literal["-created_at", "created_at", "-clicks", "clicks", "key", "-key"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class LinkFields(_Strict):
    """Fields shared by create and update."""

    title: str | None = Field(default=None, max_length=500)
    comments: str | None = Field(default=None, max_length=10_000)
    tags: list[str] | None = Field(default=None, max_length=50, description="Tag names.")
    expires_at: datetime | None = Field(default=None, description="When the link stops serving.")
    expired_url: str | None = Field(
        default=None, description="Where an expired or used-up link sends visitors."
    )
    max_clicks: int | None = Field(default=None, ge=1, le=2**62)
    password: str | None = Field(
        default=None, min_length=1, max_length=200, description="Write-only; stored hashed."
    )
    archived: bool | None = None
    redirect_status: RedirectStatus | None = None
    forward_query: bool | None = None
    external_id: str | None = Field(default=None, min_length=1, max_length=255)
    utm_source: str | None = Field(default=None, max_length=255)
    utm_medium: str | None = Field(default=None, max_length=255)
    utm_campaign: str | None = Field(default=None, max_length=255)
    utm_term: str | None = Field(default=None, max_length=255)
    utm_content: str | None = Field(default=None, max_length=255)

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must include a timezone offset, e.g. 2030-01-01T00:00:00Z")
        return value

    @field_validator("tags")
    @classmethod
    def _tag_names(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        for name in value:
            if not name.strip() or len(name.strip()) > 50:
                raise ValueError("tag names must be 1–50 characters")
        return value


class LinkCreate(LinkFields):
    """Body of ``POST /api/v1/links``."""

    url: str = Field(description="Destination (http or https).")
    domain: str | None = Field(default=None, description="Short domain; default from settings.")
    key: str | None = Field(default=None, description="Custom key; random when omitted.")


class LinkUpdate(LinkFields):
    """Body of ``PATCH /api/v1/links/{id}``: only the fields sent change; null clears."""

    url: str | None = None
    key: str | None = None


class TagRef(BaseModel):
    """A tag as embedded in a link."""

    id: str
    name: str
    color: str


class LinkOut(BaseModel):
    """A link as the API returns it."""

    id: str
    domain: str
    key: str
    short_url: str
    url: str
    title: str | None
    comments: str | None
    tags: list[TagRef]
    expires_at: datetime | None
    expired_url: str | None
    max_clicks: int | None
    password_protected: bool
    archived: bool
    redirect_status: int
    forward_query: bool
    external_id: str | None
    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None
    utm_term: str | None
    utm_content: str | None
    clicks: int
    last_clicked_at: datetime | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime


class LinkPage(BaseModel):
    """One page of links plus the cursor of the next page (null at the end)."""

    data: list[LinkOut]
    next_cursor: str | None


class LinkBulkCreate(_Strict):
    """Body of ``POST /api/v1/links/bulk``."""

    links: list[Annotated[Any, WithJsonSchema({"$ref": "#/components/schemas/LinkCreate"})]] = (
        Field(
            description=(
                "Up to 1000 link bodies, each exactly what `POST /links` takes. Each is checked "
                "on its own: an invalid item is reported by its index, the others are created."
            ),
        )
    )
    all_or_nothing: bool = Field(
        default=False,
        description="Create nothing unless every item can be created (then refusals are a 4xx).",
    )


class ItemFieldError(BaseModel):
    """One invalid field of one item."""

    field: str
    message: str


class ItemProblem(BaseModel):
    """Why an item was refused: the problem details ``POST /links`` would have answered."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    field: str | None = None
    errors: list[ItemFieldError] | None = None


class BulkItemResult(BaseModel):
    """The outcome of one item: ``link`` when it was created, else ``error``."""

    index: int = Field(description="Position of the item in the request (from 0).")
    ok: bool
    link: LinkOut | None = None
    error: ItemProblem | None = None


class BulkCreateResult(BaseModel):
    """Every item's outcome, in request order."""

    created: int
    failed: int
    results: list[BulkItemResult]
