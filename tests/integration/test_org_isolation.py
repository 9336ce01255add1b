"""Org isolation: a member of org A gets 404 for every org-B object on every endpoint.

The route list comes from the app itself, so a new endpoint is covered (or fails, asking for a
factory) without anyone remembering to extend this file.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import fastapi.routing
import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel

from linkhop.apps.api import create_api_app
from linkhop.links.schemas import LinkUpdate
from linkhop.orgs.schemas import MemberUpdate
from linkhop.tags.schemas import TagUpdate
from tests.integration.harness import Account, Harness

pytestmark = pytest.mark.asyncio

# Every org-B object carries this marker, so any A response that shows it is a leak.
MARKER = "beta-secret"
BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
PATH_PARAM = re.compile(r"{(\w+)(?::\w+)?}")

# A valid body per request model, so that the only reason left to refuse is the org boundary
# (an invalid body would be a 422 and hide whether the route checks the org at all).
SAMPLE_BODIES: dict[type[BaseModel], dict[str, Any]] = {
    LinkUpdate: {"url": "https://evil.example/", "title": "hijacked", "archived": True},
    TagUpdate: {"name": "hijacked", "color": "red"},
    MemberUpdate: {"role": "viewer"},
}


@dataclass
class Orgs:
    """Org A (ada, owner, all scopes) and org B (bob, owner, all scopes)."""

    h: Harness
    ada: Account
    bob: Account
    _members: int = field(default=0)

    async def b_link(self) -> str:
        link = await self.h.create_link(
            self.bob, url=f"https://{MARKER}.example/x", title=MARKER, tags=[f"{MARKER}-tag"]
        )
        return str(link["id"])

    async def b_tag(self) -> str:
        self._members += 1
        r = await self.h.client.post(
            "/api/v1/tags", json={"name": f"{MARKER}-{self._members}"}, headers=self.bob.auth
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def b_key(self) -> str:
        r = await self.h.client.post(
            "/api/v1/api-keys",
            headers=self.bob.auth,
            json={"name": MARKER, "scopes": ["links:read"]},
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def b_invite(self) -> str:
        self._members += 1
        r = await self.h.client.post(
            "/api/v1/invites",
            headers=self.bob.auth,
            json={"email": f"{MARKER}-{self._members}@beta.example", "role": "member"},
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def b_member(self) -> str:
        self._members += 1
        member = await self.h.account(f"b{self._members}@beta.example", org="Beta", role="member")
        return member.user_id


@dataclass(frozen=True)
class Kind:
    """How to make an org-B object for a path parameter, and where its owner reads it."""

    create: Callable[[Orgs], Awaitable[str]]
    read: str


# Path parameter → how to create that object in org B. A route whose parameter is missing here
# fails the test: add a factory rather than leave the endpoint unchecked.
KINDS: dict[str, Kind] = {
    "link_id": Kind(Orgs.b_link, "/api/v1/links/{}"),
    "tag_id": Kind(Orgs.b_tag, "/api/v1/tags/{}"),
    "key_id": Kind(Orgs.b_key, "/api/v1/api-keys/{}"),
    "user_id": Kind(Orgs.b_member, "/api/v1/org/members/{}"),
    "invite_id": Kind(Orgs.b_invite, "/api/v1/invites/{}"),
}


def api_routes(app: FastAPI) -> Iterator[tuple[str, str, APIRoute]]:
    """(method, full path template, route) for every API route, included routers flattened."""
    # Newer FastAPI keeps included routers lazily in app.routes; iter_route_contexts flattens
    # them (it is what FastAPI's OpenAPI generator walks). Older versions list APIRoutes directly.
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    entries: list[Any] = list(flatten(app.routes) if flatten else app.routes)
    for entry in entries:
        route = getattr(entry, "original_route", entry)
        if isinstance(route, APIRoute):
            for method in sorted(entry.methods or ()):
                yield method, str(entry.path), route


def fill(path: str, ids: dict[str, str]) -> str:
    """The path template with its parameters replaced by ``ids``."""
    return PATH_PARAM.sub(lambda m: ids[m.group(1)], path)


def body_for(route: APIRoute) -> dict[str, Any] | None:
    """A valid request body for the route, None when it takes none."""
    if route.body_field is None:
        return None
    model = route.body_field.field_info.annotation
    assert model in SAMPLE_BODIES, f"add a sample body for {model} to SAMPLE_BODIES"
    return SAMPLE_BODIES[model]


def assert_not_found(r: httpx.Response) -> None:
    """A 404 problem that shows nothing of org B."""
    where = f"{r.request.method} {r.request.url.path}"
    assert r.status_code == 404, f"{where} → {r.status_code} {r.text}"
    assert r.headers["content-type"] == "application/problem+json", where
    assert r.json()["code"] == "not_found", where
    assert MARKER not in r.text, where


@pytest.fixture
async def orgs(harness: Harness) -> Orgs:
    """Two orgs with one owner each."""
    ada = await harness.account("ada@acme.example", org="Acme")
    bob = await harness.account("bob@beta.example", org="Beta")
    return Orgs(harness, ada, bob)


async def test_every_object_route_is_404_across_orgs(orgs: Orgs) -> None:
    h = orgs.h
    routes = [r for r in api_routes(create_api_app(h.runtime)) if PATH_PARAM.search(r[1])]
    # Guard the enumeration itself: if it silently found nothing, every check below would pass.
    assert ("DELETE", "/api/v1/links/{link_id}") in {(m, p) for m, p, _ in routes}
    unknown = sorted({p for _, path, _ in routes for p in PATH_PARAM.findall(path)} - set(KINDS))
    assert not unknown, f"add a factory to KINDS for path parameter(s) {unknown}"

    for method, path, route in routes:
        params = PATH_PARAM.findall(path)
        ids = {p: await KINDS[p].create(orgs) for p in params}
        url = fill(path, ids)
        before = {
            p: await h.client.get(KINDS[p].read.format(i), headers=orgs.bob.auth)
            for p, i in ids.items()
        }
        assert all(r.status_code == 200 for r in before.values()), before
        body = body_for(route)

        assert_not_found(await h.client.request(method, url, json=body, headers=orgs.ada.auth))
        for p, i in ids.items():
            after = await h.client.get(KINDS[p].read.format(i), headers=orgs.bob.auth)
            assert after.json() == before[p].json(), f"{method} {path} changed org B's {p}"
        # Control: the same request by org B's owner works, so the 404 above was the org
        # boundary and not a broken route or body.
        own = await h.client.request(method, url, json=body, headers=orgs.bob.auth)
        assert own.status_code < 400, f"{method} {path} as the owner: {own.status_code} {own.text}"


async def test_lists_and_filters_never_show_org_b(orgs: Orgs) -> None:
    h = orgs.h
    await h.create_link(orgs.ada, url="https://acme.example/a", key="acme-a")
    b_ids = {await orgs.b_link(), await orgs.b_tag(), await orgs.b_key(), await orgs.b_member()}
    b_ids.add(await orgs.b_invite())
    b_ids.add(orgs.bob.user_id)
    for path in (
        "/api/v1/links",
        "/api/v1/links?archived=true",
        f"/api/v1/links?q={MARKER}",
        f"/api/v1/links?tag={MARKER}-tag",
        "/api/v1/tags",
        "/api/v1/api-keys",
        "/api/v1/org/members",
        "/api/v1/invites",
        "/api/v1/invites?status=all",
        "/api/v1/me",
        "/api/v1/org",
    ):
        r = await h.client.get(path, headers=orgs.ada.auth)
        assert r.status_code == 200, (path, r.text)
        # Org B's name, emails, domains, keys and tags all read "beta" followed by a quote, dot
        # or hyphen; a bare "beta" can turn up by chance inside a random base62 key prefix.
        text = r.text.lower()
        assert MARKER not in r.text, path
        assert not any(needle in text for needle in ('"beta"', "beta.", "beta-")), path
        assert not any(i in r.text for i in b_ids), path
    own = (await h.client.get(f"/api/v1/links?q={MARKER}", headers=orgs.bob.auth)).json()
    assert len(own["data"]) == 1  # control: the filter does find org B's link for org B


async def test_org_header_cannot_switch_orgs(orgs: Orgs) -> None:
    h = orgs.h
    await orgs.b_link()
    # An API key belongs to one org: the header is ignored, the key's own org is used.
    r = await h.client.get(
        "/api/v1/links", headers={**orgs.ada.auth, "X-Linkhop-Org": orgs.bob.org_id}
    )
    assert r.status_code == 200 and r.json()["data"] == []
    # A cookie session may pick an org only among the user's memberships.
    login = await h.client.post(
        "/api/v1/auth/login", json={"email": orgs.ada.email, "password": "correct horse battery"}
    )
    assert login.status_code == 200, login.text
    cookie = {"Cookie": f"linkhop_session={login.cookies['linkhop_session']}"}
    h.client.cookies.clear()
    assert_not_found(
        await h.client.get("/api/v1/links", headers={**cookie, "X-Linkhop-Org": orgs.bob.org_id})
    )
    me = await h.client.get("/api/v1/me", headers={**cookie, "X-Linkhop-Org": orgs.ada.org_id})
    assert me.status_code == 200 and me.json()["org"]["id"] == orgs.ada.org_id


async def test_analytics_never_counts_org_b(orgs: Orgs) -> None:
    h = orgs.h
    a = await h.create_link(orgs.ada, url="https://acme.example/a", key="acme-a")
    b = await h.create_link(
        orgs.bob, url=f"https://{MARKER}.example/b", key="beta-b", tags=[f"{MARKER}-tag"]
    )
    for key, clicks in (("acme-a", 2), ("beta-b", 3)):
        for _ in range(clicks):
            hop = await h.client.get(
                f"/{key}",
                headers={
                    "user-agent": BROWSER,
                    "referer": f"https://{MARKER}.example/from"
                    if key == "beta-b"
                    else "https://acme.example/from",
                },
            )
            assert hop.status_code == 302
    assert await h.ingest() == 5

    async def query(account: Account, **params: str) -> httpx.Response:
        return await h.client.get("/api/v1/analytics", params=params, headers=account.auth)

    assert (await query(orgs.ada)).json()["clicks"] == 2
    assert (await query(orgs.bob)).json()["clicks"] == 3  # control: org B's clicks exist
    assert_not_found(await query(orgs.ada, link_id=b["id"]))
    assert_not_found(await query(orgs.ada, link_id=b["id"], group_by="timeseries"))
    assert (await query(orgs.ada, tag=f"{MARKER}-tag")).json()["clicks"] == 0
    top = (await query(orgs.ada, group_by="top_links")).json()
    assert [row["link_id"] for row in top] == [a["id"]]
    for group in ("referrer_domains", "referrers", "countries", "devices", "timeseries"):
        r = await query(orgs.ada, group_by=group)
        assert r.status_code == 200 and MARKER not in r.text, group
        if group == "devices":
            assert sum(row["clicks"] for row in r.json()) == 2


async def test_keys_are_global_per_domain_without_leaking(orgs: Orgs) -> None:
    h = orgs.h
    b = await h.create_link(orgs.bob, url=f"https://{MARKER}.example/launch", key="launch")
    assert_not_found(await h.client.get("/api/v1/links/info?key=launch", headers=orgs.ada.auth))
    ok = await h.client.get("/api/v1/links/info?key=launch", headers=orgs.bob.auth)
    assert ok.status_code == 200  # control

    taken = await h.client.post(
        "/api/v1/links",
        headers=orgs.ada.auth,
        json={"url": "https://acme.example/", "key": "LAUNCH"},
    )
    assert taken.status_code == 409 and taken.json()["code"] == "key_taken"
    assert MARKER not in taken.text and b["id"] not in taken.text
    mine = await h.create_link(orgs.ada, url="https://acme.example/", key="acme")
    moved = await h.client.patch(
        f"/api/v1/links/{mine['id']}", json={"key": "launch"}, headers=orgs.ada.auth
    )
    assert moved.status_code == 409 and MARKER not in moved.text

    # Find-or-create by URL only ever finds the caller's own links.
    upsert = await h.client.put(
        "/api/v1/links/upsert",
        headers=orgs.ada.auth,
        json={"url": f"https://{MARKER}.example/launch"},
    )
    assert upsert.status_code == 201 and upsert.json()["id"] != b["id"]
    # Tagging with org B's tag name makes a new org-A tag, never attaches org B's.
    b_tags = (await h.client.get("/api/v1/tags", headers=orgs.bob.auth)).json()
    tagged = await h.client.patch(
        f"/api/v1/links/{mine['id']}", json={"tags": [f"{MARKER}-tag"]}, headers=orgs.ada.auth
    )
    assert tagged.status_code == 200
    assert tagged.json()["tags"][0]["id"] not in {t["id"] for t in b_tags}
    assert (await h.client.get("/api/v1/tags", headers=orgs.bob.auth)).json() == b_tags
