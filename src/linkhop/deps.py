"""Shared FastAPI dependencies: the request's unit of work, the acting principal, the clock.

The request owns the transaction: ``UnitOfWork`` commits after the handler returns and BEFORE
the response is sent (``scope="function"``), so a client never sees success for a write that
failed to commit; after-commit hooks (cache invalidation) run only when the commit succeeded,
after-end tasks (recording an API key's use) run once the transaction is over either way.

Dependencies here are ``async def`` even when they do not await: FastAPI runs plain ``def``
dependencies in its thread pool, a thread hand-off per request each.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated

import structlog
from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from linkhop.api_keys import service as api_keys_service
from linkhop.auth import service as auth_service
from linkhop.auth.csrf import check_csrf
from linkhop.errors import Unauthenticated
from linkhop.ids import UserId
from linkhop.orgs import service as orgs_service
from linkhop.principal import Principal
from linkhop.runtime import Runtime

SESSION_COOKIE = "linkhop_session"
ORG_HEADER = "X-Linkhop-Org"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
log = structlog.get_logger()

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer lnk_…`")
session_cookie = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, description="Dashboard session cookie."
)


async def get_runtime(request: Request) -> Runtime:
    """The process runtime stored on the app."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_now() -> datetime:
    """The request's clock reading (one per request)."""
    return datetime.now(UTC)


NowDep = Annotated[datetime, Depends(get_now)]


async def get_uow(request: Request, runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    """A session in a transaction that commits when the handler succeeds."""
    after_commit: list[Callable[[], None]] = []
    after_end: list[Callable[[], Awaitable[None]]] = []
    try:
        async with runtime.sessionmaker() as session:
            session.info["after_commit"] = after_commit
            session.info["after_end"] = after_end
            async with session.begin():
                yield session
    finally:
        for task in after_end:
            await task()
    for hook in after_commit:
        hook()


SessionDep = Annotated[AsyncSession, Depends(get_uow, scope="function")]


def after_commit(session: AsyncSession, hook: Callable[[], None]) -> None:
    """Run ``hook`` once the request's transaction has committed."""
    session.info["after_commit"].append(hook)


def after_end(session: AsyncSession, task: Callable[[], Awaitable[None]]) -> None:
    """Await ``task`` once the request's transaction is over, committed or rolled back."""
    session.info["after_end"].append(task)


async def _record_key_use(runtime: Runtime, api_key_id: str, now: datetime) -> None:
    # Its own short transaction after the request's: a refused request still counts as a use,
    # and on SQLite it never waits for the request's own write lock.
    try:
        async with runtime.sessionmaker() as session, session.begin():
            await api_keys_service.record_use(session, api_key_id=api_key_id, now=now)
    except (SQLAlchemyError, OSError) as exc:  # a lost timestamp must not fail the request
        log.warning("api_key_use_not_recorded", api_key_id=api_key_id, error=str(exc))


async def get_principal(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    now: NowDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    cookie: Annotated[str | None, Depends(session_cookie)],
) -> Principal:
    """Who is calling: an API key (Bearer) or a dashboard session cookie (+ CSRF on writes)."""
    if request.query_params.get("api_key") or request.query_params.get("token"):
        raise Unauthenticated("send API keys in the Authorization header, never in the URL")
    if credentials is not None:
        verified = await api_keys_service.authenticate_key(
            session,
            token=credentials.credentials,
            now=now,
            cache_seconds=runtime.settings.api_key_cache_seconds,
        )
        key_id = verified.principal.api_key_id
        if verified.record_use and key_id is not None:
            after_end(session, lambda: _record_key_use(runtime, key_id, now))
        return verified.principal
    if cookie:
        user_session, user = await auth_service.resolve_session(session, token=cookie, now=now)
        if request.method not in _SAFE_METHODS:
            check_csrf(
                secret=runtime.secret_key,
                session_id=user_session.id,
                token=request.headers.get("X-CSRF-Token"),
            )
        request.state.user_session_id = user_session.id
        return await orgs_service.principal_for(
            session, user_id=UserId(user.id), org_id=request.headers.get(ORG_HEADER)
        )
    raise Unauthenticated("missing credentials: send `Authorization: Bearer <API key>`")


PrincipalDep = Annotated[Principal, Depends(get_principal)]
