"""The parcel journey's events: one row per (parcel, kind), written in the step's transaction.

``emit`` is the one writer. The row is unique per parcel and kind (``schema.lockers.ParcelEvent``),
and ``emit`` checks first, so a step that runs again (a terminal's retry, a worker's second
pass) returns the event already written instead of a second one: whoever charges from events
(the merchant's money) charges each step once. ``emitted`` tells whether a step happened.

A new event is charged at once: ``services.locker_charges.charge_event`` posts what it costs or
brings the merchant in the same transaction (a registration the balance does not cover raises
its refusal from here, and the caller's rollback takes the event with it).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from schema.base import utcnow
from schema.lockers import Parcel, ParcelEvent, ParcelEventKind
from services.locker_charges import charge_event


def emitted(session: Session, parcel_id: int, kind: ParcelEventKind) -> ParcelEvent | None:
    return session.scalar(select(ParcelEvent).where(ParcelEvent.parcel_id == parcel_id,
                                                    ParcelEvent.kind == kind))


def emit(session: Session, parcel: Parcel, kind: ParcelEventKind, *,
         amount: Decimal | None = None, currency: str | None = None,
         at: datetime | None = None) -> ParcelEvent:
    """Record that ``kind`` happened to ``parcel`` (once; a repeat returns the first) and
    charge the merchant for it (once: only a new event is charged)."""
    existing = emitted(session, parcel.id, kind)
    if existing is not None:
        return existing
    cell = parcel.cell
    event = ParcelEvent(parcel_id=parcel.id, merchant_id=parcel.merchant_id, kind=kind,
                        locker_id=parcel.locker_id,
                        cell_size=cell.size if cell is not None else parcel.size,
                        amount=amount, currency=currency, at=at or utcnow())
    session.add(event)
    session.flush()
    charge_event(session, event)
    return event
