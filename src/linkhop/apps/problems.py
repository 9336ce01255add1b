"""The ONE place that maps errors to HTTP: RFC 9457 problem details (application/problem+json)."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from linkhop.db.engine import UNAVAILABLE_ERRORS
from linkhop.errors import LinkhopError, RateLimited, Unauthenticated

PROBLEM_TYPE = "urn:linkhop:problem:"


class FieldError(BaseModel):
    """One invalid input field."""

    field: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem details object (``application/problem+json``)."""

    type: str = Field(examples=["urn:linkhop:problem:key_taken"])
    title: str = Field(examples=["Conflict"])
    status: int = Field(examples=[409])
    detail: str = Field(examples=["the key 'launch' is already taken on sho.rt"])
    code: str = Field(description="Stable machine-readable error code.", examples=["key_taken"])
    instance: str | None = Field(default=None, description="The request path.")
    request_id: str | None = Field(default=None, description="Quote it to support.")
    field: str | None = Field(default=None, description="The offending input field, if one.")
    errors: list[FieldError] | None = Field(default=None, description="Every invalid field.")


def _problem_response(description: str) -> dict[str, Any]:
    return {
        "model": Problem,
        "description": description,
        "content": {"application/problem+json": {}},
    }


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _problem_response("Malformed request (e.g. the body is not JSON)"),
    401: _problem_response("Missing, malformed, unknown, expired or revoked credentials"),
    403: _problem_response("The role or API key scope does not allow this"),
    404: _problem_response("No such object in your organisation"),
    413: _problem_response("Request body too large"),
    422: _problem_response("Invalid input; `errors` names each field"),
}
log = structlog.get_logger()


def problem(
    status: int,
    *,
    title: str,
    detail: str,
    code: str,
    request: Request | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if request is not None:
        body["instance"] = request.url.path
        request_id = getattr(request.state, "request_id", None)
        if request_id:
            body["request_id"] = request_id
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(
        body, status_code=status, headers=headers, media_type="application/problem+json"
    )


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or str(loc[0] if loc else "body")


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LinkhopError)
    headers: dict[str, str] = {}
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    # An error may name several fields itself (a refused bulk request lists each item).
    listed: list[dict[str, str]] | None = getattr(exc, "errors", None)
    errors = listed or ([{"field": exc.field, "message": exc.detail}] if exc.field else None)
    return problem(
        exc.status,
        title=exc.title,
        detail=exc.detail,
        code=exc.code,
        request=request,
        headers=headers or None,
        field=exc.field,
        errors=errors,
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    raw = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in raw):
        return problem(
            400,
            title="Malformed JSON",
            code="malformed_json",
            request=request,
            detail="the request body is not valid JSON",
        )
    errors = [
        {"field": _field_path(tuple(e.get("loc", ()))), "message": e.get("msg", "")} for e in raw
    ]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem(
        422,
        title="Invalid input",
        code="validation_failed",
        request=request,
        detail=detail,
        errors=errors,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
    return problem(
        exc.status_code,
        title=str(exc.detail),
        detail=str(exc.detail),
        code=codes.get(exc.status_code, "http_error"),
        request=request,
        headers=getattr(exc, "headers", None),
    )


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    # The database is unreachable (down, restarting, pool exhausted): not a bug, no traceback.
    log.warning(
        "database_unavailable", path=request.url.path, error=f"{type(exc).__name__}: {exc}"[:300]
    )
    return problem(
        503,
        title="Service unavailable",
        code="database_unavailable",
        request=request,
        detail="the database cannot be reached right now; try again shortly",
        headers={"Retry-After": "5"},
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled_error", path=request.url.path)
    return problem(
        500,
        title="Internal error",
        code="internal_error",
        request=request,
        detail="something went wrong on our side; the request id helps support",
    )


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(LinkhopError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for error in UNAVAILABLE_ERRORS:  # handled here, not re-raised as a 500 would be
        app.add_exception_handler(error, _unavailable)
    app.add_exception_handler(Exception, _unexpected)
