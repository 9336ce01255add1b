"""An in-process linkhop (API + redirect + worker) on real backends, driven through ASGI."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from linkhop.api_keys import service as api_keys_service
from linkhop.apps.analytics_store import AnalyticsStore
from linkhop.apps.redirect import RedirectApp
from linkhop.apps.worker import SqlCounterSink
from linkhop.auth import service as auth_service
from linkhop.db.engine import unit_of_work
from linkhop.ids import OrgId, UserId
from linkhop.ingest.service import ingest_once
from linkhop.ingest.sink import ClickHouseClickSink
from linkhop.orgs import service as orgs_service
from linkhop.queue.local import SpoolConsumer, SpoolPublisher
from linkhop.runtime import Runtime

ALL_SCOPES = (
    "links:read,links:write,tags:read,tags:write,analytics:read,members:read,"
    "members:write,keys:read,keys:write,org:read"
)


@dataclass
class Account:
    """A user with an org membership and an API key."""

    user_id: str
    org_id: str
    email: str
    key: str

    @property
    def auth(self) -> dict[str, str]:
        """Authorization header for the key."""
        return {"Authorization": f"Bearer {self.key}"}


@dataclass
class Harness:
    """Everything a test needs to act like a client and to run the worker on demand."""

    runtime: Runtime
    store: AnalyticsStore
    publisher: SpoolPublisher
    consumer: SpoolConsumer
    client: httpx.AsyncClient
    redirect_app: RedirectApp
    _orgs: dict[str, str] = field(default_factory=dict)

    async def ingest(self) -> int:
        """Run the worker until the queue is empty; returns clicks taken."""
        total = 0
        while True:
            taken = await ingest_once(
                consumer=self.consumer,
                sink=ClickHouseClickSink(self.store.ch, database=self.store.database),
                counters=SqlCounterSink(self.runtime),
                geo=None,
                store_ip="anonymized",
                max_items=1000,
            )
            if taken == 0:
                return total
            total += taken

    async def account(
        self,
        email: str,
        *,
        org: str = "Acme",
        role: str = "owner",
        scopes: str = ALL_SCOPES,
    ) -> Account:
        """A user in ``org`` (created on first use, first user as owner) with an API key."""
        async with unit_of_work(self.runtime.sessionmaker) as session:
            user = await auth_service.create_user(
                session, email=email, password="correct horse battery"
            )
            if org not in self._orgs:
                created = await orgs_service.create_org(session, name=org, owner_id=UserId(user.id))
                self._orgs[org] = created.id
                if role != "owner":
                    membership = await orgs_service.get_member(
                        session,
                        principal=await orgs_service.principal_for(
                            session, user_id=UserId(user.id), org_id=created.id
                        ),
                        user_id=user.id,
                    )
                    membership.role = role
            else:
                await orgs_service.add_member(
                    session, org_id=OrgId(self._orgs[org]), user_id=UserId(user.id), role=role
                )
            principal = await orgs_service.principal_for(
                session, user_id=UserId(user.id), org_id=self._orgs[org]
            )
            wanted = [s for s in scopes.split(",") if s in principal.permissions]
            _, key = await api_keys_service.create_key(
                session,
                principal=principal,
                name="test",
                scopes=wanted or ["org:read"],
                expires_in_days=None,
                env="test",
                now=datetime.now(UTC),
            )
        return Account(user_id=user.id, org_id=self._orgs[org], email=email, key=key)

    async def create_link(self, account: Account, **body: Any) -> dict[str, Any]:
        """POST a link and return its JSON (asserting 201)."""
        response = await self.client.post("/api/v1/links", json=body, headers=account.auth)
        assert response.status_code == 201, response.text
        data: dict[str, Any] = response.json()
        return data
