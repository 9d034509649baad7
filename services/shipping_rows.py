"""Editing a shipping method's ordered cost rows in place (R-RULE-3): add, change, remove, move.

One function = one transaction, called with the method's ``version`` the person saw. Every
change to the rows is a change to the method: the method's version is compared first (a
mismatch is a ``Conflict`` and nothing is written) and raised once the rows are written, so two
people editing the same method's rows never overwrite each other silently, whichever row each
of them touched.

Semantics of the rows (``rules.pricing``): rows are tried by ``position``, the first that
matches decides (its cost, or "not offered" when ``out_of_range``); a zero condition is
ignored. After every change the method's rows are numbered 1, 2, 3... in their order, so the
positions people read are the order rows are tried in, with no gaps or ties.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from rules.rule_tables import check_shipping_row
from rules.workflow import Message
from schema.base import utcnow
from schema.shipping import ShippingCostRow, ShippingMethod
from services.errors import Conflict, InvalidInput, Refused

Move = Literal["up", "down"]


class RowNotFound(Refused):
    """The row is not (or no longer) one of this method's rows."""


class RowProblems(InvalidInput):
    """The typed row breaks the pure checks (``rules.rule_tables.check_shipping_row``): every
    reason, each in the reader's language."""

    def __init__(self, messages: list[Message]) -> None:
        super().__init__(" ".join(str(m) for m in messages).replace("%", "%%"))
        self.messages = messages

    def render(self, gettext: Callable[[str], str]) -> str:
        return " ".join(m.render(gettext) for m in self.messages)


@dataclass(frozen=True)
class RowValues:
    """What a person types for one row; a zero condition is ignored by the engine."""

    min_cart_price: Decimal = Decimal(0)
    min_item_count: int = 0
    min_weight_g: int = 0
    min_distance_m: int = 0
    out_of_range: bool = False
    cost: Decimal = Decimal(0)



def _check(values: RowValues) -> None:
    found = check_shipping_row(values.__dict__)
    if found:
        raise RowProblems(found)


def _method(session: Session, method_id: int, expected_version: int) -> ShippingMethod:
    method = session.scalar(select(ShippingMethod).where(ShippingMethod.id == method_id)
                            .with_for_update())
    if method is None:
        raise RowNotFound("The shipping method %(id)s does not exist.", id=method_id)
    if method.version != expected_version:
        raise Conflict("Someone else changed this record while you were editing it. Nothing "
                       "was saved: reload the page to see their changes, then make yours again.")
    return method


def _rows(session: Session, method: ShippingMethod) -> list[ShippingCostRow]:
    return list(session.scalars(
        select(ShippingCostRow).where(ShippingCostRow.shipping_method_id == method.id)
        .order_by(ShippingCostRow.position, ShippingCostRow.id)))


def _row(rows: list[ShippingCostRow], row_id: int) -> ShippingCostRow:
    for row in rows:
        if row.id == row_id:
            return row
    raise RowNotFound("This cost row no longer exists: reload the page.")


def _finish(session: Session, method: ShippingMethod, rows: list[ShippingCostRow]) -> None:
    """Number the rows in their new order and raise the method's version."""
    for number, row in enumerate(rows, 1):
        if row.position != number:
            row.position = number
    method.updated_at = utcnow()  # an UPDATE of the method: its version moves on
    session.flush()


def _apply(row: ShippingCostRow, values: RowValues) -> None:
    row.min_cart_price = values.min_cart_price
    row.min_item_count = values.min_item_count
    row.min_weight_g = values.min_weight_g
    row.min_distance_m = values.min_distance_m
    row.out_of_range = values.out_of_range
    row.cost = values.cost


def add_row(session: Session, method_id: int, expected_version: int,
            values: RowValues) -> ShippingCostRow:
    """A new row at the end (tried last, before the base rule)."""
    _check(values)
    method = _method(session, method_id, expected_version)
    rows = _rows(session, method)
    row = ShippingCostRow(shipping_method_id=method.id, position=len(rows) + 1)
    _apply(row, values)
    session.add(row)
    _finish(session, method, [*rows, row])
    return row


def update_row(session: Session, method_id: int, expected_version: int, row_id: int,
               values: RowValues) -> None:
    """Change one row's conditions and cost; its place in the order stays."""
    _check(values)
    method = _method(session, method_id, expected_version)
    rows = _rows(session, method)
    _apply(_row(rows, row_id), values)
    _finish(session, method, rows)


def remove_row(session: Session, method_id: int, expected_version: int, row_id: int) -> None:
    method = _method(session, method_id, expected_version)
    rows = _rows(session, method)
    row = _row(rows, row_id)
    session.delete(row)
    rows.remove(row)
    _finish(session, method, rows)


def move_row(session: Session, method_id: int, expected_version: int, row_id: int,
             direction: Move) -> None:
    """Swap the row with the one before (``up``) or after (``down``); at either end nothing
    moves (the version still rises: the person's view of the rows is confirmed)."""
    method = _method(session, method_id, expected_version)
    rows = _rows(session, method)
    here = rows.index(_row(rows, row_id))
    there = here - 1 if direction == "up" else here + 1
    if 0 <= there < len(rows):
        rows[here], rows[there] = rows[there], rows[here]
    _finish(session, method, rows)
