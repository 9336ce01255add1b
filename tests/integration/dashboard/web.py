"""Dashboard test helpers: a cookie-keeping browser-like client over the real app (ASGI)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape
from typing import Any

import httpx
from sqlalchemy import func, select

from linkhop.apps.api import create_api_app
from linkhop.audit.models import AuditEvent
from linkhop.auth import service as auth_service
from linkhop.db.engine import unit_of_work
from linkhop.ids import OrgId, UserId
from linkhop.orgs import service as orgs_service
from tests.integration.harness import Harness

PASSWORD = "correct horse battery"  # what harness.account gives every user
REMOTE_IP = "203.0.113.7"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
FIELD_ERROR = re.compile(r'data-testid="error-([a-z_]+)">([^<]*)<')


@dataclass
class Browser:
    """One browser: its own cookie jar; remembers the last CSRF token a page showed."""

    client: httpx.AsyncClient
    csrf: str = ""

    def _remember(self, response: httpx.Response) -> None:
        found = CSRF.search(response.text)
        if found:
            self.csrf = found.group(1)

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        """GET a page (no redirects followed)."""
        response = await self.client.get(path, **kwargs)
        self._remember(response)
        return response

    async def post(
        self, path: str, data: dict[str, str] | None = None, *, csrf: str | None = None
    ) -> httpx.Response:
        """POST a form with the current CSRF token (or ``csrf`` instead)."""
        body = {"csrf_token": self.csrf if csrf is None else csrf, **(data or {})}
        response = await self.client.post(path, data=body)
        self._remember(response)
        return response

    async def aclose(self) -> None:
        """Close the client."""
        await self.client.aclose()


def browser(h: Harness, *, ip: str = REMOTE_IP, scheme: str = "http") -> Browser:
    """A new browser talking to a fresh API app over the harness's runtime."""
    transport = httpx.ASGITransport(app=create_api_app(h.runtime), client=(ip, 50001))
    return Browser(httpx.AsyncClient(transport=transport, base_url=f"{scheme}://lh.test"))


async def sign_in(h: Harness, email: str, *, password: str = PASSWORD) -> Browser:
    """A browser signed in as ``email`` through the sign-in form, on the links page."""
    b = browser(h)
    await b.get("/app/login")
    r = await b.post("/app/login", {"email": email, "password": password})
    assert r.status_code == 303, r.text
    page = await b.get("/app/links")
    assert page.status_code == 200, page.text
    return b


def field_errors(html: str) -> dict[str, str]:
    """The inline field errors a page shows, by field name."""
    return {name: unescape(message) for name, message in FIELD_ERROR.findall(html)}


async def audit_actions(h: Harness) -> list[str]:
    """Every audit action recorded so far, oldest first."""
    async with unit_of_work(h.runtime.sessionmaker) as session:
        rows = await session.execute(select(AuditEvent.action).order_by(AuditEvent.id))
        return list(rows.scalars())


async def audit_count(h: Harness) -> int:
    """How many audit events exist."""
    async with unit_of_work(h.runtime.sessionmaker) as session:
        return int(
            (await session.execute(select(func.count()).select_from(AuditEvent))).scalar_one()
        )


def text_of(html: str, testid: str) -> str | None:
    """The text of the first element with ``data-testid=testid`` (no nested tags)."""
    found = re.search(rf'data-testid="{re.escape(testid)}"[^>]*>([^<]*)<', html)
    return unescape(found.group(1)).strip() if found else None


async def add_member(h: Harness, email: str, *, org_id: str, role: str) -> str:
    """A user with ``role`` in the org (no API key: a viewer may not own one); returns its id."""
    async with unit_of_work(h.runtime.sessionmaker) as session:
        user = await auth_service.create_user(session, email=email, password=PASSWORD)
        await orgs_service.add_member(
            session, org_id=OrgId(org_id), user_id=UserId(user.id), role=role
        )
        return user.id
