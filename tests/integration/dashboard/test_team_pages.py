"""The team page (members, roles, invitations) and accepting an invitation by its link."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
import structlog
from sqlalchemy import select, update

from linkhop.auth import service as auth_service
from linkhop.auth.models import User
from linkhop.db.engine import unit_of_work
from linkhop.ids import OrgId, UserId
from linkhop.invites import service as invites_service
from linkhop.invites.models import Invite
from linkhop.orgs import service as orgs_service
from linkhop.orgs.models import Membership
from tests.integration.dashboard.web import (
    PASSWORD,
    Browser,
    add_member,
    audit_actions,
    audit_count,
    browser,
    field_errors,
    sign_in,
    text_of,
)
from tests.integration.harness import Account, Harness

pytestmark = pytest.mark.asyncio

INVITE_LINK = re.compile(r'id="invite-link"[^>]*>([^<]+)<')


async def _owner(h: Harness) -> tuple[Account, Browser]:
    ada = await h.account("ada@example.com")
    return ada, await sign_in(h, ada.email)


async def _roles(h: Harness, org_id: str) -> dict[str, str]:
    """email → role of every member of the org, from the database."""
    async with unit_of_work(h.runtime.sessionmaker) as session:
        rows = await session.execute(
            select(User.email, Membership.role)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.org_id == org_id)
        )
        return {str(email): str(role) for email, role in rows.all()}


async def _invite(b: Browser, email: str, role: str = "member") -> str:
    """Invite through the team page; returns the link it shows once."""
    await b.get("/app/team")
    r = await b.post("/app/team/invites", {"email": email, "role": role})
    assert r.status_code == 201, r.text
    found = INVITE_LINK.search(r.text)
    assert found, "the invitation link is not shown"
    return unescape(found.group(1)).strip()


def _path(link: str) -> str:
    assert link.startswith("http://lh.test/app/invite/lhinv_"), link
    return link.removeprefix("http://lh.test")


async def _invite_rows(h: Harness, org_id: str) -> list[Invite]:
    async with unit_of_work(h.runtime.sessionmaker) as session:
        rows = await session.execute(select(Invite).where(Invite.org_id == org_id))
        return list(rows.scalars())


def _state(html: str) -> str | None:
    found = re.search(r'data-testid="invite-preview" data-state="([a-z-]+)"', html)
    return found.group(1) if found else None


async def test_team_page_lists_members_with_controls_for_the_owner(harness: Harness) -> None:
    ada, b = await _owner(harness)
    bob = await add_member(harness, "bob@example.com", org_id=ada.org_id, role="member")
    page = await b.get("/app/team")
    assert page.status_code == 200
    assert 'data-testid="nav-team" aria-current="page"' in page.text
    rows = re.findall(r'data-testid="member-row" data-user-id="([^"]+)"', page.text)
    assert rows == [ada.user_id, bob]
    assert 'data-testid="member-you"' in page.text
    # Controls on bob's row, none on the owner's own row.
    assert f'action="/app/team/members/{bob}/role"' in page.text
    assert f'href="/app/team/members/{bob}/remove"' in page.text
    assert f"/app/team/members/{ada.user_id}/" not in page.text
    assert 'id="invite-form"' in page.text and 'id="send-invite"' in page.text
    assert '<label for="email"' in page.text and '<label for="role"' in page.text
    assert text_of(page.text, "no-invites") == "No pending invitations."


async def test_invite_and_accept_as_a_new_user(harness: Harness) -> None:
    ada, b = await _owner(harness)
    link = await _invite(b, "New.Person@Example.com", "member")
    path = _path(link)
    token = path.rsplit("/", 1)[1]
    # Shown once: the team page lists the invitation but never its link again.
    team = await b.get("/app/team")
    assert 'data-email="new.person@example.com"' in team.text
    assert token not in team.text and 'id="invite-link"' not in team.text
    (row,) = await _invite_rows(harness, ada.org_id)
    assert token not in (row.token_hash, row.id)  # only a hash is stored

    guest = browser(harness)
    preview = await guest.get(path)
    assert preview.status_code == 200 and _state(preview.text) == "create"
    assert text_of(preview.text, "invite-org") == "Acme"
    assert text_of(preview.text, "invite-role") == "member"
    assert text_of(preview.text, "invite-email") == "new.person@example.com"
    # Bad input: a short password, then two that differ; nothing is created.
    short = await guest.post(
        path, {"name": "Nia", "password": "short", "password_confirm": "short"}
    )
    assert short.status_code == 422
    assert "at least 10 characters" in field_errors(short.text)["password"]
    differ = await guest.post(
        path, {"name": "Nia", "password": PASSWORD, "password_confirm": PASSWORD + "x"}
    )
    assert differ.status_code == 422 and "password_confirm" in field_errors(differ.text)
    assert 'value="Nia"' in differ.text and PASSWORD not in differ.text
    assert "new.person@example.com" not in await _roles(harness, ada.org_id)

    done = await guest.post(
        path, {"name": "Nia", "password": PASSWORD, "password_confirm": PASSWORD}
    )
    assert done.status_code == 303 and done.headers["location"] == "/app/links"
    home = await guest.get("/app/links")
    assert home.status_code == 200
    assert text_of(home.text, "user-email") == "new.person@example.com"
    assert text_of(home.text, "user-role") == "member"
    assert "You joined as member" in (text_of(home.text, "flash") or "")

    roles = await _roles(harness, ada.org_id)
    assert roles["new.person@example.com"] == "member"
    team = await b.get("/app/team")
    assert 'data-email="new.person@example.com" data-role="member"' in team.text
    assert text_of(team.text, "no-invites") == "No pending invitations."
    actions = await audit_actions(harness)
    for action in ("invite.created", "user.created", "invite.accepted", "session.created"):
        assert action in actions, action
    # The link worked once.
    again = await browser(harness).get(path)
    assert again.status_code == 410
    assert 'data-reason="used"' in again.text and "already used" in again.text


async def test_an_existing_account_signs_in_first_then_joins(harness: Harness) -> None:
    ada, b = await _owner(harness)
    async with unit_of_work(harness.runtime.sessionmaker) as session:
        await auth_service.create_user(session, email="sam@example.com", password=PASSWORD)
    await harness.account("other@example.com", org="Beta")
    path = _path(await _invite(b, "sam@example.com", "viewer"))

    guest = browser(harness)
    preview = await guest.get(path)
    assert _state(preview.text) == "sign-in"
    sign_in_url = f"/app/login?next={path.replace('/', '%2F')}"
    assert f'href="{sign_in_url}"' in preview.text
    # A crafted account-creation POST for an existing account changes nothing.
    await guest.get("/app/login")  # the page above has no form: take a token from one
    crafted = await guest.post(path, {"password": PASSWORD, "password_confirm": PASSWORD})
    assert crafted.status_code == 409 and _state(crafted.text) == "sign-in"

    # Someone else signed in: told so, and a direct POST is refused.
    other = await sign_in(harness, "other@example.com")
    mismatch = await other.get(path)
    assert _state(mismatch.text) == "mismatch"
    assert "sam@example.com" in (text_of(mismatch.text, "invite-message") or "")
    refused = await other.post(path)
    assert refused.status_code == 403
    assert "sam@example.com" not in await _roles(harness, ada.org_id)

    await guest.get(sign_in_url)
    login = await guest.post(
        "/app/login", {"email": "sam@example.com", "password": PASSWORD, "next": path}
    )
    assert login.status_code == 303 and login.headers["location"] == path
    join = await guest.get(path)
    assert _state(join.text) == "join" and 'id="accept-invite"' in join.text
    joined = await guest.post(path)
    assert joined.status_code == 303 and joined.headers["location"] == "/app/links"
    assert (await _roles(harness, ada.org_id))["sam@example.com"] == "viewer"
    home = await guest.get("/app/links")
    assert home.status_code == 200 and "You joined Acme as viewer" in home.text


@pytest.mark.parametrize("how", ["expired", "revoked", "unknown"])
async def test_an_unusable_invitation_says_why_and_changes_nothing(
    harness: Harness, how: str
) -> None:
    ada, b = await _owner(harness)
    path = _path(await _invite(b, "late@example.com"))
    (row,) = await _invite_rows(harness, ada.org_id)
    if how == "expired":
        async with unit_of_work(harness.runtime.sessionmaker) as session:
            past = datetime.now(UTC) - timedelta(minutes=1)
            await session.execute(update(Invite).where(Invite.id == row.id).values(expires_at=past))
    elif how == "revoked":
        await b.get("/app/team")
        revoke = await b.post(f"/app/team/invites/{row.id}/revoke")
        assert revoke.status_code == 303
        flash = text_of((await b.get("/app/team")).text, "flash") or ""
        assert "Revoked the invitation for late@example.com" in flash
    else:
        path = path[:-4] + ("aaaa" if not path.endswith("aaaa") else "bbbb")
    before = await audit_count(harness)
    guest = browser(harness)
    page = await guest.get(path)
    expected = {"expired": (410, "expired"), "revoked": (410, "withdrawn"), "unknown": (404, "")}
    status, word = expected[how]
    assert page.status_code == status
    assert text_of(page.text, "error-message") and word in page.text
    assert 'data-testid="invite-invalid"' in page.text and 'name="password"' not in page.text
    await guest.get("/app/login")  # an anonymous CSRF nonce, as a real browser would have
    post = await guest.post(path, {"password": PASSWORD, "password_confirm": PASSWORD})
    assert post.status_code == status
    assert "late@example.com" not in await _roles(harness, ada.org_id)
    async with unit_of_work(harness.runtime.sessionmaker) as session:
        assert await auth_service.get_user_by_email(session, email="late@example.com") is None
    assert await audit_count(harness) == before


async def test_change_a_role(harness: Harness) -> None:
    ada, b = await _owner(harness)
    bob = await add_member(harness, "bob@example.com", org_id=ada.org_id, role="member")
    await b.get("/app/team")
    r = await b.post(f"/app/team/members/{bob}/role", {"role": "admin"})
    assert r.status_code == 303
    assert (await _roles(harness, ada.org_id))["bob@example.com"] == "admin"
    page = await b.get("/app/team")
    assert "bob@example.com is now admin" in (text_of(page.text, "flash") or "")
    assert "member.role_changed" in await audit_actions(harness)
    # The last owner cannot demote themselves (no control offered; a crafted POST is refused).
    before = await audit_count(harness)
    r = await b.post(f"/app/team/members/{ada.user_id}/role", {"role": "admin"})
    assert r.status_code == 409
    assert "at least one owner" in (text_of(r.text, "action-error") or "")
    assert (await _roles(harness, ada.org_id))["ada@example.com"] == "owner"
    r = await b.post(f"/app/team/members/{bob}/role", {"role": "emperor"})
    assert r.status_code == 422 and "Unknown role" in (text_of(r.text, "action-error") or "")
    assert await audit_count(harness) == before


async def test_remove_a_member_after_confirming(harness: Harness) -> None:
    ada, b = await _owner(harness)
    bob = await harness.account("bob@example.com", role="member")
    assert (await harness.client.get("/api/v1/links", headers=bob.auth)).status_code == 200
    confirm = await b.get(f"/app/team/members/{bob.user_id}/remove")
    assert confirm.status_code == 200 and 'id="confirm-remove"' in confirm.text
    assert "bob@example.com" in confirm.text
    assert "bob@example.com" in await _roles(harness, ada.org_id)  # asking changes nothing
    r = await b.post(f"/app/team/members/{bob.user_id}/remove")
    assert r.status_code == 303
    assert "bob@example.com" not in await _roles(harness, ada.org_id)
    assert "Removed bob@example.com" in (text_of((await b.get("/app/team")).text, "flash") or "")
    assert "member.removed" in await audit_actions(harness)
    assert (await harness.client.get("/api/v1/links", headers=bob.auth)).status_code == 401


@pytest.mark.parametrize("role", ["viewer", "member"])
async def test_without_members_write_the_team_is_read_only(harness: Harness, role: str) -> None:
    ada, owner = await _owner(harness)
    bob = await add_member(harness, "bob@example.com", org_id=ada.org_id, role="member")
    await _invite(owner, "pending@example.com")
    (invite,) = await _invite_rows(harness, ada.org_id)
    await add_member(harness, "vic@example.com", org_id=ada.org_id, role=role)
    vic = await sign_in(harness, "vic@example.com")
    page = await vic.get("/app/team")
    assert page.status_code == 200 and text_of(page.text, "read-only")
    assert "bob@example.com" in page.text and "pending@example.com" in page.text
    for control in ("member-role-select", "save-role", "remove-member", "revoke-invite"):
        assert f'data-testid="{control}"' not in page.text, control
    assert 'id="invite-form"' not in page.text
    assert (await vic.get(f"/app/team/members/{bob}/remove")).status_code == 403

    roles, invites, audits = (
        await _roles(harness, ada.org_id),
        len(await _invite_rows(harness, ada.org_id)),
        await audit_count(harness),
    )
    for path, form in (
        (f"/app/team/members/{bob}/role", {"role": "viewer"}),
        (f"/app/team/members/{bob}/remove", {}),
        (f"/app/team/members/{ada.user_id}/role", {"role": role}),
        (f"/app/team/invites/{invite.id}/revoke", {}),
        ("/app/team/invites", {"email": "friend@example.com", "role": "viewer"}),
    ):
        r = await vic.post(path, form)
        assert r.status_code == 403, path
        assert "members:write" in (text_of(r.text, "error-message") or ""), path
    assert await _roles(harness, ada.org_id) == roles
    assert len(await _invite_rows(harness, ada.org_id)) == invites
    assert all(i.revoked_at is None for i in await _invite_rows(harness, ada.org_id))
    assert await audit_count(harness) == audits


async def test_an_admin_cannot_touch_owners(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    await add_member(harness, "adm@example.com", org_id=ada.org_id, role="admin")
    mem = await add_member(harness, "mem@example.com", org_id=ada.org_id, role="member")
    adm = await sign_in(harness, "adm@example.com")
    page = await adm.get("/app/team")
    assert f"/app/team/members/{ada.user_id}/" not in page.text  # the owner's row: read-only
    assert f'action="/app/team/members/{mem}/role"' in page.text
    assert '<option value="owner"' not in page.text  # neither as a role nor an invitation
    r = await adm.post(f"/app/team/members/{mem}/role", {"role": "owner"})
    assert r.status_code == 403
    r = await adm.post("/app/team/invites", {"email": "boss@example.com", "role": "owner"})
    assert r.status_code == 403
    assert (await _roles(harness, ada.org_id))["mem@example.com"] == "member"
    assert await _invite_rows(harness, ada.org_id) == []


async def test_invite_form_errors_are_shown_inline(harness: Harness) -> None:
    ada, b = await _owner(harness)
    await add_member(harness, "bob@example.com", org_id=ada.org_id, role="member")
    await b.get("/app/team")
    for form, field, words, status in (
        ({"email": "", "role": "member"}, "email", "Enter the email", 422),
        ({"email": "not-an-email", "role": "member"}, "email", "Not a valid email", 422),
        ({"email": "bob@example.com", "role": "member"}, "email", "already a member", 409),
    ):
        r = await b.post("/app/team/invites", form)
        assert r.status_code == status, form
        assert words in field_errors(r.text).get(field, ""), (form, field_errors(r.text))
        assert text_of(r.text, "form-error")
        assert 'id="invite-link"' not in r.text
    assert await _invite_rows(harness, ada.org_id) == []


async def test_another_orgs_members_and_invitations_are_404(harness: Harness) -> None:
    _, a = await _owner(harness)
    bob = await harness.account("bob@beta.example", org="Beta")
    beta_member = await add_member(harness, "bea@beta.example", org_id=bob.org_id, role="member")
    async with unit_of_work(harness.runtime.sessionmaker) as session:
        principal = await orgs_service.principal_for(
            session, user_id=UserId(bob.user_id), org_id=OrgId(bob.org_id)
        )
        invite, _ = await invites_service.create_invite(
            session,
            principal=principal,
            email="guest@beta.example",
            role="member",
            now=datetime.now(UTC),
        )
    beta_roles = await _roles(harness, bob.org_id)
    await a.get("/app/team")
    for method, path, form in (
        ("GET", f"/app/team/members/{beta_member}/remove", {}),
        ("POST", f"/app/team/members/{beta_member}/remove", {}),
        ("POST", f"/app/team/members/{beta_member}/role", {"role": "admin"}),
        ("POST", f"/app/team/invites/{invite.id}/revoke", {}),
    ):
        r = await a.get(path) if method == "GET" else await a.post(path, form)
        assert r.status_code == 404, (method, path)
        assert "bea@beta.example" not in r.text and "guest@beta.example" not in r.text
    assert await _roles(harness, bob.org_id) == beta_roles
    (row,) = await _invite_rows(harness, bob.org_id)
    assert row.revoked_at is None
    team = await a.get("/app/team")
    assert "beta.example" not in team.text


async def test_a_tampered_csrf_token_is_refused(harness: Harness) -> None:
    ada, b = await _owner(harness)
    bob = await add_member(harness, "bob@example.com", org_id=ada.org_id, role="member")
    await b.get("/app/team")
    flipped = b.csrf[:-1] + ("0" if b.csrf[-1] != "0" else "1")
    for path, form in (
        ("/app/team/invites", {"email": "x@example.com", "role": "member"}),
        (f"/app/team/members/{bob}/role", {"role": "admin"}),
        (f"/app/team/members/{bob}/remove", {}),
    ):
        r = await b.post(path, form, csrf=flipped)
        assert r.status_code == 403 and "nothing was changed" in r.text, path
    assert (await _roles(harness, ada.org_id))["bob@example.com"] == "member"
    assert await _invite_rows(harness, ada.org_id) == []
    # The invitation page's forms are checked too (anonymous and signed in).
    path = _path(await _invite(b, "new@example.com"))
    guest = browser(harness)
    await guest.get(path)
    form = {"password": PASSWORD, "password_confirm": PASSWORD}
    assert (await guest.post(path, form, csrf="forged")).status_code == 403
    assert "new@example.com" not in await _roles(harness, ada.org_id)


async def test_the_access_log_does_not_show_invitation_tokens(harness: Harness) -> None:
    _, b = await _owner(harness)
    path = _path(await _invite(b, "new@example.com"))
    token = path.rsplit("/", 1)[1]
    with structlog.testing.capture_logs() as logs:
        assert (await browser(harness).get(path)).status_code == 200
    requests = [entry for entry in logs if entry.get("event") == "request"]
    assert requests and requests[0]["path"] == "/app/invite/…"
    assert token not in repr(logs)


async def test_the_pages_carry_no_inline_code(harness: Harness) -> None:
    ada, b = await _owner(harness)
    bob = await add_member(harness, "bob@example.com", org_id=ada.org_id, role="member")
    await b.get("/app/team")
    created = await b.post("/app/team/invites", {"email": "new@example.com", "role": "member"})
    link = INVITE_LINK.search(created.text)
    assert link
    path = _path(unescape(link.group(1)).strip())
    await b.get("/app/keys")
    new_key = await b.client.post(
        "/app/keys",
        data={"csrf_token": b.csrf, "name": "k", "scopes": "links:read", "expires": "never"},
    )
    key_row = re.search(r'data-key-id="([^"]+)"', new_key.text)
    assert key_row
    key_id = key_row.group(1)
    pages = [
        await b.get("/app/team"),
        created,
        await b.get(f"/app/team/members/{bob}/remove"),
        await b.get("/app/keys"),
        new_key,
        await b.get(f"/app/keys/{key_id}/revoke"),
        await b.get("/app/account"),
        await browser(harness).get(path),
        await b.get(path),  # signed in as someone else
        await browser(harness).get("/app/invite/lhinv_nope"),
    ]
    assert [p.status_code for p in pages] == [200, 201, 200, 200, 201, 200, 200, 200, 200, 404]
    for page in pages:
        where = f"{page.request.method} {page.request.url.path}"
        assert page.headers["content-security-policy"].startswith("default-src 'none'"), where
        assert page.headers["cache-control"] == "no-store", where
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page.text), where
        assert not re.search(r"\son[a-z]+=", page.text), where
        assert not re.search(r"\sstyle=", page.text), where
        assert "<style" not in page.text, where
        assert "password_hash" not in page.text and "$argon2" not in page.text, where
