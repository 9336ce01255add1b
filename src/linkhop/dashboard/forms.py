"""The link form: HTML form fields ↔ the API's link models, and errors as field messages.

The form posts strings; this module turns them into the same ``LinkCreate``/``LinkUpdate``
bodies the API takes, so validation and its messages are the API's own (pydantic messages
per field, then the service's domain errors with their ``field``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from linkhop.dashboard.deps import Form
from linkhop.errors import LinkhopError
from linkhop.links.models import Link
from linkhop.links.schemas import LinkCreate, LinkUpdate

UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
TEXT_FIELDS = ("url", "key", "title", "comments", "expired_url", "external_id", *UTM_FIELDS)
REDIRECT_STATUSES = (
    (302, "302 Found (temporary, default)"),
    (301, "301 Moved Permanently (cached by browsers)"),
    (307, "307 Temporary Redirect (keeps the method)"),
    (308, "308 Permanent Redirect (keeps the method)"),
)
DATETIME_INPUT = "%Y-%m-%dT%H:%M"
LINK_FIELDS = frozenset(
    {*TEXT_FIELDS, "domain", "tags", "max_clicks", "expires_at", "redirect_status", "password"}
)


@dataclass
class FormState:
    """What a link form shows: values, one message per field, and a message for the form."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    message: str | None = None
    fields: frozenset[str] = LINK_FIELDS

    def add(self, exc: LinkhopError) -> None:
        """Show a domain error next to its field (or above the form when it names none)."""
        text = sentence(exc.detail)
        if exc.field and exc.field in self.fields:
            self.errors[exc.field] = text
        else:
            self.message = text


def sentence(text: str) -> str:
    """An API message as a sentence on a page (the wording stays the API's)."""
    # The API's messages are lower-case fragments ("password must be at least 10 characters").
    text = text.removeprefix("Value error, ")  # pydantic's prefix for a validator's ValueError
    return text[:1].upper() + text[1:] if text else text


def field_errors(exc: ValidationError) -> dict[str, str]:
    """pydantic errors by top-level field, with the messages the API's problem details carry."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        loc = error.get("loc", ())
        name = str(loc[0]) if loc else "form"
        errors.setdefault(name, sentence(str(error.get("msg", "invalid value"))))
    return errors


def _form_state(form: Form) -> FormState:
    values = form.values()
    values.pop("password", None)  # never echoed back into the page
    values["forward_query"] = "on" if form.get("forward_query") == "on" else ""
    return FormState(values=values)


def values_of(link: Link, tags: list[str], tz: ZoneInfo) -> dict[str, str]:
    """The form values that show an existing link."""
    values = {name: getattr(link, name) or "" for name in TEXT_FIELDS}
    values.update(
        domain=link.domain,
        tags=", ".join(tags),
        max_clicks="" if link.max_clicks is None else str(link.max_clicks),
        expires_at=link.expires_at.astimezone(tz).strftime(DATETIME_INPUT)
        if link.expires_at
        else "",
        redirect_status=str(link.redirect_status),
        forward_query="on" if link.forward_query else "",
    )
    return values


def blank_values(default_domain: str) -> dict[str, str]:
    """The values of an empty create form."""
    values = dict.fromkeys((*TEXT_FIELDS, "tags", "max_clicks", "expires_at"), "")
    values.update(domain=default_domain, redirect_status="302", forward_query="on")
    return values


def _tags(raw: str) -> list[str]:
    return [name.strip() for name in raw.split(",") if name.strip()]


def _common(form: Form, state: FormState, tz: ZoneInfo) -> dict[str, Any]:
    """The fields create and update share that the form sent, as API body values.

    A field missing from the form is missing from the body (unchanged on edit, the API's
    default on create), so a form from an older page can never clear what it did not show.
    """
    body: dict[str, Any] = {name: form.get(name).strip() for name in TEXT_FIELDS if form.has(name)}
    if form.has("tags"):
        body["tags"] = _tags(form.get("tags"))
    if form.has("max_clicks"):
        body["max_clicks"] = form.get("max_clicks").strip() or None
    if form.has("forward_query"):
        # The page sends a hidden "off" before the checkbox; a ticked box's "on" comes last.
        body["forward_query"] = form.get("forward_query") == "on"
    if form.has("redirect_status"):
        status = form.get("redirect_status").strip()
        body["redirect_status"] = int(status) if status.isdigit() else (status or None)
    if form.has("expires_at"):
        expires = form.get("expires_at").strip()
        body["expires_at"] = None
        if expires:
            try:
                body["expires_at"] = datetime.fromisoformat(expires).replace(tzinfo=tz)
            except ValueError:
                state.errors["expires_at"] = "Enter a date and time, for example 2030-01-31 18:00."
    return body


def parse_create(form: Form, tz: ZoneInfo) -> tuple[LinkCreate | None, FormState]:
    """A ``LinkCreate`` from the create form, or the state to show it again with errors."""
    state = _form_state(form)
    body = _common(form, state, tz)
    body["domain"] = form.get("domain").strip() or None
    body["password"] = form.get("password") or None
    # An empty optional field means "not set", exactly as leaving it out of the JSON body.
    payload = {k: v for k, v in body.items() if v not in ("", None, [])}
    try:
        data = LinkCreate.model_validate(payload)
    except ValidationError as exc:
        state.errors = {**field_errors(exc), **state.errors}
        return None, state
    return (None if state.errors else data), state


def _same_minute(shown: datetime | None, stored: datetime | None) -> bool:
    # The field shows minutes: an expiry set to the second through the API must survive an
    # edit of something else.
    if shown is None or stored is None:
        return shown is stored
    return shown == stored.replace(second=0, microsecond=0)


def parse_update(
    form: Form, link: Link, tags: list[str], tz: ZoneInfo
) -> tuple[LinkUpdate | None, FormState]:
    """A ``LinkUpdate`` holding only what the edit form changed (so the audit shows just that)."""
    state = _form_state(form)
    body = _common(form, state, tz)
    current = values_of(link, tags, ZoneInfo("UTC"))
    changed: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        if name in body and body[name] != current[name]:
            changed[name] = body[name] or None
    if "tags" in body and sorted(map(str.casefold, body["tags"])) != sorted(
        map(str.casefold, tags)
    ):
        changed["tags"] = body["tags"]
    if "max_clicks" in body and str(body["max_clicks"] or "") != current["max_clicks"]:
        changed["max_clicks"] = body["max_clicks"]
    if "expires_at" in body and not _same_minute(body["expires_at"], link.expires_at):
        changed["expires_at"] = body["expires_at"]
    for name in ("redirect_status", "forward_query"):
        if name in body and body[name] != getattr(link, name):
            changed[name] = body[name]
    if form.get("password"):
        changed["password"] = form.get("password")
    elif form.has("remove_password") and link.password_hash is not None:
        changed["password"] = None
    try:
        data = LinkUpdate.model_validate(changed)
    except ValidationError as exc:
        state.errors = {**field_errors(exc), **state.errors}
        return None, state
    return (None if state.errors else data), state
