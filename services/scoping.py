"""Merchant isolation, enforced once for every ORM statement and every flush.

A merchant user's session sees only rows whose ``merchant_id`` is its own (and only its own
merchant row), whatever view, lookup, export or URL produced the query; rows it writes are
stamped with its merchant and may not be moved to another.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from schema.base import MerchantOwned
from schema.people import Merchant
from services.actor import current_actor


class ScopeViolation(PermissionError):
    pass


def _merchant_id() -> int | None:
    actor = current_actor()
    return actor.merchant_id if actor is not None else None


@event.listens_for(Session, "do_orm_execute")
def _scope_statements(state: ORMExecuteState) -> None:
    merchant_id = _merchant_id()
    if merchant_id is None:
        return
    if not (state.is_select or state.is_update or state.is_delete):
        return
    state.statement = state.statement.options(
        with_loader_criteria(
            MerchantOwned,
            lambda cls: cls.merchant_id == merchant_id,
            include_aliases=True,
        ),
        with_loader_criteria(Merchant, lambda cls: cls.id == merchant_id, include_aliases=True),
    )


@event.listens_for(Session, "before_flush")
def _stamp_merchant(session: Session, _ctx: Any, _instances: Any) -> None:
    merchant_id = _merchant_id()
    if merchant_id is None:
        return
    for obj in session.new:
        if isinstance(obj, MerchantOwned):
            obj.merchant_id = merchant_id  # type: ignore[attr-defined]
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, MerchantOwned) and obj.merchant_id != merchant_id:  # type: ignore[attr-defined]
            raise ScopeViolation("row belongs to another merchant")
        if isinstance(obj, Merchant) and obj.id != merchant_id:
            raise ScopeViolation("row belongs to another merchant")
