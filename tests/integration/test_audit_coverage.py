"""Every mutation endpoint writes an audit event in the same transaction as its change.

The routes are read from the app, so a new POST/PUT/PATCH/DELETE endpoint without a scenario
here fails the test instead of going unaudited.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import func, select

from linkhop.apps.api import create_api_app
from linkhop.audit.models import AuditEvent
from linkhop.db.engine import unit_of_work
from tests.integration.harness import Account, Harness

pytestmark = pytest.mark.asyncio


async def _new_link(h: Harness, a: Account) -> str:
    return str((await h.create_link(a, url="https://example.com/x"))["id"])


async def _new_tag(h: Harness, a: Account) -> str:
    r = await h.client.post("/api/v1/tags", json={"name": "t"}, headers=a.auth)
    return str(r.json()["id"])


async def _new_member(h: Harness, a: Account) -> str:
    return (await h.account("bo@example.com", role="member")).user_id


async def _new_key(h: Harness, a: Account) -> str:
    r = await h.client.post(
        "/api/v1/api-keys", json={"name": "k", "scopes": ["links:read"]}, headers=a.auth
    )
    return str(r.json()["id"])


async def _login(h: Harness, a: Account) -> httpx.Response:
    return await h.client.post(
        "/api/v1/auth/login", json={"email": a.email, "password": "correct horse battery"}
    )


async def _signed_in(h: Harness, a: Account) -> str:
    """Sign in (its own audit event happens here, before the count); "<cookie> <csrf>"."""
    r = await _login(h, a)
    h.client.cookies.clear()
    return f"{r.cookies['linkhop_session']} {r.json()['csrf_token']}"


def _session_headers(signed_in: str) -> dict[str, str]:
    cookie, csrf = signed_in.split(" ")
    return {"cookie": f"linkhop_session={cookie}", "X-CSRF-Token": csrf}


async def _logout(h: Harness, a: Account, signed_in: str) -> httpx.Response:
    return await h.client.post("/api/v1/auth/logout", headers=_session_headers(signed_in))


async def _new_invite(h: Harness, a: Account) -> str:
    r = await h.client.post(
        "/api/v1/invites", json={"email": "new@example.com", "role": "member"}, headers=a.auth
    )
    assert r.status_code == 201, r.text
    return f"{r.json()['id']} {r.json()['token']}"


Prepare = Callable[[Harness, Account], Awaitable[str]]
Act = Callable[[Harness, Account, str], Awaitable[httpx.Response]]
SCENARIOS: dict[tuple[str, str], tuple[Prepare | None, Act]] = {
    ("POST", "/api/v1/links"): (
        None,
        lambda h, a, _: h.client.post(
            "/api/v1/links", json={"url": "https://example.com/new"}, headers=a.auth
        ),
    ),
    ("POST", "/api/v1/links/bulk"): (
        None,
        lambda h, a, _: h.client.post(
            "/api/v1/links/bulk", json={"links": [{"url": "https://example.com/b"}]}, headers=a.auth
        ),
    ),
    ("PUT", "/api/v1/links/upsert"): (
        None,
        lambda h, a, _: h.client.put(
            "/api/v1/links/upsert", json={"url": "https://example.com/up"}, headers=a.auth
        ),
    ),
    ("PATCH", "/api/v1/links/{link_id}"): (
        _new_link,
        lambda h, a, i: h.client.patch(f"/api/v1/links/{i}", json={"title": "T"}, headers=a.auth),
    ),
    ("DELETE", "/api/v1/links/{link_id}"): (
        _new_link,
        lambda h, a, i: h.client.delete(f"/api/v1/links/{i}", headers=a.auth),
    ),
    ("POST", "/api/v1/tags"): (
        None,
        lambda h, a, _: h.client.post("/api/v1/tags", json={"name": "news"}, headers=a.auth),
    ),
    ("PATCH", "/api/v1/tags/{tag_id}"): (
        _new_tag,
        lambda h, a, i: h.client.patch(f"/api/v1/tags/{i}", json={"color": "red"}, headers=a.auth),
    ),
    ("DELETE", "/api/v1/tags/{tag_id}"): (
        _new_tag,
        lambda h, a, i: h.client.delete(f"/api/v1/tags/{i}", headers=a.auth),
    ),
    ("PATCH", "/api/v1/org/members/{user_id}"): (
        _new_member,
        lambda h, a, i: h.client.patch(
            f"/api/v1/org/members/{i}", json={"role": "viewer"}, headers=a.auth
        ),
    ),
    ("DELETE", "/api/v1/org/members/{user_id}"): (
        _new_member,
        lambda h, a, i: h.client.delete(f"/api/v1/org/members/{i}", headers=a.auth),
    ),
    ("POST", "/api/v1/api-keys"): (
        None,
        lambda h, a, _: h.client.post(
            "/api/v1/api-keys", json={"name": "k", "scopes": ["links:read"]}, headers=a.auth
        ),
    ),
    ("DELETE", "/api/v1/api-keys/{key_id}"): (
        _new_key,
        lambda h, a, i: h.client.delete(f"/api/v1/api-keys/{i}", headers=a.auth),
    ),
    ("POST", "/api/v1/auth/login"): (None, lambda h, a, _: _login(h, a)),
    ("POST", "/api/v1/auth/logout"): (_signed_in, _logout),
    ("POST", "/api/v1/auth/password"): (
        _signed_in,
        lambda h, a, i: h.client.post(
            "/api/v1/auth/password",
            json={"current_password": "correct horse battery", "new_password": "a new long one"},
            headers=_session_headers(i),
        ),
    ),
    ("POST", "/api/v1/auth/sessions/revoke-others"): (
        _signed_in,
        lambda h, a, i: h.client.post(
            "/api/v1/auth/sessions/revoke-others", headers=_session_headers(i)
        ),
    ),
    ("POST", "/api/v1/invites"): (
        None,
        lambda h, a, _: h.client.post(
            "/api/v1/invites", json={"email": "new@example.com"}, headers=a.auth
        ),
    ),
    ("DELETE", "/api/v1/invites/{invite_id}"): (
        _new_invite,
        lambda h, a, i: h.client.delete(f"/api/v1/invites/{i.split()[0]}", headers=a.auth),
    ),
    ("POST", "/api/v1/invites/accept"): (
        _new_invite,
        lambda h, a, i: h.client.post(
            "/api/v1/invites/accept",
            json={"token": i.split()[1], "password": "a new long one"},
        ),
    ),
}


def _mutation_routes(h: Harness) -> set[tuple[str, str]]:
    routes: set[tuple[str, str]] = set()
    for route in create_api_app(h.runtime).routes:
        if isinstance(route, APIRoute):
            routes |= {
                (m, route.path) for m in route.methods if m in {"POST", "PUT", "PATCH", "DELETE"}
            }
    return routes


async def test_every_mutation_route_has_a_scenario(harness: Harness) -> None:
    missing = _mutation_routes(harness) - SCENARIOS.keys()
    assert not missing, f"add an audit scenario for: {sorted(missing)}"


async def _audit_count(h: Harness) -> int:
    async with unit_of_work(h.runtime.sessionmaker) as session:
        return int(
            (await session.execute(select(func.count()).select_from(AuditEvent))).scalar_one()
        )


@pytest.mark.parametrize("route", sorted(SCENARIOS), ids=lambda r: f"{r[0]} {r[1]}")
async def test_mutation_writes_an_audit_event(harness: Harness, route: tuple[str, str]) -> None:
    ada = await harness.account("ada@example.com")
    prepare, call = SCENARIOS[route]
    target = await prepare(harness, ada) if prepare else ""
    before = await _audit_count(harness)
    response = await call(harness, ada, target)
    assert response.status_code < 300, response.text
    assert await _audit_count(harness) > before, f"{route} changed data without an audit event"


async def test_failed_change_leaves_no_audit_event(harness: Harness) -> None:
    """The event shares the change's transaction: a refused change records nothing."""
    ada = await harness.account("ada@example.com")
    await harness.create_link(ada, url="https://example.com/", key="taken")
    before = await _audit_count(harness)
    r = await harness.client.post(
        "/api/v1/links", json={"url": "https://example.com/2", "key": "taken"}, headers=ada.auth
    )
    assert r.status_code == 409
    assert await _audit_count(harness) == before
