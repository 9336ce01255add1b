"""The team, API keys, account and invitation pages' cases for test_access_and_security.py.

That module enumerates the dashboard's routes: every form POST needs an audit scenario, every
path parameter a factory for another organisation's object, and every POST route with a path
parameter a sample form. These are the entries for the pages built in team.py, keys.py,
account.py and invites.py.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy import select

from linkhop.api_keys import service as api_keys_service
from linkhop.api_keys.models import ApiKey
from linkhop.audit.models import AuditEvent
from linkhop.db.engine import unit_of_work
from linkhop.ids import OrgId, UserId
from linkhop.invites import service as invites_service
from linkhop.invites.models import Invite
from linkhop.orgs import service as orgs_service
from linkhop.orgs.models import Membership
from linkhop.principal import Principal
from tests.integration.dashboard.web import PASSWORD, Browser, add_member, browser, sign_in
from tests.integration.harness import Account, Harness

Prepared = tuple[Browser, str]  # a browser on the right page, and the path parameter (if any)
Snapshot = Callable[[], Awaitable[object]]
OtherOrgObject = Callable[[Harness, Account, str], Awaitable[tuple[str, Snapshot]]]

# Path parameters that are bearer secrets, not org objects: whoever holds an invitation link
# may open it, whatever their org (test_team_pages.py covers unknown, used and expired links).
BEARER_PARAMS = frozenset({"token"})
_SERIAL = itertools.count(1)


async def _principal(h: Harness, account: Account) -> Principal:
    async with unit_of_work(h.runtime.sessionmaker) as session:
        return await orgs_service.principal_for(
            session, user_id=UserId(account.user_id), org_id=OrgId(account.org_id)
        )


async def _member(h: Harness, bob: Account, marker: str) -> tuple[str, Snapshot]:
    email = f"{marker}-{next(_SERIAL)}@beta.example"
    user_id = await add_member(h, email, org_id=bob.org_id, role="member")

    async def snapshot() -> object:
        async with unit_of_work(h.runtime.sessionmaker) as session:
            stmt = select(Membership.role).where(
                Membership.org_id == bob.org_id, Membership.user_id == user_id
            )
            return (await session.execute(stmt)).scalar_one_or_none()

    return user_id, snapshot


async def _invite(h: Harness, bob: Account, marker: str) -> tuple[str, Snapshot]:
    principal = await _principal(h, bob)
    async with unit_of_work(h.runtime.sessionmaker) as session:
        row, _ = await invites_service.create_invite(
            session,
            principal=principal,
            email=f"{marker}-guest@beta.example",
            role="member",
            now=datetime.now(UTC),
        )
        invite_id = row.id

    async def snapshot() -> object:
        async with unit_of_work(h.runtime.sessionmaker) as session:
            invite = await session.get(Invite, invite_id)
            assert invite is not None
            return (invite.email, invite.role, invite.revoked_at, invite.accepted_at)

    return invite_id, snapshot


async def _key(h: Harness, bob: Account, marker: str) -> tuple[str, Snapshot]:
    principal = await _principal(h, bob)
    async with unit_of_work(h.runtime.sessionmaker) as session:
        row, _ = await api_keys_service.create_key(
            session,
            principal=principal,
            name=marker,
            scopes=["links:read"],
            expires_in_days=None,
            env="test",
            now=datetime.now(UTC),
        )
        key_id = row.id

    async def snapshot() -> object:
        async with unit_of_work(h.runtime.sessionmaker) as session:
            key = await session.get(ApiKey, key_id)
            assert key is not None
            return (key.name, key.revoked_at)

    return key_id, snapshot


async def _org(h: Harness, bob: Account, marker: str) -> tuple[str, Snapshot]:
    """Org B itself: someone outside it cannot switch to it (nothing recorded, nothing set)."""

    async def snapshot() -> object:
        async with unit_of_work(h.runtime.sessionmaker) as session:
            stmt = select(AuditEvent.id).where(
                AuditEvent.action == "session.org_switched", AuditEvent.target_id == bob.org_id
            )
            return len((await session.execute(stmt)).all())

    return bob.org_id, snapshot


OTHER_ORG_OBJECTS: dict[str, OtherOrgObject] = {
    "org_id": _org,
    "user_id": _member,
    "invite_id": _invite,
    "key_id": _key,
}
SAMPLE_FORMS: dict[str, dict[str, str]] = {
    "/app/team/members/{user_id}/role": {"role": "admin"},
    "/app/team/members/{user_id}/remove": {},
    "/app/team/invites/{invite_id}/revoke": {},
    "/app/keys/{key_id}/revoke": {},
    "/app/orgs/{org_id}/switch": {},
}


async def _owner(h: Harness) -> tuple[Account, Browser]:
    ada = await h.account("ada@example.com")
    return ada, await sign_in(h, ada.email)


async def _on_page(h: Harness, path: str) -> Prepared:
    _, b = await _owner(h)
    await b.get(path)
    return b, ""


async def _with_member(h: Harness) -> Prepared:
    ada, b = await _owner(h)
    user_id = await add_member(h, "bob@example.com", org_id=ada.org_id, role="member")
    await b.get("/app/team")
    return b, user_id


async def _with_invite(h: Harness) -> Prepared:
    ada, b = await _owner(h)
    async with unit_of_work(h.runtime.sessionmaker) as session:
        row, _ = await invites_service.create_invite(
            session,
            principal=await _principal(h, ada),
            email="guest@example.com",
            role="member",
            now=datetime.now(UTC),
        )
    await b.get("/app/team")
    return b, row.id


async def _with_key(h: Harness) -> Prepared:
    ada, b = await _owner(h)
    async with unit_of_work(h.runtime.sessionmaker) as session:
        stmt = select(ApiKey.id).where(ApiKey.user_id == ada.user_id)
        key_id = (await session.execute(stmt)).scalar_one()
    await b.get("/app/keys")
    return b, key_id


async def _invited_guest(h: Harness) -> Prepared:
    ada = await h.account("ada@example.com")
    async with unit_of_work(h.runtime.sessionmaker) as session:
        _, token = await invites_service.create_invite(
            session,
            principal=await _principal(h, ada),
            email="guest@example.com",
            role="member",
            now=datetime.now(UTC),
        )
    guest = browser(h)
    await guest.get(f"/app/invite/{token}")
    return guest, token


async def _own_org(h: Harness) -> Prepared:
    ada, b = await _owner(h)
    await b.get("/app/links")
    return b, ada.org_id


async def _team_page(h: Harness) -> Prepared:
    return await _on_page(h, "/app/team")


async def _keys_page(h: Harness) -> Prepared:
    return await _on_page(h, "/app/keys")


async def _account_page(h: Harness) -> Prepared:
    return await _on_page(h, "/app/account")


NEW_PASSWORD = "a brand new passphrase"
AUDITED: dict[tuple[str, str], tuple[Callable[[Harness], Awaitable[Prepared]], dict[str, str]]] = {
    ("POST", "/app/team/invites"): (_team_page, {"email": "new@example.com", "role": "member"}),
    ("POST", "/app/team/invites/{invite_id}/revoke"): (_with_invite, {}),
    ("POST", "/app/team/members/{user_id}/role"): (_with_member, {"role": "admin"}),
    ("POST", "/app/team/members/{user_id}/remove"): (_with_member, {}),
    ("POST", "/app/keys"): (
        _keys_page,
        {"name": "script", "scopes": "links:read", "expires": "never", "tz": "UTC"},
    ),
    ("POST", "/app/keys/{key_id}/revoke"): (_with_key, {}),
    ("POST", "/app/orgs/{org_id}/switch"): (_own_org, {}),
    ("POST", "/app/account/password"): (
        _account_page,
        {
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "new_password_confirm": NEW_PASSWORD,
        },
    ),
    ("POST", "/app/account/sessions/sign-out-others"): (_account_page, {}),
    ("POST", "/app/invite/{token}"): (
        _invited_guest,
        {"name": "Guest", "password": PASSWORD, "password_confirm": PASSWORD},
    ),
}
