"""Domain errors. Services raise these; ONE place (``linkhop.apps.problems``) maps them to HTTP.

The tree::

    LinkhopError
    ├── Invalid            (422) the input breaks a rule; ``field`` names the offending field
    ├── NotFound           (404) no such object, or not visible to the caller (never a leak)
    ├── Conflict           (409) the object already exists (duplicate key, email, name)
    ├── Unauthenticated    (401) no credentials, or bad / expired / revoked credentials
    ├── Forbidden          (403) authenticated, but the role or key scope does not allow it
    ├── Gone               (410) the object existed and no longer serves
    ├── RateLimited        (429) too many attempts; ``retry_after`` seconds
    └── Unavailable        (503) a backend is down
"""

from __future__ import annotations


class LinkhopError(Exception):
    """Base of every error a service may raise on purpose."""

    status = 500
    code = "internal_error"
    title = "Internal error"

    def __init__(self, detail: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        if code is not None:
            self.code = code


class Invalid(LinkhopError):
    """The input breaks a business rule."""

    status = 422
    code = "invalid"
    title = "Invalid input"


class NotFound(LinkhopError):
    """No such object, or one the caller may not see."""

    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(LinkhopError):
    """The object already exists."""

    status = 409
    code = "conflict"
    title = "Conflict"


class Unauthenticated(LinkhopError):
    """Missing or bad credentials."""

    status = 401
    code = "unauthenticated"
    title = "Unauthenticated"


class Forbidden(LinkhopError):
    """The caller is known but not allowed to do this."""

    status = 403
    code = "forbidden"
    title = "Forbidden"


class Gone(LinkhopError):
    """The object no longer serves."""

    status = 410
    code = "gone"
    title = "Gone"


class RateLimited(LinkhopError):
    """Too many attempts."""

    status = 429
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Unavailable(LinkhopError):
    """A backend the operation needs is down."""

    status = 503
    code = "unavailable"
    title = "Service unavailable"
