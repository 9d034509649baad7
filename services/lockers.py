"""A technician's work on a locker's cells (R-LOCK-1), each one transaction step in the
caller's transaction, each written to the locker's maintenance log (``LockerMaintenance``).

Semantics:
- ``put_out_of_order(session, actor, cell_id, reason, move_to_cell_id=None)``: the reason is
  required. A cell that holds a parcel (placed in it, or reserved for it) is refused unless
  ``move_to_cell_id`` names a FREE cell of the same locker that fits the parcel (its size or a
  larger one, ``services.cells.fitting_sizes``); then, in the same transaction, the target is
  taken with a conditional UPDATE (free → the state the old cell had: reserved or occupied), the
  parcel lets go of its cell and takes the target (``parcels.cell_id`` is unique: free first,
  then take), and a "parcel moved" row is logged before the "out of order" one. The cell itself
  goes out of order with a conditional UPDATE on the state it was read in, so a parcel that was
  given the cell meanwhile makes the step a conflict instead of a cell with a parcel out of
  order. A cell already out of order is refused.
- ``back_in_service(session, actor, cell_id, reason=None)``: an out-of-order cell becomes FREE
  (only from out of order; anything else is refused); logged with the optional reason.
- ``add_note(session, actor, locker_id, text, cell_id=None)``: a free-text log entry.
Refusals are ``Refused``/``Conflict`` with translatable messages; nothing is written on one.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from schema.base import utcnow
from schema.lockers import (
    CellState,
    Locker,
    LockerCell,
    LockerMaintenance,
    MaintenanceAction,
    Parcel,
)
from services.actor import Actor
from services.cells import fitting_sizes
from services.errors import Conflict, Refused

REASON_MAX = 2000  # a reason is a sentence or two, not a report


def _cell(session: Session, cell_id: int) -> LockerCell:
    cell = session.get(LockerCell, cell_id)
    if cell is None:
        raise Refused("The cell was not found.")
    session.refresh(cell)  # the state as it is now, not as this session first read it
    return cell


def _text(value: str | None) -> str | None:
    text = (value or "").strip()
    if len(text) > REASON_MAX:
        raise Refused("Keep the reason under %(count)s characters.", count=REASON_MAX)
    return text or None


def _log(session: Session, actor: Actor, locker_id: int, cell_id: int | None,
         action: MaintenanceAction, reason: str | None) -> LockerMaintenance:
    entry = LockerMaintenance(locker_id=locker_id, cell_id=cell_id, user_id=actor.user_id,
                              action=action, reason=reason, at=utcnow())
    session.add(entry)
    return entry


def _set_state(session: Session, cell: LockerCell, seen: CellState, to: CellState) -> None:
    """Move ``cell`` from the state it was read in; someone else's change first is a conflict."""
    moved = session.execute(
        update(LockerCell)
        .where(LockerCell.id == cell.id, LockerCell.state == seen)
        .values(state=to, version=LockerCell.version + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        raise Conflict("Cell %(cell)s changed meanwhile. Nothing was changed: reload the page "
                       "and decide again.", cell=cell.code)


def put_out_of_order(session: Session, actor: Actor, cell_id: int, reason: str | None,
                     move_to_cell_id: int | None = None) -> LockerMaintenance:
    reason = _text(reason)
    if reason is None:
        raise Refused("Say why the cell is out of order.")
    cell = _cell(session, cell_id)
    if cell.state is CellState.OUT_OF_ORDER:
        raise Refused("Cell %(cell)s is already out of order.", cell=cell.code)
    seen = cell.state
    parcel = session.scalar(select(Parcel).where(Parcel.cell_id == cell.id))
    if parcel is not None:
        if move_to_cell_id is None:
            raise Refused(
                "Cell %(cell)s holds parcel %(parcel)s. Choose a free cell to move the parcel "
                "to, or take the parcel out first.", cell=cell.code, parcel=parcel.barcode)
        _move(session, actor, parcel, cell, move_to_cell_id, seen)
    elif move_to_cell_id is not None:
        raise Refused("Cell %(cell)s holds no parcel; there is nothing to move.", cell=cell.code)
    _set_state(session, cell, seen, CellState.OUT_OF_ORDER)
    entry = _log(session, actor, cell.locker_id, cell.id, MaintenanceAction.OUT_OF_ORDER, reason)
    session.flush()
    session.refresh(cell)
    return entry


def _move(session: Session, actor: Actor, parcel: Parcel, cell: LockerCell, target_id: int,
          seen: CellState) -> None:
    target = _cell(session, target_id)
    if target.locker_id != cell.locker_id or target.id == cell.id:
        raise Refused("Move the parcel to another cell of the same locker.")
    if target.state is not CellState.FREE:
        raise Refused("Cell %(cell)s is not free.", cell=target.code)
    if target.size not in fitting_sizes(parcel.size or cell.size):
        raise Refused("Parcel %(parcel)s does not fit cell %(cell)s.", parcel=parcel.barcode,
                      cell=target.code)
    # The parcel's cell keeps its meaning in the target: a reservation stays a reservation,
    # a placed parcel is in the target cell.
    held = seen if seen in (CellState.RESERVED, CellState.OCCUPIED) else CellState.RESERVED
    _set_state(session, target, CellState.FREE, held)
    parcel.cell_id = None  # parcels.cell_id is unique: let go of the old cell first
    session.flush()
    parcel.cell_id = target.id
    session.flush()
    _log(session, actor, cell.locker_id, cell.id, MaintenanceAction.PARCEL_MOVED,
         f"{parcel.barcode}: {cell.code} → {target.code}")


def back_in_service(session: Session, actor: Actor, cell_id: int,
                    reason: str | None = None) -> LockerMaintenance:
    reason = _text(reason)
    cell = _cell(session, cell_id)
    if cell.state is not CellState.OUT_OF_ORDER:
        raise Refused("Cell %(cell)s is not out of order.", cell=cell.code)
    _set_state(session, cell, CellState.OUT_OF_ORDER, CellState.FREE)
    entry = _log(session, actor, cell.locker_id, cell.id, MaintenanceAction.BACK_IN_SERVICE,
                 reason)
    session.flush()
    session.refresh(cell)
    return entry


def add_note(session: Session, actor: Actor, locker_id: int, text: str | None,
             cell_id: int | None = None) -> LockerMaintenance:
    note = _text(text)
    if note is None:
        raise Refused("Write the note first.")
    if session.get(Locker, locker_id) is None:
        raise Refused("The parcel locker was not found.")
    if cell_id is not None:
        cell = _cell(session, cell_id)
        if cell.locker_id != locker_id:
            raise Refused("The cell was not found.")
    entry = _log(session, actor, locker_id, cell_id, MaintenanceAction.NOTE, note)
    session.flush()
    return entry
