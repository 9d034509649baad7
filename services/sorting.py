"""The sorting centre receives parcels: one scan, one step of the parcel's journey.

``receive_parcel(session, actor, barcode)`` is one transaction step (the caller's):
- the barcode is read as scanners send it (surrounding blanks dropped; a barcode typed in lower
  case is tried in upper case too) and looked up in the actor's scope — a merchant's or another
  confined user's invisible parcel reads as unknown;
- an unknown barcode, or a parcel whose status is not one the sorting centre expects
  (``registered``: a self-drop; ``pickup_requested``: brought by the courier), is refused with
  the reason and nothing is written;
- otherwise the parcel moves to ``at_sorting_center`` through ``services.status.change_status``
  as the actor (its role must be one the workflow names for that move), guarded against a
  concurrent move (``expected_state``), and the ``received`` event is emitted (once per parcel).

``day_lists(session, day)`` gives the page's two lists: the parcels expected that day (drop date
that day, still registered or pickup_requested) and those received that day (their ``received``
event), each capped at ``LIST_LIMIT``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from reports.data import day_bounds
from schema.lockers import Parcel, ParcelEvent, ParcelEventKind
from services.actor import Actor
from services.errors import Refused
from services.parcel_events import emit
from services.status import change_status, state_labels, workflow_for

EXPECTED_STATES = ("registered", "pickup_requested")
RECEIVED_STATE = "at_sorting_center"
LIST_LIMIT = 200
# Barcodes are at most 64 characters (schema.lockers.Parcel.barcode); a longer scan is noise.
MAX_BARCODE = 64


@dataclass(frozen=True)
class ParcelLine:
    """One parcel as the sorting centre sees it."""

    id: int
    barcode: str
    status: str
    status_label: str
    locker_code: str
    locker_name: str
    locker_address: str
    cell_code: str | None
    recipient_name: str
    drop_date: date | None
    received_at: datetime | None = None


def _line(parcel: Parcel, labels: dict[str, str], received_at: datetime | None = None
          ) -> ParcelLine:
    locker = parcel.locker
    return ParcelLine(
        id=parcel.id, barcode=parcel.barcode, status=parcel.status,
        status_label=labels.get(parcel.status, parcel.status), locker_code=locker.code,
        locker_name=locker.name,
        locker_address=", ".join(p for p in (locker.address, locker.city) if p),
        cell_code=parcel.cell.code if parcel.cell is not None else None,
        recipient_name=parcel.recipient_name or "", drop_date=parcel.drop_date,
        received_at=received_at)


def _labels(session: Session, language: str) -> dict[str, str]:
    try:
        return state_labels(session, workflow_for(session, "parcels", "status", None),
                            language)
    except Refused:
        return {}


def find_by_barcode(session: Session, barcode: str) -> Parcel | None:
    text = barcode.strip()
    if not text or len(text) > MAX_BARCODE:
        return None
    query = select(Parcel).options(joinedload(Parcel.locker), joinedload(Parcel.cell))
    found = session.scalar(query.where(Parcel.barcode == text))
    if found is None and text != text.upper():
        found = session.scalar(query.where(Parcel.barcode == text.upper()))
    return found


def receive_parcel(session: Session, actor: Actor, barcode: str,
                   language: str = "en") -> ParcelLine:
    """Receive the scanned parcel at the sorting centre (see the module docstring)."""
    text = barcode.strip()
    if not text:
        raise Refused("Scan a parcel's barcode.")
    parcel = find_by_barcode(session, text)
    if parcel is None:
        raise Refused("No parcel has the barcode %(barcode)s. Check the sticker, or set the "
                      "parcel aside for the manager.", barcode=text[:MAX_BARCODE])
    labels = _labels(session, language)
    if parcel.status not in EXPECTED_STATES:
        raise Refused("Parcel %(barcode)s is not expected at the sorting centre: its status is "
                      "%(status)s.", barcode=parcel.barcode,
                      status=labels.get(parcel.status, parcel.status))
    change_status(session, actor, table="parcels", record_id=parcel.id, field="status",
                  to_state=RECEIVED_STATE, expected_state=parcel.status, language=language)
    event = emit(session, parcel, ParcelEventKind.RECEIVED)
    return _line(parcel, labels, event.at)


def day_lists(session: Session, day: date, language: str = "en"
              ) -> tuple[list[ParcelLine], list[ParcelLine]]:
    """(expected that day and not yet received, received that day), in the session's scope."""
    labels = _labels(session, language)
    start, end = day_bounds(day)
    expected = session.scalars(
        select(Parcel).where(Parcel.drop_date == day, Parcel.status.in_(EXPECTED_STATES))
        .options(joinedload(Parcel.locker), joinedload(Parcel.cell))
        .order_by(Parcel.locker_id, Parcel.barcode).limit(LIST_LIMIT)).all()
    received = session.execute(
        select(Parcel, ParcelEvent.at)
        .join(ParcelEvent, ParcelEvent.parcel_id == Parcel.id)
        .where(ParcelEvent.kind == ParcelEventKind.RECEIVED, ParcelEvent.at >= start,
               ParcelEvent.at < end)
        .options(joinedload(Parcel.locker), joinedload(Parcel.cell))
        .order_by(ParcelEvent.at.desc()).limit(LIST_LIMIT)).all()
    return ([_line(p, labels) for p in expected],
            [_line(p, labels, at) for p, at in received])
