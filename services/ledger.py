"""Merchants' prepaid balances as a ledger: the balance is the sum of the merchant's entries.

``post`` is the one writer. It adds an entry and moves ``Merchant.balance`` by the same signed
amount with one ``UPDATE merchants SET balance = balance + :amount`` in the caller's
transaction, so the two commit together and concurrent posts add up (no read-modify-write).
A flush that changes a balance any other way, adds an entry that did not come through
``post``, or changes or deletes an entry is refused: entries are corrected by posting an
adjustment, never edited. ``ledger_sum`` is the independent check of the invariant.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import event, func, inspect, select, update
from sqlalchemy.orm import Session

from schema.base import utcnow
from schema.lockers import LedgerEntry, LedgerKind
from schema.people import Merchant
from services.errors import Refused

_POSTED = "_ledger_posted"


class LedgerRefused(Refused):
    """A balance or an entry was to be changed outside the ledger service."""


class InsufficientBalance(Refused):
    """A charge would take the balance below the merchant's credit limit."""

    def __init__(self, message: str, *, missing: Decimal, **params: object) -> None:
        super().__init__(message, missing=missing, **params)  # the message names it
        self.missing = missing


def post(session: Session, merchant_id: int, kind: LedgerKind, amount: Decimal, currency: str,
         *, parcel_id: int | None = None, payout_id: int | None = None,
         description: str | None = None, at: datetime | None = None,
         event_id: int | None = None, reference: str | None = None,
         floor: Decimal | None = None) -> LedgerEntry:
    """Record one movement (``amount`` signed: + credits the merchant) and move the balance.

    ``floor``: the balance may not end below it (minus the merchant's credit limit for a
    charge at registration). The check and the move are one conditional UPDATE, so concurrent
    charges can never pass the floor together; a refusal (``InsufficientBalance``) names the
    amount missing and writes nothing."""
    entry = LedgerEntry(merchant_id=merchant_id, kind=kind, amount=Decimal(amount),
                        currency=currency, parcel_id=parcel_id, payout_id=payout_id,
                        description=description, at=at or utcnow(), event_id=event_id,
                        reference=reference)
    statement = update(Merchant).where(Merchant.id == merchant_id)
    if floor is not None:
        # Compared as balance >= floor - amount: the column against a value, so the value is
        # bound as Money (scaled like the column); in "balance + amount >= floor" the floor
        # was bound unscaled, 10,000 times too small.
        statement = statement.where(Merchant.balance >= Decimal(floor) - Decimal(amount))
    moved = session.execute(statement.values(balance=Merchant.balance + Decimal(amount))
                            .execution_options(synchronize_session=False))
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        balance = session.scalar(select(Merchant.balance).where(Merchant.id == merchant_id))
        if balance is None:
            raise LedgerRefused("The merchant %(id)s was not found.", id=merchant_id)
        assert floor is not None
        missing = floor - (Decimal(balance) + Decimal(amount))
        raise InsufficientBalance(
            "The balance is %(balance)s %(currency)s: %(missing)s %(currency)s more are needed "
            "for this (top up the balance, or ask for a higher credit limit).",
            missing=missing, balance=Decimal(balance), currency=currency)
    setattr(entry, _POSTED, True)
    session.add(entry)
    session.flush()  # the entry has its id, as the event that caused it may need
    return entry


def ledger_sum(session: Session, merchant_id: int) -> Decimal:
    total = session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0))
                           .where(LedgerEntry.merchant_id == merchant_id))
    return Decimal(total or 0)


@event.listens_for(Session, "before_flush")
def _guard_ledger(session: Session, _ctx: Any, _instances: Any) -> None:
    for obj in session.new:
        if isinstance(obj, LedgerEntry) and not getattr(obj, _POSTED, False):
            raise LedgerRefused("Ledger entries are written by the ledger service only.")
        if isinstance(obj, Merchant) and Decimal(obj.balance or 0) != 0:
            raise LedgerRefused("A new merchant starts with a zero balance; record a top-up.")
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, LedgerEntry) and (obj in session.deleted
                                             or session.is_modified(obj)):
            raise LedgerRefused(
                "Ledger entries are never changed or deleted: post an adjustment instead.")
        if isinstance(obj, Merchant) and inspect(obj).attrs.balance.history.has_changes():
            raise LedgerRefused(
                "The balance is the sum of the merchant's ledger entries; it is not edited.")
