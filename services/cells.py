"""Locker cells: reserving one for a parcel, letting it go.

Semantics:
- ``fitting_sizes(size)``: a parcel fits its own size and every larger one (S < M < L < XL);
  an unknown size fits every cell.
- ``reserve_cell`` takes one FREE cell of the smallest fitting size at the locker (codes in
  order within a size) and makes it RESERVED with a conditional ``UPDATE ... WHERE state =
  'free'``; a candidate someone else took meanwhile is skipped and the next one tried. On
  PostgreSQL the candidate is read ``FOR UPDATE SKIP LOCKED`` so concurrent reservations do not
  queue on one row; on SQLite (one writer at a time) the conditional update alone decides. Out-of-
  order, reserved and occupied cells are never taken. Returns None when no cell fits.
  ``parcels.cell_id`` is unique, so even a bug elsewhere cannot put two parcels in one cell.
- ``free_cell`` puts a RESERVED or OCCUPIED cell back to FREE (an out-of-order cell stays out of
  order) and detaches it from the parcel.
All in the caller's transaction.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from schema.lockers import CellSize, CellState, LockerCell, Parcel

SIZE_ORDER = (CellSize.S, CellSize.M, CellSize.L, CellSize.XL)
# Candidates tried per size before giving up on it (each lost race costs one).
_TRIES = 50


def fitting_sizes(size: CellSize | str | None) -> tuple[CellSize, ...]:
    if size is None:
        return SIZE_ORDER
    wanted = CellSize(size)
    return SIZE_ORDER[SIZE_ORDER.index(wanted):]


def reserve_cell(session: Session, locker_id: int,
                 size: CellSize | str | None) -> LockerCell | None:
    skip_locked = session.get_bind().dialect.name == "postgresql"
    for candidate_size in fitting_sizes(size):
        tried: set[int] = set()
        for _ in range(_TRIES):
            query = (select(LockerCell.id)
                     .where(LockerCell.locker_id == locker_id,
                            LockerCell.state == CellState.FREE,
                            LockerCell.size == candidate_size,
                            LockerCell.id.not_in(tried) if tried else True)
                     .order_by(LockerCell.code).limit(1))
            if skip_locked:
                query = query.with_for_update(skip_locked=True)
            cell_id = session.scalar(query)
            if cell_id is None:
                break
            taken = session.execute(
                update(LockerCell)
                .where(LockerCell.id == cell_id, LockerCell.state == CellState.FREE)
                .values(state=CellState.RESERVED, version=LockerCell.version + 1)
                .execution_options(synchronize_session=False)).rowcount
            if taken == 1:
                cell = session.get(LockerCell, cell_id)
                assert cell is not None
                session.refresh(cell)
                return cell
            tried.add(cell_id)
    return None


def free_cell(session: Session, parcel: Parcel) -> None:
    if parcel.cell_id is None:
        return
    session.execute(
        update(LockerCell)
        .where(LockerCell.id == parcel.cell_id,
               LockerCell.state.in_((CellState.RESERVED, CellState.OCCUPIED)))
        .values(state=CellState.FREE, version=LockerCell.version + 1)
        .execution_options(synchronize_session=False))
    parcel.cell_id = None
    session.flush()
