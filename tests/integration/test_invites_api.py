"""Invitations through the REST API: create, list, revoke, accept once; who may invite whom."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from linkhop.audit.models import AuditEvent
from linkhop.auth.models import User
from linkhop.db.engine import unit_of_work
from linkhop.errors import Gone
from linkhop.invites import service as invites_service
from linkhop.invites.models import Invite
from linkhop.invites.service import AcceptedInvite
from linkhop.orgs.models import Membership
from tests.integration.harness import Account, Harness

pytestmark = pytest.mark.asyncio

PASSWORD = "correct horse battery"  # what harness.account gives every user
NEW_PASSWORD = "a brand new passphrase"


def assert_problem(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """Assert a problem+json response; returns its body."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = r.json()
    if code is not None:
        assert body["code"] == code, body
    return body


async def invite(h: Harness, account: Account, email: str, role: str = "member") -> dict[str, Any]:
    """POST /invites (asserting 201)."""
    r = await h.client.post(
        "/api/v1/invites", json={"email": email, "role": role}, headers=account.auth
    )
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def accept(h: Harness, body: dict[str, Any], **headers: str) -> httpx.Response:
    """POST /invites/accept with ``body`` and ``headers``."""
    return await h.client.post("/api/v1/invites/accept", json=body, headers=headers)


async def login(h: Harness, email: str, password: str = PASSWORD) -> tuple[dict[str, str], str]:
    """Sign in; returns a Cookie header for the session and its CSRF token."""
    r = await h.client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    token = r.cookies["linkhop_session"]
    h.client.cookies.clear()  # cookies travel only where a test sends them explicitly
    return {"Cookie": f"linkhop_session={token}"}, str(r.json()["csrf_token"])


async def snapshot(h: Harness) -> tuple[int, int, list[tuple[str, str | None, str | None]]]:
    """(users, memberships, every invite's (id, accepted_at, revoked_at)) — to show nothing
    changed."""
    async with unit_of_work(h.runtime.sessionmaker) as session:
        users = (await session.execute(select(func.count()).select_from(User))).scalar_one()
        members = (await session.execute(select(func.count()).select_from(Membership))).scalar_one()
        rows = (await session.execute(select(Invite).order_by(Invite.id))).scalars()
        invites = [
            (
                i.id,
                i.accepted_at.isoformat() if i.accepted_at else None,
                i.revoked_at.isoformat() if i.revoked_at else None,
            )
            for i in rows
        ]
    return int(users), int(members), invites


async def members(h: Harness, account: Account) -> dict[str, str]:
    """email → role of the account's org."""
    r = await h.client.get("/api/v1/org/members", headers=account.auth)
    assert r.status_code == 200, r.text
    return {m["email"]: m["role"] for m in r.json()}


