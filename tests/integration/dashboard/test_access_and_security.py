"""Roles, CSRF, org isolation, audit coverage and security headers of the dashboard.

Like tests/integration/test_org_isolation.py and test_audit_coverage.py (which enumerate the
API's routes), the route lists here come from the dashboard app itself: a new page with a path
parameter or a new form POST fails these tests until it is covered.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import fastapi.routing
import pytest
from fastapi.routing import APIRoute

from linkhop.dashboard.app import create_dashboard_app, dashboard_routes
from linkhop.dashboard.security import CONTENT_SECURITY_POLICY
from tests.integration.dashboard import access_cases
from tests.integration.dashboard.web import (
    PASSWORD,
    Browser,
    add_member,
    audit_count,
    browser,
    sign_in,
    text_of,
)
from tests.integration.harness import Account, Harness

pytestmark = pytest.mark.asyncio

MARKER = "beta-secret"
PATH_PARAM = re.compile(r"{(\w+)(?::\w+)?}")
EDIT = {"url": "https://evil.example/", "title": "hijacked", "tz": "UTC", "redirect_status": "302"}
# A valid form per POST route with a path parameter, so that only the org boundary (or the
# role) can be the reason for a refusal.
SAMPLE_FORMS: dict[str, dict[str, str]] = {
    "/app/links/{link_id}": EDIT,
    "/app/links/{link_id}/archive": {"archived": "1"},
    "/app/links/{link_id}/delete": {},
    **access_cases.SAMPLE_FORMS,
}


def routes(h: Harness) -> list[tuple[str, str]]:
    """(method, /app path template) of every dashboard page and form."""
    app = dashboard_routes(create_dashboard_app(h.runtime))
    # Newer FastAPI keeps included routers lazily; iter_route_contexts flattens them.
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    found = [
        (method, f"/app{entry.path}")
        for entry in (flatten(app.routes) if flatten else app.routes)
        if isinstance(getattr(entry, "original_route", entry), APIRoute)
        for method in sorted(entry.methods or ())
    ]
    assert ("POST", "/app/links/{link_id}/delete") in found  # the enumeration itself works
    return found


async def _b_link(h: Harness, bob: Account) -> str:
    link = await h.create_link(
        bob, url=f"https://{MARKER}.example/x", title=MARKER, tags=[f"{MARKER}-tag"]
    )
    return str(link["id"])


async def _b_link_object(
    h: Harness, bob: Account, marker: str
) -> tuple[str, access_cases.Snapshot]:
    link_id = await _b_link(h, bob)

    async def snapshot() -> object:
        return (await h.client.get(f"/api/v1/links/{link_id}", headers=bob.auth)).json()

    return link_id, snapshot


# Path parameter → a factory for org B's object of that kind (its id, and a snapshot of it).
OTHER_ORG_OBJECTS: dict[str, access_cases.OtherOrgObject] = {
    "link_id": _b_link_object,
    **access_cases.OTHER_ORG_OBJECTS,
}


async def test_every_page_is_404_for_another_orgs_object(harness: Harness) -> None:
    ada = await harness.account("ada@acme.example", org="Acme")
    bob = await harness.account("bob@beta.example", org="Beta")
    a, b = await sign_in(harness, ada.email), await sign_in(harness, bob.email)
    with_params = [
        (m, p)
        for m, p in routes(harness)
        if set(PATH_PARAM.findall(p)) - access_cases.BEARER_PARAMS
    ]
    unknown = {n for _, p in with_params for n in PATH_PARAM.findall(p)} - OTHER_ORG_OBJECTS.keys()
    assert not unknown, f"teach this test to make an org-B object for {unknown}"
    missing = {p for m, p in with_params if m == "POST"} - SAMPLE_FORMS.keys()
    assert not missing, f"add a sample form for {missing}"

    for method, path in with_params:
        (param,) = PATH_PARAM.findall(path)
        object_id, snapshot = await OTHER_ORG_OBJECTS[param](harness, bob, MARKER)
        url = PATH_PARAM.sub(lambda _, found=object_id: found, path)
        before = await snapshot()
        await a.get("/app/links")
        r = await a.get(url) if method == "GET" else await a.post(url, SAMPLE_FORMS[path])
        assert r.status_code == 404, f"{method} {path} → {r.status_code}"
        assert text_of(r.text, "error-page") is not None and MARKER not in r.text
        assert await snapshot() == before, f"{method} {path} changed org B's object"
        # Control: org B's owner gets through, so the 404 above was the org boundary.
        await b.get("/app/links")
        own = await b.get(url) if method == "GET" else await b.post(url, SAMPLE_FORMS[path])
        assert own.status_code < 400, f"{method} {path} as the owner: {own.status_code}"
    searched = await a.get(f"/app/links?q={MARKER}&status=all")
    assert 'data-testid="link-row"' not in searched.text
    listed = await a.get("/app/links?status=all")  # tags, domains, rows: nothing of org B
    assert MARKER not in listed.text and "beta" not in listed.text.lower()


async def test_a_viewer_sees_no_edit_controls_and_cannot_edit(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    await add_member(harness, "vic@example.com", org_id=ada.org_id, role="viewer")
    link = await harness.create_link(ada, url="https://example.com/a", key="promo", tags=["x"])
    vic = await sign_in(harness, "vic@example.com")
    page = await vic.get("/app/links")
    assert link["id"] in page.text
    for control in ("new-link", "edit-link", "archive-link", "delete-link"):
        assert f'data-testid="{control}"' not in page.text, control
    view = await vic.get(f"/app/links/{link['id']}")
    assert view.status_code == 200 and text_of(view.text, "read-only")
    assert "<form" not in view.text.split('id="main"')[1]  # nothing to submit on the page
    assert (await vic.get("/app/links/new")).status_code == 403
    assert (await vic.get(f"/app/links/{link['id']}/delete")).status_code == 403

    before = await harness.client.get(f"/api/v1/links/{link['id']}", headers=ada.auth)
    audits = await audit_count(harness)
    for path, form in (
        (f"/app/links/{link['id']}", EDIT),
        (f"/app/links/{link['id']}/archive", {"archived": "1"}),
        (f"/app/links/{link['id']}/delete", {}),
        ("/app/links/new", {"url": "https://example.com/new"}),
    ):
        r = await vic.post(path, form)
        assert r.status_code == 403, path
        assert "links:write" in (text_of(r.text, "error-message") or ""), path
    after = await harness.client.get(f"/api/v1/links/{link['id']}", headers=ada.auth)
    assert after.json() == before.json()
    assert len((await harness.client.get("/api/v1/links", headers=ada.auth)).json()["data"]) == 1
    assert await audit_count(harness) == audits


async def test_forms_refuse_a_missing_or_tampered_csrf_token(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    await harness.account("bob@example.com", org="Beta")
    a = await sign_in(harness, ada.email)
    other = await sign_in(harness, "bob@example.com")
    flipped = a.csrf[:-1] + ("0" if a.csrf[-1] != "0" else "1")
    for token in ("", flipped, other.csrf):
        r = await a.post("/app/links/new", {"url": "https://example.com/x"}, csrf=token)
        assert r.status_code == 403
        assert "This form could not be accepted" in r.text
        assert "nothing was changed" in (text_of(r.text, "error-message") or "")
    r = await a.post("/app/logout", csrf=flipped)
    assert r.status_code == 403
    assert (await a.get("/app/links")).status_code == 200  # still signed in
    assert (await harness.client.get("/api/v1/links", headers=ada.auth)).json()["data"] == []
    # htmx sends the token as a header instead of a field.
    r = await a.client.post(
        "/app/links/new",
        data={"url": "https://example.com/x", "tz": "UTC"},
        headers={"X-CSRF-Token": a.csrf},
    )
    assert r.status_code == 303


async def _on_links(h: Harness) -> tuple[Account, Browser, str]:
    ada = await h.account("ada@example.com")
    link = await h.create_link(ada, url="https://example.com/x")
    return ada, await sign_in(h, ada.email), str(link["id"])


Prepared = tuple[Browser, str]  # a browser on the right page, and the link id (if any)


async def _fresh_install(h: Harness) -> Prepared:
    b = browser(h, ip="127.0.0.1")
    await b.get("/app/setup")
    return b, ""


async def _login_page(h: Harness) -> Prepared:
    await h.account("ada@example.com")
    b = browser(h)
    await b.get("/app/login")
    return b, ""


async def _signed_in(h: Harness) -> Prepared:
    _, b, link_id = await _on_links(h)
    return b, link_id


OWNER_FORM = {
    "email": "ada@example.com",
    "password": PASSWORD,
    "password_confirm": PASSWORD,
    "org": "Acme",
}
# (method, path) → how to get there, and the form that performs the change.
AUDITED: dict[tuple[str, str], tuple[Callable[[Harness], Awaitable[Prepared]], dict[str, str]]] = {
    ("POST", "/app/setup"): (_fresh_install, OWNER_FORM),
    ("POST", "/app/login"): (_login_page, {"email": "ada@example.com", "password": PASSWORD}),
    ("POST", "/app/logout"): (_signed_in, {}),
    ("POST", "/app/links/new"): (_signed_in, {"url": "https://example.com/new", "tz": "UTC"}),
    ("POST", "/app/links/{link_id}"): (_signed_in, EDIT),
    ("POST", "/app/links/{link_id}/archive"): (_signed_in, {"archived": "1"}),
    ("POST", "/app/links/{link_id}/delete"): (_signed_in, {}),
    **access_cases.AUDITED,
}


async def test_every_form_post_has_an_audit_scenario(harness: Harness) -> None:
    posts = {(m, p) for m, p in routes(harness) if m not in {"GET", "HEAD"}}
    missing = posts - AUDITED.keys()
    assert not missing, f"add an audit scenario for: {sorted(missing)}"


@pytest.mark.parametrize("route", sorted(AUDITED), ids=lambda r: f"{r[0]} {r[1]}")
async def test_every_form_post_writes_an_audit_event(
    harness: Harness, route: tuple[str, str]
) -> None:
    prepare, form = AUDITED[route]
    b, link_id = await prepare(harness)
    before = await audit_count(harness)
    response = await b.post(PATH_PARAM.sub(lambda _: link_id, route[1]), form)
    # 201: the page answering a create that shows a secret once (invitation link, API key).
    assert response.status_code in {201, 303}, response.text
    assert await audit_count(harness) > before, f"{route} changed data without an audit event"


async def test_every_dashboard_response_carries_the_security_headers(harness: Harness) -> None:
    ada, b, link_id = await _on_links(harness)
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert "'unsafe-eval'" not in CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    anonymous = browser(harness)
    pages = [
        await anonymous.get("/app/login"),
        await b.get("/app/links"),
        await b.get("/app/links/new"),
        await b.get(f"/app/links/{link_id}"),
        await b.get(f"/app/links/{link_id}/delete"),
        await b.get("/app/analytics"),
        await b.get("/app/no-such-page"),
        await b.get("/app/links/link_nope"),
        await b.post("/app/links/new", {"url": "ftp://x"}),
        await b.post("/app/links/new", {"url": "https://example.com/"}, csrf="forged"),
    ]
    assert [p.status_code for p in pages] == [200, 200, 200, 200, 200, 200, 404, 404, 422, 403]
    for page in pages:
        where = f"{page.request.method} {page.request.url.path}"
        assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, where
        assert page.headers["x-content-type-options"] == "nosniff", where
        assert page.headers["x-frame-options"] == "DENY", where
        assert page.headers["cache-control"] == "no-store", where
        assert page.headers["content-type"].startswith("text/html"), where
        # Nothing the CSP would block: no inline scripts, handlers or style attributes.
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page.text), where
        assert not re.search(r"\son[a-z]+=", page.text), where
        assert not re.search(r"\sstyle=", page.text), where
        assert "<style" not in page.text, where
    for asset in ("app.css", "app.js", "vendor/htmx/htmx.min.js", "vendor/uplot/uPlot.iife.min.js"):
        r = await b.get(f"/app/static/{asset}?v=1")
        assert r.status_code == 200, asset
        assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "immutable" in r.headers["cache-control"]
    assert ada.email in pages[1].text and "lnk_" not in pages[1].text  # no API key in HTML


async def test_not_found_pages_fit_the_app(harness: Harness) -> None:
    r = await browser(harness).get("/app/links/x/y/z")
    assert r.status_code == 404 and text_of(r.text, "error-page") is not None
    assert "Page not found" in r.text and "/app/static/app.css" in r.text
