"""Pages: API keys — create with chosen scopes and expiry (the key is shown once), list, revoke.

Calls ``linkhop.api_keys.service`` like ``api_keys/router.py``: it refuses scopes the creator
does not hold, writes the audit trail, and a revocation empties the key cache when the request
commits, so the key stops working on the next API request. The new key exists only in the
answer to the create form; the database keeps a hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from linkhop.api_keys import service as api_keys_service
from linkhop.api_keys.models import ApiKey
from linkhop.auth import service as auth_service
from linkhop.dashboard.deps import FormDep, SignedIn, SignedInDep, zone_named
from linkhop.dashboard.forms import FormState, sentence
from linkhop.dashboard.rendering import PREFIX, redirect, render
from linkhop.deps import NowDep, RuntimeDep, SessionDep
from linkhop.errors import Invalid
from linkhop.principal import PERMISSIONS, require
from linkhop.runtime import Runtime

router = APIRouter(prefix="/keys")
KEYS = f"{PREFIX}/keys"
KEY_FIELDS = frozenset({"name", "scopes", "expires", "expires_on"})
EXPIRY_CHOICES = (
    ("never", "Never"),
    ("30", "In 30 days"),
    ("90", "In 90 days"),
    ("365", "In a year"),
    ("date", "On a date…"),
)
DEFAULT_EXPIRY = "90"
DEFAULT_SCOPES = ("links:read", "links:write")
SCOPE_HELP = {
    "links:read": "List and read links",
    "links:write": "Create, change and delete links",
    "tags:read": "List tags",
    "tags:write": "Create, rename and delete tags",
    "analytics:read": "Query clicks and export them",
    "domains:read": "List short domains",
    "domains:write": "Add and change short domains",
    "members:read": "List members and invitations",
    "members:write": "Invite, change roles, remove members",
    "keys:read": "List API keys",
    "keys:write": "Create and revoke API keys",
    "org:read": "Read the organisation",
    "org:write": "Change the organisation",
    "audit:read": "Read the audit trail",
}


@dataclass(frozen=True, slots=True)
class NewKey:
    """The key just created: shown this once."""

    key: str
    name: str
    expires_at: datetime | None


def grantable_scopes(me: SignedIn) -> list[str]:
    """Scopes the user may put on a key: the permissions their role grants."""
    return [p for p in PERMISSIONS if me.can(p)]


def _is_active(row: ApiKey, now: datetime) -> bool:
    return row.revoked_at is None and (row.expires_at is None or row.expires_at > now)


async def _keys_page(
    request: Request,
    session: AsyncSession,
    runtime: Runtime,
    me: SignedIn,
    now: datetime,
    *,
    state: FormState | None = None,
    new_key: NewKey | None = None,
    status: int = 200,
) -> Response:
    keys: list[ApiKey] = []
    owners: dict[str, str] = {}
    if me.can("keys:read"):
        keys = await api_keys_service.list_keys(session, principal=me.principal)
        users = await auth_service.users_by_ids(session, user_ids=sorted({k.user_id for k in keys}))
        owners = {user_id: user.email for user_id, user in users.items()}
        keys.sort(key=lambda k: not _is_active(k, now))  # active first, then newest (stable)
    if state is None:
        state = FormState(
            values={"expires": DEFAULT_EXPIRY, "name": "", "expires_on": ""}, fields=KEY_FIELDS
        )
        chosen = [s for s in DEFAULT_SCOPES if me.can(s)]
    else:
        chosen = state.values.get("scopes", "").split()
    context: dict[str, Any] = {
        "me": me,
        "nav": "keys",
        "title": "API keys",
        "keys": keys,
        "owners": owners,
        "show_owner": len(owners) > 1 or any(k.user_id != me.principal.user_id for k in keys),
        "now": now,
        "scopes": [(s, SCOPE_HELP.get(s, "")) for s in grantable_scopes(me)],
        "chosen": chosen,
        "expiry_choices": EXPIRY_CHOICES,
        "state": state,
        "new_key": new_key,
        "api_docs": "/api/v1/docs",
        "key_env": runtime.settings.api_key_env,
    }
    return render(request, "keys/keys.html", context, status=status, secret=runtime.secret_key)


@router.get("")
async def keys_page(
    request: Request, session: SessionDep, runtime: RuntimeDep, me: SignedInDep, now: NowDep
) -> Response:
    """Your keys (owners and admins: every key of the organisation) and the create form."""
    return await _keys_page(request, session, runtime, me, now)


def _expiry_days(form_expires: str, expires_on: str, today: date, state: FormState) -> int | None:
    """Days until expiry from the form (None: never); records a field error when unusable."""
    if form_expires == "never":
        return None
    if form_expires.isdigit():
        return int(form_expires)
    if form_expires != "date":
        state.errors["expires"] = "Choose when the key expires."
        return None
    try:
        chosen = date.fromisoformat(expires_on.strip())
    except ValueError:
        state.errors["expires_on"] = "Enter a date, for example 2030-01-31."
        return None
    days = (chosen - today).days
    if days < 1:
        state.errors["expires_on"] = "Choose a date after today."
        return None
    return days


@router.post("")
async def create(
    request: Request,
    *,
    session: SessionDep,
    runtime: RuntimeDep,
    me: SignedInDep,
    form: FormDep,
    now: NowDep,
) -> Response:
    """Create a key; the answer (201) is the keys page showing the new key once."""
    require(me.principal, "keys:write")
    scopes = [s for s in (await request.form()).getlist("scopes") if isinstance(s, str)]
    values = {
        "name": form.get("name").strip(),
        "expires": form.get("expires"),
        "expires_on": form.get("expires_on"),
        "scopes": " ".join(scopes),
    }
    state = FormState(values=values, fields=KEY_FIELDS)
    tz = zone_named(form.get("tz")) or me.tz
    days = _expiry_days(values["expires"], values["expires_on"], now.astimezone(tz).date(), state)
    if not values["name"]:
        state.errors["name"] = "Give the key a name, e.g. the script or service that uses it."
    if not scopes:
        state.errors["scopes"] = "Choose at least one scope."
    if not state.errors:
        try:
            async with session.begin_nested():
                row, key = await api_keys_service.create_key(
                    session,
                    principal=me.principal,
                    name=values["name"],
                    scopes=scopes,
                    expires_in_days=days,
                    env=runtime.settings.api_key_env,
                    now=now,
                )
        except Invalid as exc:
            if exc.field == "expires_in_days":
                state.errors["expires"] = sentence(exc.detail)
            else:
                state.add(exc)
        else:
            created = NewKey(key=key, name=row.name, expires_at=row.expires_at)
            return await _keys_page(request, session, runtime, me, now, new_key=created, status=201)
    return await _keys_page(request, session, runtime, me, now, state=state, status=422)


@router.get("/{key_id}/revoke")
async def revoke_form(
    key_id: str, request: Request, session: SessionDep, runtime: RuntimeDep, me: SignedInDep
) -> Response:
    """Ask before revoking a key (works without JavaScript)."""
    require(me.principal, "keys:write")
    row = await api_keys_service.get_key(session, principal=me.principal, key_id=key_id)
    context = {"me": me, "nav": "keys", "title": f"Revoke {row.name}", "key": row}
    return render(request, "keys/revoke.html", context, secret=runtime.secret_key)


@router.post("/{key_id}/revoke")
async def revoke(
    key_id: str,
    *,
    session: SessionDep,
    runtime: RuntimeDep,
    me: SignedInDep,
    form: FormDep,
    now: NowDep,
) -> Response:
    """Revoke a key: API requests with it are refused from now on."""
    require(me.principal, "keys:write")
    row = await api_keys_service.revoke_key(session, principal=me.principal, key_id=key_id, now=now)
    done = f"Revoked “{row.name}” ({row.display}). Requests with it are refused from now on."
    return redirect(KEYS, secret=runtime.secret_key, flash=("success", done))
