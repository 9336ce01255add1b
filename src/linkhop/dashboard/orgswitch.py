"""The organisation switcher: someone in several organisations picks the one pages act in.

``POST /app/orgs/{org_id}/switch`` (CSRF-checked like every form) checks that the user is a
member of ``org_id`` (another org's id is a 404 page and changes nothing), stores the choice in
the ``linkhop_org`` cookie (signed and bound to this session; see ``deps.get_signed_in``, which
checks it against the memberships again on every request) and records an audit event. The
choice lives in a cookie rather than in ``user_sessions`` so that no schema change is needed.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from linkhop.audit import service as audit_service
from linkhop.dashboard.deps import ORG_COOKIE, FormDep, SignedInDep, org_cookie_value
from linkhop.dashboard.rendering import NAV, PREFIX, redirect
from linkhop.dashboard.service import secure_request
from linkhop.deps import RuntimeDep, SessionDep
from linkhop.ids import UserId
from linkhop.orgs import service as orgs_service
from linkhop.runtime import Runtime

router = APIRouter(prefix="/orgs")
# Where a switch may land: a section's first page (an object page of the old org would 404).
_SECTIONS = frozenset(href for _, _, href in NAV)


def remember_org(
    response: Response, request: Request, runtime: Runtime, *, session_id: str, org_id: str
) -> None:
    """Make ``org_id`` the org this browser session's pages act in (a member's org only)."""
    response.set_cookie(
        ORG_COOKIE,
        org_cookie_value(runtime.secret_key, session_id, org_id),
        max_age=runtime.settings.session_ttl_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=secure_request(request, runtime.settings),
        path=PREFIX,
    )


@router.post("/{org_id}/switch")
async def switch_org(
    request: Request,
    org_id: str,
    *,
    me: SignedInDep,
    form: FormDep,
    session: SessionDep,
    runtime: RuntimeDep,
) -> Response:
    """Act in ``org_id`` from now on (in this browser session)."""
    # NotFound (a 404 page) unless the user is a member: a forged id changes nothing.
    principal = await orgs_service.principal_for(
        session, user_id=UserId(me.user.id), org_id=org_id[:64]
    )
    org = await orgs_service.get_org(session, principal=principal)
    audit_service.record(
        session,
        principal=principal,
        action="session.org_switched",
        target_type="org",
        target_id=org.id,
        data={"from": me.principal.org_id, "to": org.id},
    )
    back = form.get("next")
    target = back if back in _SECTIONS else f"{PREFIX}/links"
    response = redirect(
        target, secret=runtime.secret_key, flash=("info", f"You are now working in {org.name}.")
    )
    remember_org(response, request, runtime, session_id=me.session_id, org_id=org.id)
    return response
