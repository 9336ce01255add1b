"""CSRF tokens for cookie-authenticated writes: an HMAC of the session id (stateless)."""

from __future__ import annotations

import hashlib
import hmac

from linkhop.errors import Forbidden


def csrf_token(*, secret: str, session_id: str) -> str:
    """The CSRF token that belongs to a session."""
    return hmac.new(secret.encode(), f"csrf:{session_id}".encode(), hashlib.sha256).hexdigest()


def check_csrf(*, secret: str, session_id: str, token: str | None) -> None:
    """Raise Forbidden unless ``token`` is the session's CSRF token."""
    expected = csrf_token(secret=secret, session_id=session_id)
    if token is None or not hmac.compare_digest(expected, token):
        raise Forbidden("missing or invalid CSRF token (send X-CSRF-Token)", code="csrf_failed")
