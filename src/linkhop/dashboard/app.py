"""The dashboard app mounted at ``/app``: its pages, static files, and HTML error pages.

A separate (mounted) FastAPI app rather than routers on the API app, so that errors under /app
answer with pages in the app's style (the API keeps its problem+json handlers), and the
security headers wrap every response, error pages and static files included.
"""

from __future__ import annotations

from urllib.parse import quote

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from linkhop.asgi import ASGIApp
from linkhop.dashboard import (
    account,
    analytics,
    invites,
    keys,
    links,
    orgswitch,
    placeholders,
    qr,
    signin,
    team,
)
from linkhop.dashboard.deps import SignInRequired
from linkhop.dashboard.forms import sentence
from linkhop.dashboard.rendering import PREFIX, STATIC_DIR, redirect, render, warm_up
from linkhop.dashboard.security import SecurityHeaders
from linkhop.errors import LinkhopError, RateLimited, Unauthenticated
from linkhop.runtime import Runtime

log = structlog.get_logger("linkhop")
TITLES = {
    400: "That request did not make sense",
    403: "You can't do that",
    404: "Page not found",
    405: "That action is not available here",
    409: "That conflicts with what exists",
    410: "That is gone",
    422: "That input was refused",
    429: "Slow down",
    500: "Something went wrong",
    503: "A service is unavailable",
}


def error_page(
    request: Request, status: int, message: str, *, title: str | None = None
) -> Response:
    """A page in the app's style for an error (no database access: it must always render)."""
    return render(
        request,
        "error.html",
        {"status": status, "title": title or TITLES.get(status, "Error"), "message": message},
        status=status,
    )


def _to_sign_in(request: Request, message: str | None) -> Response:
    target = f"{PREFIX}/login"
    if request.method == "GET":
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target += f"?next={quote(path, safe='')}"
    elif message:
        message += " Nothing was saved."
    runtime: Runtime = request.app.state.runtime
    if request.headers.get("HX-Request"):
        # htmx would swap the sign-in page into a fragment; ask it to navigate instead.
        return HTMLResponse("", headers={"HX-Redirect": target})
    return redirect(target, secret=runtime.secret_key, flash=("info", message) if message else None)


async def _sign_in_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    return _to_sign_in(request, exc.message)


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LinkhopError)
    if isinstance(exc, Unauthenticated):
        return _to_sign_in(request, sentence(exc.detail))
    title = "This form could not be accepted" if exc.code == "csrf_failed" else None
    response = error_page(request, exc.status, sentence(exc.detail), title=title)
    if isinstance(exc, RateLimited):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    messages = {
        404: "There is no page at this address. It may have moved, or the link was mistyped.",
        405: "This address does not accept that kind of request.",
    }
    return error_page(request, exc.status_code, messages.get(exc.status_code, str(exc.detail)))


async def _invalid_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    fields = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg', '')}"
        for e in exc.errors()
    )
    return error_page(request, 400, f"Some of the address's parameters were refused ({fields}).")


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("dashboard_error", path=invites.loggable_path(request.url.path))
    request_id = getattr(request.state, "request_id", None) or "unknown"
    return error_page(
        request,
        500,
        f"An unexpected error happened on our side. Quote request id {request_id} to support.",
    )


def create_dashboard_app(runtime: Runtime) -> ASGIApp:
    """The /app ASGI app (mount it at ``/app``)."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.state.runtime = runtime
    app.add_exception_handler(SignInRequired, _sign_in_required)
    app.add_exception_handler(LinkhopError, _domain_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(Exception, _unexpected)
    for module in (
        signin,
        links,
        analytics,
        qr,
        team,
        keys,
        account,
        invites,
        orgswitch,
        placeholders,
    ):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    warm_up()
    return SecurityHeaders(app, static_prefix=f"{PREFIX}/static/")


def dashboard_routes(app: ASGIApp) -> FastAPI:
    """The FastAPI app inside ``create_dashboard_app``'s wrapper (tests enumerate its routes)."""
    assert isinstance(app, SecurityHeaders)
    assert isinstance(app.app, FastAPI)
    return app.app
