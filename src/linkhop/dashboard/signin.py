"""Pages: home, first-run setup, sign-in and sign-out."""

from __future__ import annotations

import time
from typing import Annotated, NoReturn

from fastapi import APIRouter, Query, Request, Response

from linkhop.auth import service as auth_service
from linkhop.dashboard import service
from linkhop.dashboard.deps import (
    ANON_CSRF_COOKIE,
    AnonFormDep,
    FormDep,
    SignedInDep,
    anon_csrf,
    store_anon_nonce,
)
from linkhop.dashboard.forms import FormState, sentence
from linkhop.dashboard.rendering import PREFIX, redirect, render
from linkhop.deps import SESSION_COOKIE, NowDep, RuntimeDep, SessionDep
from linkhop.errors import Conflict, Forbidden, LinkhopError, Unauthenticated

router = APIRouter()
SETUP_FIELDS = frozenset({"name", "email", "password", "password_confirm", "org"})
HOME = f"{PREFIX}/links"


def safe_next(target: str | None) -> str:
    """Where to go after sign-in: only a dashboard path (never another site)."""
    if target and target.startswith(f"{PREFIX}/") and "\\" not in target and "//" not in target:
        return target
    return HOME


@router.get("/", include_in_schema=False)
async def home(request: Request, session: SessionDep) -> Response:
    """/app: setup on a fresh install, else the links page (which asks to sign in if needed)."""
    if await service.needs_setup(session):
        return redirect(f"{PREFIX}/setup")
    if not request.cookies.get(SESSION_COOKIE):
        return redirect(f"{PREFIX}/login")
    return redirect(HOME)


def _setup_page(
    request: Request, runtime: RuntimeDep, state: FormState, token: str, status: int = 200
) -> Response:
    csrf, nonce = anon_csrf(request, runtime)
    response = render(
        request,
        "setup.html",
        {"csrf": csrf, "state": state, "token": token, "title": "Set up linkhop"},
        status=status,
    )
    store_anon_nonce(response, nonce)
    return response


def _refuse_setup() -> NoReturn:
    raise Forbidden(
        "Open the setup link printed in the server log: this address is not on the server's "
        "own machine, so setting up needs the link's token."
    )


@router.get("/setup")
async def setup_form(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    token: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    """The one-time form that creates the first owner and their organisation."""
    if not await service.needs_setup(session):
        return redirect(
            f"{PREFIX}/login",
            secret=runtime.secret_key,
            flash=("info", "linkhop is already set up. Sign in with your account."),
        )
    if not service.setup_token_ok(request, runtime, token):
        _refuse_setup()
    return _setup_page(request, runtime, FormState(fields=SETUP_FIELDS), token)


@router.post("/setup")
async def setup_submit(
    request: Request, form: AnonFormDep, session: SessionDep, runtime: RuntimeDep, now: NowDep
) -> Response:
    """Create the first owner + org, then sign them in. Refused once any user exists."""
    token = form.get("token")
    if not service.setup_token_ok(request, runtime, token):
        _refuse_setup()
    values = form.values()
    values.pop("password", None)
    values.pop("password_confirm", None)
    state = FormState(values=values, fields=SETUP_FIELDS)
    name = form.get("name").strip() or None
    if name is not None and len(name) > 200:
        state.errors["name"] = "Name must be at most 200 characters."
    if not form.get("org").strip():
        state.errors["org"] = "Enter a name for your organisation (you can change it later)."
    if form.get("password") != form.get("password_confirm"):
        state.errors["password_confirm"] = "The two passwords do not match."  # noqa: S105 — a message
    user = None
    if not state.errors:
        try:
            async with session.begin_nested():
                user = await service.create_first_owner(
                    session,
                    email=form.get("email"),
                    password=form.get("password"),
                    name=name,
                    org_name=form.get("org"),
                )
        except Conflict as exc:
            if exc.code == "already_set_up":
                raise
            state.add(exc)
        except LinkhopError as exc:
            state.add(exc)
    if user is None or state.errors or state.message:
        return _setup_page(request, runtime, state, token, status=422)
    _, cookie = await service.start_session(
        session, runtime=runtime, request=request, user=user, now=now
    )
    response = redirect(
        HOME,
        secret=runtime.secret_key,
        flash=("success", "Welcome to linkhop! Your account and organisation are ready."),
    )
    service.set_session_cookie(response, request, runtime.settings, cookie)
    response.delete_cookie(ANON_CSRF_COOKIE, path=PREFIX)
    return response


def _login_page(
    request: Request,
    runtime: RuntimeDep,
    *,
    email: str = "",
    next_url: str = "",
    error: str | None = None,
    status: int = 200,
) -> Response:
    csrf, nonce = anon_csrf(request, runtime)
    response = render(
        request,
        "login.html",
        {"csrf": csrf, "email": email, "next": next_url, "error": error, "title": "Sign in"},
        status=status,
        secret=runtime.secret_key,
    )
    store_anon_nonce(response, nonce)
    return response


@router.get("/login")
async def login_form(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    next: Annotated[str, Query(max_length=2000)] = "",
) -> Response:
    """The sign-in form."""
    if await service.needs_setup(session):
        return redirect(f"{PREFIX}/setup")
    return _login_page(request, runtime, next_url=safe_next(next))


@router.post("/login")
async def login_submit(
    request: Request, form: AnonFormDep, session: SessionDep, runtime: RuntimeDep, now: NowDep
) -> Response:
    """Check email + password (rate-limited like the API's sign-in), start a session."""
    email, next_url = form.get("email").strip(), safe_next(form.get("next"))
    keys = service.login_keys(request, runtime.settings, email)
    wait = runtime.login_failures.retry_after(keys, time.monotonic())
    if wait:
        minutes = max(1, round(wait / 60))
        message = (
            f"Too many failed sign-ins. Try again in about {minutes} "
            f"minute{'s' if minutes != 1 else ''}."
        )
        response = _login_page(
            request, runtime, email=email, next_url=next_url, error=message, status=429
        )
        response.headers["Retry-After"] = str(wait)
        return response
    try:
        user = await auth_service.authenticate(session, email=email, password=form.get("password"))
    except Unauthenticated as exc:
        runtime.login_failures.fail(keys, time.monotonic())
        return _login_page(
            request,
            runtime,
            email=email,
            next_url=next_url,
            error=f"{sentence(exc.detail)}.",
            status=401,
        )
    runtime.login_failures.reset(keys)
    _, cookie = await service.start_session(
        session, runtime=runtime, request=request, user=user, now=now
    )
    response = redirect(next_url)
    service.set_session_cookie(response, request, runtime.settings, cookie)
    response.delete_cookie(ANON_CSRF_COOKIE, path=PREFIX)
    return response


@router.post("/logout")
async def logout(
    me: SignedInDep, form: FormDep, session: SessionDep, runtime: RuntimeDep, now: NowDep
) -> Response:
    """End this session (server-side: the cookie stops working everywhere at once)."""
    await auth_service.sign_out(session, user_session=me.session, now=now)
    response = redirect(
        f"{PREFIX}/login", secret=runtime.secret_key, flash=("success", "You are signed out.")
    )
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
