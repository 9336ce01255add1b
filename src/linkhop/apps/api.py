"""The management API (FastAPI) composition root: routers under /api/v1, docs, problem details."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from linkhop.analytics.router import router as analytics_router
from linkhop.api_keys.router import router as api_keys_router
from linkhop.apps import problems
from linkhop.apps.middleware import ApiMiddleware, BodyTooLarge
from linkhop.auth.router import router as auth_router
from linkhop.dashboard.app import create_dashboard_app
from linkhop.invites.router import router as invites_router
from linkhop.links.router import router as links_router
from linkhop.orgs.router import router as orgs_router
from linkhop.qr.router import router as qr_router
from linkhop.runtime import Runtime
from linkhop.tags.router import router as tags_router

API_PREFIX = "/api/v1"
STATIC_DIR = Path(__file__).parent / "static"
DESCRIPTION = """
The linkhop management API.

**Authentication:** `Authorization: Bearer <API key>` (create keys with `linkhop keys create` or
`POST /api/v1/api-keys`). Keys carry scopes such as `links:read`, `links:write`,
`analytics:read`. The dashboard uses a session cookie plus an `X-CSRF-Token` header on writes.

**Errors** are RFC 9457 problem details (`application/problem+json`) with a machine-readable
`code`, a human `detail`, and for invalid input an `errors` list naming each field.
"""


def create_api_app(runtime: Runtime) -> FastAPI:
    """Build the API app around a runtime."""
    app = FastAPI(
        title="linkhop API",
        version="1",
        description=DESCRIPTION,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # served below from vendored assets (no CDN)
        redoc_url=None,
    )
    app.state.runtime = runtime
    problems.install(app)

    async def body_too_large(request: Request, exc: Exception) -> JSONResponse:
        limit = runtime.settings.max_body_bytes
        return problems.problem(
            413,
            title="Request body too large",
            code="body_too_large",
            detail=f"request bodies are limited to {limit} bytes",
            request=request,
        )

    app.add_exception_handler(BodyTooLarge, body_too_large)
    # Included straight into the app (not via a nested /api/v1 router) so each route's template,
    # used as the metrics label, is the full path such as /api/v1/links/{link_id}.
    for router in (
        analytics_router,
        links_router,
        tags_router,
        orgs_router,
        api_keys_router,
        auth_router,
        invites_router,
        qr_router,
    ):
        app.include_router(router, prefix=API_PREFIX, responses=problems.PROBLEM_RESPONSES)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # The dashboard: its own mounted app, so /app errors are pages, not problem+json.
    app.mount("/app", create_dashboard_app(runtime), name="dashboard")

    @app.get(f"{API_PREFIX}/docs", include_in_schema=False)
    async def docs_page() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=f"{API_PREFIX}/openapi.json",
            title="linkhop API",
            swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/swagger-ui/favicon-32x32.png",
        )

    @app.get("/docs", include_in_schema=False)
    async def docs_redirect() -> RedirectResponse:
        return RedirectResponse(f"{API_PREFIX}/docs")

    app.add_middleware(
        ApiMiddleware,
        app_name="api",
        max_body=runtime.settings.max_body_bytes,
        prefix=API_PREFIX,
    )
    return app
