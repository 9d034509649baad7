"""Running a service from a web handler: parse, check the grant, one transaction, tell the person.

Handlers stay thin: they turn a form into arguments, call one service function in one
transaction as the signed-in actor, and flash the outcome in the person's language.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

import anyio
from sqladmin.flash import flash
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException
from starlette.requests import Request

from locales import get_language, gettext, parse_date
from services.actor import Actor, current_actor
from services.errors import Refused

T = TypeVar("T")


def require_actor() -> Actor:
    actor = current_actor()
    if actor is None:
        raise HTTPException(status_code=401)
    return actor


def require_grant(view: Any, request: Request, action: str) -> None:
    if not view.has_permission(request, f"action:{action}"):
        raise HTTPException(status_code=403)


async def run_in_transaction(factory: sessionmaker[Session],
                             work: Callable[[Session], T]) -> T:
    def run() -> T:
        with factory() as session, session.begin():
            return work(session)

    return await anyio.to_thread.run_sync(run)


async def run_and_flash(request: Request, factory: sessionmaker[Session],
                        work: Callable[[Session], Any], success: str) -> bool:
    """Run ``work``; flash ``success`` or the refusal. Returns whether it succeeded."""
    try:
        await run_in_transaction(factory, work)
    except Refused as refusal:
        flash(request, refusal.render(gettext), category="danger")
        return False
    flash(request, success, category="success")
    return True


def form_text(form: Any, name: str) -> str | None:
    value = form.get(name)
    return str(value).strip() or None if value is not None else None


def form_int(form: Any, name: str) -> int | None:
    value = form_text(form, name)
    try:
        return int(value) if value is not None else None
    except ValueError as exc:
        raise HTTPException(status_code=400, detail="Bad Request") from exc


def form_date(form: Any, name: str) -> date | None:
    value = form_text(form, name)
    if value is None:
        return None
    try:
        # ISO from a date picker, or Solar Hijri in any digits from a Persian reader's input.
        return parse_date(value)
    except ValueError as exc:
        raise Refused("Enter the date as YYYY-MM-DD.") from exc


def status_change_from_form(actor: Actor, table: str, record_id: int, field: str,
                            form: Any) -> Callable[[Session], Any]:
    """The one status-change form (target, comment, date, the state the person saw)."""
    from services.status import change_status

    language = get_language()
    return lambda session: change_status(
        session, actor, table=table, record_id=record_id, field=field,
        to_state=form_text(form, "to_state") or "", comment=form_text(form, "comment"),
        effective_date=form_date(form, "effective_date"),
        expected_state=form_text(form, "expected_state"), language=language,
    )


def selected_ids(request: Request, form: Any | None = None) -> list[int]:
    raw = (form.get("pks") if form is not None else None) or request.query_params.get("pks", "")
    ids = []
    for part in str(raw).split(","):
        if part.strip().isdigit():
            ids.append(int(part))
    return ids
