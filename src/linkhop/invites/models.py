"""Pending, accepted and revoked invitations; only a SHA-256 hash of each token is kept."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from linkhop.db.base import Base, UTCDateTime, utcnow


class Invite(Base):
    """An offer of ``role`` in ``org_id`` to whoever holds the token sent to ``email``.

    State is derived from the timestamps: accepted (``accepted_at``), revoked (``revoked_at``),
    expired (``expires_at`` passed) or pending.
    """

    __tablename__ = "invites"
    # The org's pending list and "is this email already invited?" both filter on (org, email).
    __table_args__ = (Index("ix_invites_org_id_email", "org_id", "email"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
