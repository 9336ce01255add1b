"""Branded short domains owned by an org (the default domain comes from settings)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from linkhop.db.base import Base, UTCDateTime, utcnow


class Domain(Base):
    """A hostname (punycode, lower case, optional :port) that serves one org's links."""

    __tablename__ = "domains"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    hostname: Mapped[str] = mapped_column(String(260), unique=True)
    case_sensitive: Mapped[bool] = mapped_column(Boolean, default=False)
    not_found_url: Mapped[str | None] = mapped_column(Text)
    expired_url: Mapped[str | None] = mapped_column(Text)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