async def expire(h: Harness, invite_id: str) -> None:
    """Move an invitation's expiry into the past."""
    async with unit_of_work(h.runtime.sessionmaker) as session:
        await session.execute(
            update(Invite)
            .where(Invite.id == invite_id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )


async def test_lifecycle_for_a_new_user(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    harness.runtime.settings.invite_ttl_hours = 48
    created = await invite(harness, ada, "  New.Person@Example.COM ", "member")
    token = created["token"]
    assert token.startswith("lhinv_") and len(token) >= 40
    assert created["email"] == "new.person@example.com" and created["role"] == "member"
    assert created["status"] == "pending" and created["invited_by"] == ada.user_id
    expires = datetime.fromisoformat(created["expires_at"])
    assert abs(expires - (datetime.now(UTC) + timedelta(hours=48))) < timedelta(minutes=5)

    # The token is shown once: never listed, never stored (only its SHA-256).
    listed = await harness.client.get("/api/v1/invites", headers=ada.auth)
    one = await harness.client.get(f"/api/v1/invites/{created['id']}", headers=ada.auth)
    for r in (listed, one):
        assert r.status_code == 200 and token not in r.text and "token" not in r.text
    assert [i["id"] for i in listed.json()] == [created["id"]]
    assert one.json() == {k: v for k, v in created.items() if k != "token"}
    async with unit_of_work(harness.runtime.sessionmaker) as session:
        row = await session.get(Invite, created["id"])
        assert row is not None
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        stored = [str(getattr(row, c.key)) for c in Invite.__table__.columns]
        assert not any(token in value or token[6:] in value for value in stored)

    r = await accept(harness, {"token": token, "name": "  New   Person ", "password": NEW_PASSWORD})
    assert r.status_code == 200, r.text
    joined = r.json()
    assert joined["new_account"] is True and joined["role"] == "member"
    assert joined["org_id"] == ada.org_id and joined["org_name"] == "Acme"
    assert joined["email"] == "new.person@example.com"

    cookie, _ = await login(harness, "new.person@example.com", NEW_PASSWORD)
    me = (await harness.client.get("/api/v1/me", headers=cookie)).json()
    assert me["org"]["id"] == ada.org_id and me["role"] == "member" and me["name"] == "New Person"
    assert (await members(harness, ada))["new.person@example.com"] == "member"

    after = (await harness.client.get(f"/api/v1/invites/{created['id']}", headers=ada.auth)).json()
    assert after["status"] == "accepted" and after["accepted_by"] == joined["user_id"]
    assert (await harness.client.get("/api/v1/invites", headers=ada.auth)).json() == []
    every = (await harness.client.get("/api/v1/invites?status=all", headers=ada.auth)).json()
    assert [i["id"] for i in every] == [created["id"]]

    # Single use: a second accept (as anyone) is refused and changes nothing.
    before = await snapshot(harness)
    for body in (
        {"token": token, "password": NEW_PASSWORD},
        {"token": token, "password": "another passphrase"},
    ):
        assert_problem(await accept(harness, body), 410, "invite_used")
    assert_problem(await accept(harness, {"token": token}, **cookie), 403, "csrf_failed")
    assert await snapshot(harness) == before
    # Revoking an accepted invitation makes no sense: remove the member instead.
    r = await harness.client.delete(f"/api/v1/invites/{created['id']}", headers=ada.auth)
    assert_problem(r, 409, "invite_used")

    async with unit_of_work(harness.runtime.sessionmaker) as session:
        events = (
            await session.execute(
                select(AuditEvent.action, AuditEvent.org_id, AuditEvent.actor_id).where(
                    AuditEvent.target_id == created["id"]
                )
            )
        ).all()
    assert sorted(events) == [
        ("invite.accepted", ada.org_id, joined["user_id"]),
        ("invite.created", ada.org_id, await own_key_id(harness, ada)),
    ]


async def own_key_id(h: Harness, account: Account) -> str:
    """The id of the key ``account`` authenticates with (the audit actor of key requests)."""
    return str((await h.client.get("/api/v1/me", headers=account.auth)).json()["api_key_id"])


async def test_existing_user_accepts_while_signed_in(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    bob = await harness.account("bob@example.com", org="Beta")
    eve = await harness.account("eve@example.com", org="Evil")
    created = await invite(harness, ada, "bob@example.com", "admin")
    body = {"token": created["token"]}
    bob_cookie, bob_csrf = await login(harness, "bob@example.com")
    eve_cookie, eve_csrf = await login(harness, "eve@example.com")
    before = await snapshot(harness)

    # Refusals first; each leaves everything as it was.
    assert_problem(await accept(harness, body, **bob_cookie), 403, "csrf_failed")
    assert_problem(
        await accept(harness, body, **bob_cookie, **{"X-CSRF-Token": eve_csrf}), 403, "csrf_failed"
    )
    r = await accept(harness, body, **eve_cookie, **{"X-CSRF-Token": eve_csrf})
    assert "bob@example.com" in assert_problem(r, 403, "invite_email_mismatch")["detail"]
    assert_problem(await accept(harness, body, **bob.auth), 403, "session_required")
    # Not signed in: an account for this email exists, so it must sign in rather than sign up.
    r = await accept(harness, {**body, "password": NEW_PASSWORD})
    assert_problem(r, 409, "account_exists")
    dead = {"Cookie": "linkhop_session=not-a-live-session"}
    assert_problem(await accept(harness, body, **dead), 401, "unauthenticated")
    assert await snapshot(harness) == before
    assert "bob@example.com" not in await members(harness, ada)

    r = await accept(harness, body, **bob_cookie, **{"X-CSRF-Token": bob_csrf})
    assert r.status_code == 200, r.text
    assert r.json()["new_account"] is False and r.json()["user_id"] == bob.user_id
    assert (await members(harness, ada))["bob@example.com"] == "admin"
    # Bob keeps his own org and can now act in Acme by choosing it.
    acme = await harness.client.get(
        "/api/v1/me", headers={**bob_cookie, "X-Linkhop-Org": ada.org_id}
    )
    assert acme.json()["role"] == "admin"
    assert (await members(harness, bob))["bob@example.com"] == "owner"
    assert eve.email not in await members(harness, ada)

    # Already a member: no new invitation can be made for him.
    r = await harness.client.post(
        "/api/v1/invites", json={"email": "BOB@example.com"}, headers=ada.auth
    )
    assert_problem(r, 409, "already_member")


async def test_expired_revoked_and_unknown_tokens_change_nothing(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    old = await invite(harness, ada, "late@example.com")
    gone = await invite(harness, ada, "gone@example.com")
    await expire(harness, old["id"])

    first = await harness.client.delete(f"/api/v1/invites/{gone['id']}", headers=ada.auth)
    again = await harness.client.delete(f"/api/v1/invites/{gone['id']}", headers=ada.auth)
    assert first.status_code == again.status_code == 200, first.text
    assert first.json()["status"] == "revoked"
    assert again.json()["revoked_at"] == first.json()["revoked_at"] is not None

    before = await snapshot(harness)
    body = {"password": NEW_PASSWORD}
    detail = assert_problem(await accept(harness, {**body, "token": old["token"]}), 410)
    assert detail["code"] == "invite_expired" and "expired" in detail["detail"]
    r = await accept(harness, {**body, "token": gone["token"]})
    assert_problem(r, 410, "invite_revoked")
    for token in (old["token"][:-1] + "x", "lhinv_nothing", " "):
        r = await accept(harness, {**body, "token": token})
        assert_problem(r, 404, "invite_not_found")
    assert await snapshot(harness) == before

    assert (await harness.client.get("/api/v1/invites", headers=ada.auth)).json() == []
    every = (await harness.client.get("/api/v1/invites?status=all", headers=ada.auth)).json()
    assert {i["email"]: i["status"] for i in every} == {
        "late@example.com": "expired",
        "gone@example.com": "revoked",
    }
    for email in ("late@example.com", "gone@example.com"):
        r = await harness.client.post(
            "/api/v1/auth/login", json={"email": email, "password": NEW_PASSWORD}
        )
        assert_problem(r, 401)


async def test_bad_accept_input_changes_nothing(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    created = await invite(harness, ada, "new@example.com")
    before = await snapshot(harness)
    for body, status, code, field in (
        ({}, 422, "validation_failed", "token"),
        ({"token": created["token"]}, 422, "password_required", "password"),
        ({"token": created["token"], "password": "short"}, 422, "password_too_short", "password"),
        ({"token": created["token"], "password": NEW_PASSWORD, "role": "owner"}, 422, None, "role"),
    ):
        problem = assert_problem(await accept(harness, body), status, code)
        assert field in {e["field"] for e in problem["errors"]}, problem
    assert await snapshot(harness) == before
    # The invitation survived the failed attempts.
    r = await accept(harness, {"token": created["token"], "password": NEW_PASSWORD})
    assert r.status_code == 200, r.text


async def test_bad_invite_input_is_422(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    for body, field in (
        ({"email": "not-an-email"}, "email"),
        ({"email": "x@example.com", "role": "superuser"}, "role"),
        ({"email": "x@example.com", "extra": 1}, "extra"),
    ):
        r = await harness.client.post("/api/v1/invites", json=body, headers=ada.auth)
        problem = assert_problem(r, 422)
        assert field in {e["field"] for e in problem["errors"]}, problem
    assert (await harness.client.get("/api/v1/invites", headers=ada.auth)).json() == []


async def test_nobody_invites_above_their_role(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    adam = await harness.account("adam@example.com", role="admin")
    mia = await harness.account("mia@example.com", role="member")
    # A viewer cannot hold an API key of its own making: mint a member's, then demote.
    vic = await harness.account("vic@example.com", role="member")
    r = await harness.client.patch(
        f"/api/v1/org/members/{vic.user_id}", json={"role": "viewer"}, headers=ada.auth
    )
    assert r.status_code == 200, r.text

    r = await harness.client.post(
        "/api/v1/invites", json={"email": "boss@example.com", "role": "owner"}, headers=adam.auth
    )
    assert "owner" in assert_problem(r, 403, "role_above_yours")["detail"]
    for account in (mia, vic):
        r = await harness.client.post(
            "/api/v1/invites",
            json={"email": "x@example.com", "role": "viewer"},
            headers=account.auth,
        )
        assert "members:write" in assert_problem(r, 403, "forbidden")["detail"]
    assert (await harness.client.get("/api/v1/invites", headers=ada.auth)).json() == []

    # An admin may invite up to admin; only an owner invites (and revokes) owners.
    peer = await invite(harness, adam, "peer@example.com", "admin")
    boss = await invite(harness, ada, "boss@example.com", "owner")
    r = await harness.client.delete(f"/api/v1/invites/{boss['id']}", headers=adam.auth)
    assert_problem(r, 403, "forbidden")
    r = await harness.client.delete(f"/api/v1/invites/{peer['id']}", headers=mia.auth)
    assert_problem(r, 403, "forbidden")
    # Members and viewers may see who is invited (like the member list), not change it.
    for account in (mia, vic):
        listed = (await harness.client.get("/api/v1/invites", headers=account.auth)).json()
        assert {i["email"] for i in listed} == {"peer@example.com", "boss@example.com"}
    r = await accept(harness, {"token": boss["token"], "password": NEW_PASSWORD})
    assert r.status_code == 200 and r.json()["role"] == "owner"
    assert (await members(harness, ada))["boss@example.com"] == "owner"


async def test_other_orgs_cannot_see_revoke_or_redeem_into_their_org(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    bob = await harness.account("bob@example.com", org="Beta")
    created = await invite(harness, ada, "new@example.com")
    for method in ("GET", "DELETE"):
        r = await harness.client.request(
            method, f"/api/v1/invites/{created['id']}", headers=bob.auth
        )
        assert_problem(r, 404, "not_found")
    assert (await harness.client.get("/api/v1/invites?status=all", headers=bob.auth)).json() == []
    still = (await harness.client.get(f"/api/v1/invites/{created['id']}", headers=ada.auth)).json()
    assert still["status"] == "pending"
    r = await accept(harness, {"token": created["token"], "password": NEW_PASSWORD})
    assert r.json()["org_id"] == ada.org_id
    assert "new@example.com" not in await members(harness, bob)


async def test_inviting_again_replaces_the_pending_invitation(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    first = await invite(harness, ada, "new@example.com", "viewer")
    second = await invite(harness, ada, "new@example.com", "member")
    listed = (await harness.client.get("/api/v1/invites", headers=ada.auth)).json()
    assert [i["id"] for i in listed] == [second["id"]]
    assert_problem(
        await accept(harness, {"token": first["token"], "password": NEW_PASSWORD}),
        410,
        "invite_revoked",
    )
    r = await accept(harness, {"token": second["token"], "password": NEW_PASSWORD})
    assert r.status_code == 200 and r.json()["role"] == "member"


async def test_two_concurrent_accepts_admit_exactly_one(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    created = await invite(harness, ada, "new@example.com")
    users_before, members_before, _ = await snapshot(harness)

    async def attempt(password: str) -> AcceptedInvite:
        async with unit_of_work(harness.runtime.sessionmaker) as session:
            return await invites_service.accept_invite(
                session, token=created["token"], now=datetime.now(UTC), password=password
            )

    results = await asyncio.gather(
        attempt(NEW_PASSWORD), attempt("someone else's pass"), return_exceptions=True
    )
    won = [r for r in results if isinstance(r, AcceptedInvite)]
    lost = [r for r in results if not isinstance(r, AcceptedInvite)]
    assert len(won) == 1 and len(lost) == 1, results
    assert isinstance(lost[0], Gone) and lost[0].code == "invite_used", lost
    users_after, members_after, _ = await snapshot(harness)
    assert (users_after, members_after) == (users_before + 1, members_before + 1)
