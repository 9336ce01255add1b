"""Users, password sign-in and server-side sessions."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from linkhop.audit import service as audit_service
from linkhop.auth.models import User, UserSession
from linkhop.auth.passwords import (
    DUMMY_HASH,
    hash_password_async,
    validate_password,
    verify_password_async,
)
from linkhop.errors import Conflict, Invalid, NotFound, RateLimited, Unauthenticated
from linkhop.ids import UserId, new_id, new_user_id
from linkhop.ratelimit import FailureWindow


def normalize_email(email: str) -> str:
    """The stored form of an email address (syntax-checked, lower-cased)."""
    try:
        info = validate_email(email.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise Invalid(f"not a valid email address: {exc}", field="email") from exc
    return info.normalized.lower()


async def get_user_by_email(session: AsyncSession, *, email: str) -> User | None:
    """The user with this email, if any."""
    stmt = select(User).where(User.email == normalize_email(email))
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_user(session: AsyncSession, *, user_id: str) -> User:
    """The user with this id."""
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("user not found")
    return user


async def users_by_ids(session: AsyncSession, *, user_ids: Sequence[str]) -> dict[str, User]:
    """Users keyed by id."""
    if not user_ids:
        return {}
    rows = (await session.execute(select(User).where(User.id.in_(user_ids)))).scalars()
    return {u.id: u for u in rows}


async def count_users(session: AsyncSession) -> int:
    """How many users exist (the dashboard offers first-run setup at zero)."""
    return int((await session.execute(select(func.count()).select_from(User))).scalar_one())


async def create_user(
    session: AsyncSession, *, email: str, password: str, name: str | None = None
) -> User:
    """Create a user with an Argon2id password hash."""
    normalized = normalize_email(email)
    validate_password(password)
    if await get_user_by_email(session, email=normalized) is not None:
        raise Conflict(f"a user with email {normalized} already exists", field="email")
    user = User(
        id=new_user_id(),
        email=normalized,
        name=name,
        password_hash=await hash_password_async(password),
        is_active=True,
    )
    session.add(user)
    await session.flush()
    audit_service.record(
        session,
        principal=None,
        action="user.created",
        target_type="user",
        target_id=user.id,
        data={"email": normalized},
    )
    return user


async def set_password(session: AsyncSession, *, user: User, password: str) -> None:
    """Replace a user's password."""
    validate_password(password)
    user.password_hash = await hash_password_async(password)
    await session.flush()


async def authenticate(session: AsyncSession, *, email: str, password: str) -> User:
    """The user whose email and password match, else Unauthenticated (same message either way)."""
    try:
        user = await get_user_by_email(session, email=email)
    except Invalid:
        user = None
    if user is None or not user.is_active or user.password_hash is None:
        await verify_password_async(DUMMY_HASH, password)
        raise Unauthenticated("wrong email or password")
    if not await verify_password_async(user.password_hash, password):
        raise Unauthenticated("wrong email or password")
    return user


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_session(
    session: AsyncSession, *, user: User, now: datetime, ttl: timedelta, user_agent: str | None
) -> tuple[UserSession, str]:
    """Start a dashboard session; returns the row and the cookie token (only its hash is kept)."""
    token = secrets.token_urlsafe(32)
    row = UserSession(
        id=new_id("sess"),
        user_id=user.id,
        token_hash=_token_hash(token),
        created_at=now,
        expires_at=now + ttl,
        last_seen_at=now,
        user_agent=(user_agent or "")[:500] or None,
    )
    session.add(row)
    await session.flush()
    return row, token


