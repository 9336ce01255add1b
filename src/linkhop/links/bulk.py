"""Creating many links in one request: each item judged on its own, all inserted together.

Every item gets the checks of ``POST /links`` (schema, destination, domain, key, tags, external
id), independently: a bad item is reported with its index and never stops the others, unless
the caller asked for all or nothing. Then the accepted items go in as multi-row
``INSERT … ON CONFLICT DO NOTHING RETURNING id`` statements inside the request's transaction:
a row the unique (domain, key) index refuses is simply not returned. A refused custom key is
reported as taken; a refused random key is drawn again (at most ``RANDOM_KEY_ATTEMPTS`` rounds,
each one statement for all the rows still without a key), so a batch costs a handful of
statements however large it is.

Conflicts inside the batch are found before the database is asked: the same custom key twice
on one domain, or the same ``external_id`` twice, fails the later item. Random keys are never
drawn equal to a custom key of the batch, and custom keys are inserted first, so a random draw
can never take a key someone asked for by name.

Each created link gets its own ``link.created`` audit event, exactly as if it had been created
alone (an auditor asking "who created this link" finds it by the link's id); events of one
request share a ``batch`` id in their data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linkhop.audit import service as audit_service
from linkhop.auth.passwords import hash_password_async
from linkhop.errors import Conflict, Invalid, LinkhopError
from linkhop.ids import new_id
from linkhop.links import service as links_service
from linkhop.links.codes import random_keys
from linkhop.links.destinations import validate_destination
from linkhop.links.keys import normalize_key, validate_custom_key
from linkhop.links.models import Link
from linkhop.links.schemas import LinkCreate
from linkhop.principal import Principal, require
from linkhop.tags import service as tags_service
from linkhop.tags.models import Tag

MAX_LINKS = 1000
"""Most links per request (Dub allows 100): a full batch is ~0.1-0.3 MB of JSON."""
MAX_PASSWORDS = 20
"""Most distinct passwords per request: each costs an Argon2 hash (0.1-0.5 s of CPU)."""


@dataclass(frozen=True, slots=True)
class ItemError:
    """Why item ``index`` was not created; ``fields`` lists each invalid field when several."""

    index: int
    error: LinkhopError
    fields: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Created:
    """Item ``index`` became the link ``row`` (the ``links`` columns), carrying ``tags``.

    A row rather than a ``Link``: building 1000 ORM objects cost more than inserting them.
    """

    index: int
    row: Mapping[str, Any]
    tags: list[Tag]


@dataclass(frozen=True, slots=True)
class BulkOutcome:
    """What happened to every item, in request order within each list."""

    created: list[Created]
    failed: list[ItemError]


class BulkRejected(LinkhopError):
    """All or nothing was asked for and some items failed: nothing was created."""

    status = 422
    code = "bulk_rejected"
    title = "Some links were refused; none were created"

    def __init__(self, failed: Sequence[ItemError], total: int) -> None:
        super().__init__(
            f"{len(failed)} of {total} links were refused, so none were created "
            "(all_or_nothing); `errors` names each refused item",
            field="links",
        )
        self.failed = list(failed)
        if all(isinstance(f.error, Conflict) for f in failed):
            self.status, self.title = Conflict.status, "Some links conflict; none were created"

    @property
    def errors(self) -> list[dict[str, str]]:
        """One ``{"field": "links.<index>.<field>", "message": …}`` per refusal."""
        out: list[dict[str, str]] = []
        for f in self.failed:
            pairs = f.fields or ((f.error.field or "", f.error.detail),)
            for name, message in pairs:
                path = f"links.{f.index}" + (f".{name}" if name else "")
                out.append({"field": path, "message": message})
        return out


@dataclass(slots=True)
class _Plan:
    index: int
    data: LinkCreate
    row: dict[str, Any]
    custom: str | None
    case_sensitive: bool
    tags: list[str] = field(default_factory=list)


def _schema_error(index: int, exc: ValidationError) -> ItemError:
    fields = tuple(
        (".".join(str(p) for p in e["loc"]) or "body", str(e["msg"])) for e in exc.errors()
    )
    detail = "; ".join(f"{name}: {message}" for name, message in fields)
    error = Invalid(detail, field=fields[0][0] if fields else None, code="validation_failed")
    return ItemError(index, error, fields)


class _Batch:
    """The per-request state of checking items one by one."""

    def __init__(
        self, session: AsyncSession, principal: Principal, policy: links_service.LinkPolicy
    ) -> None:
        self.session = session
        self.principal = principal
        self.policy = policy
        self.own: frozenset[str] = frozenset()
        self.domains: dict[str | None, tuple[str, bool] | LinkhopError] = {}
        self.keys: dict[tuple[str, str], int] = {}
        self.external_ids: dict[str, int] = {}
        self.passwords: dict[str, str] = {}

    async def domain(self, name: str | None) -> tuple[str, bool]:
        found = self.domains.get(name)
        if found is None:
            try:
                found = await links_service.domain_rule(
                    self.session, self.principal, self.policy, name
                )
            except LinkhopError as exc:
                found = exc
            self.domains[name] = found
        if isinstance(found, LinkhopError):
            raise found
        return found

    async def check(self, index: int, data: LinkCreate, now: datetime) -> _Plan:
        policy = self.policy
        url = validate_destination(data.url, max_length=policy.max_url_length, own_hosts=self.own)
        expired_url = (
            validate_destination(
                data.expired_url,
                max_length=policy.max_url_length,
                own_hosts=self.own,
                field="expired_url",
            )
            if data.expired_url
            else None
        )
        domain, case_sensitive = await self.domain(data.domain)
        custom = (
            validate_custom_key(
                data.key, max_length=policy.max_key_length, reserved=policy.all_reserved
            )
            if data.key is not None
            else None
        )
        for name in data.tags or ():
            tags_service.tag_key(name)
        lookup = normalize_key(custom, case_sensitive=case_sensitive) if custom else None
        if lookup is not None and (earlier := self.keys.get((domain, lookup))) is not None:
            raise Conflict(
                f"the key '{custom}' is already used by item {earlier} of this request",
                field="key",
                code="key_taken",
            )
        if data.external_id and (earlier := self.external_ids.get(data.external_id)) is not None:
            raise Conflict(
                f"external_id '{data.external_id}' is already used by item {earlier} "
                "of this request",
                field="external_id",
            )
        if data.password and data.password not in self.passwords:
            if len(self.passwords) >= MAX_PASSWORDS:
                raise Invalid(
                    f"a bulk request may use at most {MAX_PASSWORDS} different passwords "
                    "(each is hashed with Argon2); send the rest in another request",
                    field="password",
                    code="too_many_passwords",
                )
            self.passwords[data.password] = ""
        if lookup is not None:
            self.keys[(domain, lookup)] = index
        if data.external_id:
            self.external_ids[data.external_id] = index
        row = links_service.link_row(
            principal=self.principal,
            data=data,
            domain=domain,
            url=url,
            expired_url=expired_url,
            password_hash=None,
            now=now,
        )
        if custom is not None and lookup is not None:
            row["key"], row["key_lookup"] = custom, lookup
        return _Plan(index, data, row, custom, case_sensitive, list(data.tags or ()))

    def draw(self, plans: Sequence[_Plan]) -> None:
        """Give random-key items fresh keys that are not reserved nor asked for by name."""
        policy = self.policy
        pool = random_keys(len(plans) + 8, policy.key_length, policy.key_alphabet)
        for plan in plans:
            domain = plan.row["domain"]
            while True:
                key = pool.pop() if pool else links_service.draw_key(policy)
                lookup = normalize_key(key, case_sensitive=plan.case_sensitive)
                if key.casefold() not in policy.all_reserved and (domain, lookup) not in self.keys:
                    plan.row["key"], plan.row["key_lookup"] = key, lookup
                    break


async def _taken_external_ids(
    session: AsyncSession, org_id: str, wanted: Sequence[str]
) -> set[str]:
    if not wanted:
        return set()
    stmt = select(Link.external_id).where(Link.org_id == org_id, Link.external_id.in_(wanted))
    return {e for e in (await session.execute(stmt)).scalars() if e is not None}


def _conflict(plan: _Plan, detail: str, name: str, code: str | None = None) -> ItemError:
    return ItemError(plan.index, Conflict(detail, field=name, code=code))


def _external_id_used(plan: _Plan) -> ItemError:
    return _conflict(plan, f"external_id '{plan.data.external_id}' is already used", "external_id")


async def _check_items(
    batch: _Batch, items: Sequence[Mapping[str, Any]], now: datetime
) -> tuple[list[_Plan], dict[int, ItemError]]:
    """Every item checked on its own; the plans of the acceptable ones and the refusals."""
    failed: dict[int, ItemError] = {}
    plans: list[_Plan] = []
    for index, raw in enumerate(items):
        try:
            data = LinkCreate.model_validate(raw)
        except ValidationError as exc:
            failed[index] = _schema_error(index, exc)
            continue
        try:
            plans.append(await batch.check(index, data, now))
        except LinkhopError as exc:
            failed[index] = ItemError(index, exc)
    wanted = [p.data.external_id for p in plans if p.data.external_id]
    taken = await _taken_external_ids(batch.session, batch.principal.org_id, wanted)
    for plan in plans:
        if plan.data.external_id in taken:
            failed[plan.index] = _external_id_used(plan)
    return [p for p in plans if p.index not in failed], failed


async def _insert(batch: _Batch, plans: list[_Plan], failed: dict[int, ItemError]) -> set[str]:
    """Insert the plans in rounds (random keys redrawn when taken); returns the ids inserted."""
    # Custom keys first: within one statement an earlier row wins a contested key.
    pending = sorted(plans, key=lambda p: p.custom is None)
    inserted: set[str] = set()
    for _ in range(links_service.RANDOM_KEY_ATTEMPTS):
        batch.draw([p for p in pending if p.custom is None])
        got = await links_service.insert_rows(batch.session, [p.row for p in pending])
        inserted |= got
        refused = [p for p in pending if p.row["id"] not in got]
        # A concurrent request may have taken an external id since it was checked.
        raced = await _taken_external_ids(
            batch.session,
            batch.principal.org_id,
            [p.data.external_id for p in refused if p.data.external_id],
        )
        pending = []
        for plan in refused:
            if plan.data.external_id in raced:
                failed[plan.index] = _external_id_used(plan)
            elif plan.custom is not None:
                where = plan.row["domain"]
                detail = f"the key '{plan.custom}' is already taken on {where}"
                failed[plan.index] = _conflict(plan, detail, "key", "key_taken")
            else:
                pending.append(plan)
        if not pending:
            break
    for plan in pending:
        detail = "could not find a free random key; raise LINKHOP_KEY_LENGTH"
        failed[plan.index] = _conflict(plan, detail, "key", "key_space_exhausted")
    return inserted


async def create_links(
    session: AsyncSession,
    *,
    principal: Principal,
    items: Sequence[Mapping[str, Any]],
    policy: links_service.LinkPolicy,
    now: datetime,
    all_or_nothing: bool = False,
) -> BulkOutcome:
    """Create every valid item; report each refused one with its index and reason."""
    require(principal, "links:write")
    if not items:
        raise Invalid("send at least one link", field="links", code="bulk_empty")
    if len(items) > MAX_LINKS:
        raise Invalid(
            f"a bulk request takes at most {MAX_LINKS} links; this one has {len(items)}. "
            "Split it into several requests.",
            field="links",
            code="too_many_links",
        )
    batch = _Batch(session, principal, policy)
    batch.own = await links_service.own_hosts(session, policy)
    plans, failed = await _check_items(batch, items, now)
    doomed = all_or_nothing and bool(failed)
    if not doomed:  # rows that will be rolled back need no (slow) password hash
        for password in batch.passwords:
            batch.passwords[password] = await hash_password_async(password)
        for plan in plans:
            if plan.data.password:
                plan.row["password_hash"] = batch.passwords[plan.data.password]
    # Inserted even when doomed, so the refusal also names the keys the database already holds;
    # raising then rolls the request's transaction back.
    inserted = await _insert(batch, plans, failed)
    if all_or_nothing and failed:
        raise BulkRejected(sorted(failed.values(), key=lambda f: f.index), len(items))

    made = [p for p in plans if p.row["id"] in inserted]
    tagged = {p.row["id"]: p.tags for p in made if p.tags}
    tags = (
        await tags_service.attach_tags(session, principal=principal, link_tags=tagged)
        if tagged
        else {}
    )
    batch_id = new_id("bulk")
    await audit_service.record_many(
        session,
        principal=principal,
        action="link.created",
        target_type="link",
        targets=[(p.row["id"], links_service.created_data(p.row, batch=batch_id)) for p in made],
    )
    return BulkOutcome(
        created=[Created(p.index, p.row, tags.get(p.row["id"], [])) for p in made],
        failed=sorted(failed.values(), key=lambda f: f.index),
    )
