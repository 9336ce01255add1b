"""HTTP routes for API keys."""

from __future__ import annotations

from fastapi import APIRouter

from linkhop.api_keys import service as api_keys_service
from linkhop.api_keys.models import ApiKey
from linkhop.api_keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from linkhop.deps import NowDep, PrincipalDep, RuntimeDep, SessionDep

router = APIRouter(prefix="/api-keys", tags=["api keys"])


def _out(row: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(
        id=row.id,
        name=row.name,
        display=row.display,
        scopes=list(row.scopes),
        user_id=row.user_id,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


@router.get("", response_model=list[ApiKeyOut], summary="List API keys")
async def list_keys(session: SessionDep, principal: PrincipalDep) -> list[ApiKeyOut]:
    """The org's keys (owners and admins) or your own keys (members)."""
    return [_out(k) for k in await api_keys_service.list_keys(session, principal=principal)]


@router.post("", status_code=201, response_model=ApiKeyCreated, summary="Create an API key")
async def create_key(
    body: ApiKeyCreate,
    session: SessionDep,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    now: NowDep,
) -> ApiKeyCreated:
    """Create a key acting for you with the given scopes. The key is in this response only."""
    row, key = await api_keys_service.create_key(
        session,
        principal=principal,
        name=body.name,
        scopes=body.scopes,
        expires_in_days=body.expires_in_days,
        env=runtime.settings.api_key_env,
        now=now,
    )
    return ApiKeyCreated(**_out(row).model_dump(), key=key)


@router.get("/{key_id}", response_model=ApiKeyOut, summary="Get an API key")
async def get_key(key_id: str, session: SessionDep, principal: PrincipalDep) -> ApiKeyOut:
    """One key's metadata."""
    return _out(await api_keys_service.get_key(session, principal=principal, key_id=key_id))


@router.delete("/{key_id}", response_model=ApiKeyOut, summary="Revoke an API key")
async def revoke_key(
    key_id: str, session: SessionDep, principal: PrincipalDep, now: NowDep
) -> ApiKeyOut:
    """Revoke a key; it stops working at once."""
    row = await api_keys_service.revoke_key(session, principal=principal, key_id=key_id, now=now)
    return _out(row)