async def resolve_session(
    session: AsyncSession, *, token: str, now: datetime
) -> tuple[UserSession, User]:
    """The live session and user behind a cookie token, else Unauthenticated."""
    row = (
        await session.execute(
            select(UserSession).where(UserSession.token_hash == _token_hash(token))
        )
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise Unauthenticated("session expired or signed out; sign in again")
    user = await session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise Unauthenticated("session expired or signed out; sign in again")
    if row.last_seen_at is None or now - row.last_seen_at > timedelta(minutes=5):
        row.last_seen_at = now  # throttled so reads don't write on every request
    return row, user


async def revoke_session(session: AsyncSession, *, session_id: str, now: datetime) -> None:
    """Sign one session out."""
    await session.execute(
        update(UserSession)
        .where(UserSession.id == session_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def revoke_other_sessions(
    session: AsyncSession, *, user_id: UserId, keep_session_id: str | None, now: datetime
) -> int:
    """Sign a user out everywhere except ``keep_session_id``; returns how many were revoked."""
    stmt = update(UserSession).where(
        UserSession.user_id == user_id, UserSession.revoked_at.is_(None)
    )
    if keep_session_id is not None:
        stmt = stmt.where(UserSession.id != keep_session_id)
    result = await session.execute(stmt.values(revoked_at=now))
    return int(getattr(result, "rowcount", 0) or 0)


async def list_sessions(
    session: AsyncSession, *, user_id: UserId, now: datetime
) -> list[UserSession]:
    """A user's live sessions (neither signed out nor expired), most recently used first."""
    stmt = (
        select(UserSession)
        .where(
            UserSession.user_id == user_id,
            UserSession.revoked_at.is_(None),
            UserSession.expires_at > now,
        )
        .order_by(UserSession.last_seen_at.desc(), UserSession.created_at.desc())
    )
    return list((await session.execute(stmt)).scalars())


async def sign_out(session: AsyncSession, *, user_session: UserSession, now: datetime) -> None:
    """End one session and record it (what ``POST /auth/logout`` does)."""
    await revoke_session(session, session_id=user_session.id, now=now)
    audit_service.record(
        session,
        principal=None,
        action="session.revoked",
        target_type="session",
        target_id=user_session.id,
        actor=("user", user_session.user_id),
    )


async def sign_out_other_sessions(
    session: AsyncSession, *, user_id: UserId, current_session_id: str | None, now: datetime
) -> int:
    """Sign a user out of every session but ``current_session_id`` (all when None); audited.
    Returns how many sessions were ended."""
    revoked = await revoke_other_sessions(
        session, user_id=user_id, keep_session_id=current_session_id, now=now
    )
    audit_service.record(
        session,
        principal=None,
        action="session.revoked_others",
        target_type="user",
        target_id=user_id,
        actor=("user", user_id),
        data={"revoked": revoked, "kept": current_session_id},
    )
    return revoked


def _password_keys(user_id: str) -> list[str]:
    return [f"password:{user_id}"]


async def change_password(
    session: AsyncSession,
    *,
    user_id: UserId,
    current_password: str,
    new_password: str,
    current_session_id: str | None,
    now: datetime,
    failures: FailureWindow | None = None,
) -> int:
    """Replace a user's password after checking the current one, then sign out every other
    session (``current_session_id`` stays signed in). Returns how many sessions were ended.

    A wrong current password is a 422 on ``current_password`` (code ``wrong_password``); with
    ``failures`` (the process's sign-in window) ten wrong guesses in its window lock the form
    (429), so a stolen session cannot brute-force the password. The new password follows the
    sign-up rules and must differ from the current one. API keys are left alone.
    """
    user = await get_user(session, user_id=user_id)
    keys = _password_keys(user_id)
    if failures is not None:
        wait = failures.retry_after(keys, time.monotonic())
        if wait:
            raise RateLimited(f"too many wrong passwords; try again in {wait} s", retry_after=wait)
    if user.password_hash is None or not await verify_password_async(
        user.password_hash, current_password
    ):
        if failures is not None:
            failures.fail(keys, time.monotonic())
        raise Invalid(
            "the current password is wrong", field="current_password", code="wrong_password"
        )
    if failures is not None:
        failures.reset(keys)
    validate_password(new_password, field="new_password")
    if new_password == current_password:
        raise Invalid(
            "the new password must differ from the current one",
            field="new_password",
            code="password_unchanged",
        )
    await set_password(session, user=user, password=new_password)
    revoked = await revoke_other_sessions(
        session, user_id=user_id, keep_session_id=current_session_id, now=now
    )
    audit_service.record(
        session,
        principal=None,
        action="user.password_changed",
        target_type="user",
        target_id=user_id,
        actor=("user", user_id),
        data={"revoked_sessions": revoked},
    )
    return revoked
