"""Tags that group an org's links."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from linkhop.db.base import Base, UTCDateTime, utcnow


class Tag(Base):
    """A named, coloured label; names are unique per org (case-insensitively, via ``name_key``)."""

    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("org_id", "name_key"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(50))
    name_key: Mapped[str] = mapped_column(String(50))
    color: Mapped[str] = mapped_column(String(20), default="gray")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LinkTag(Base):
    """Which tags a link carries (the link side is a plain foreign key)."""

    __tablename__ = "link_tags"

    link_id: Mapped[str] = mapped_column(
        ForeignKey("links.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[str] = mapped_column(
        ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True
    )
