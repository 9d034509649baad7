"""The parcel-locker part of the store plugins' API (R-LOCK-2), installed by ``api.app``:

- ``POST /parcels`` registers a parcel with a reserved cell (``services.parcels``) and answers
  201 with its barcode, status, locker, cell (code and size) and how long the cell is held;
- ``GET /parcels/{barcode}``: the store's own parcel, its status with the times of the journey
  and the status history; another store's barcode is 404, exactly like one that does not exist;
- ``GET /lockers?city=``: the active lockers (of a city, any case) with their free cells
  counted by size, for the checkout's locker picker.

Every call needs the merchant's API key and runs as the merchant (``services.actor``), so the
central scoping applies. Requests are bounded like ``api.models`` (strict types, one-line text
without control characters, ids within INTEGER, amounts as exact decimal strings); errors are
the API's shape (``api.errors``): a refused registration is 400 (``locker_unavailable``,
``no_free_cell``: the message says why and, when the setting offers it, names the nearest
locker with space; ``no_tariff``: the locker's zone has no tariff for the cell) or 422
(``invalid_request``: a field that is not what it must be). Registering charges the store
(``services.locker_charges``): a charge the balance plus the credit limit does not cover is 402
``insufficient_balance``, the message naming the amount missing (an order to a locker the
same); nothing is written.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.auth import PresentedKey, presented_key
from api.errors import error_response, error_responses, gettext_for, language_of
from api.models import Id, Line, MoneyStr, _Request
from schema.lockers import Locker, Parcel
from services.actor import acting_as
from services.parcels import (
    ParcelInput,
    ParcelNotFound,
    free_cells_by_size,
    parcel_for_barcode,
    register_parcel,
    same_city,
)
from services.status import history, state_labels

REGISTER_ERRORS = error_responses(400, 401, 402, 405, 413, 422, 500, 503)
READ_ERRORS = error_responses(401, 404, 405, 422, 500, 503)
MAX_LOCKERS = 1000  # a city's lockers, listed at once
Barcode = Annotated[str, Path(pattern=r"^[A-Za-z0-9]{1,64}$",
                              description="The parcel's barcode (PD + 11 digits).")]


# --- models -------------------------------------------------------------------------------


class ParcelRecipientIn(_Request):
    name: Line = Field(min_length=1, max_length=200)
    phone: Line = Field(min_length=1, max_length=32,
                        description="7 to 15 digits; spaces, dashes, brackets, a leading +.")
    language: Literal["en", "ru", "fa"] = Field(
        "ru", description="The language of the recipient's SMS.")


class ParcelIn(_Request):
    locker_id: Id = Field(description="A locker of GET /lockers.")
    size: Literal["s", "m", "l", "xl"] = Field(
        description="The parcel's size; the smallest free cell it fits is reserved.")
    recipient: ParcelRecipientIn
    declared_price: MoneyStr | None = Field(
        None, description="Cash the buyer pays at the locker (the store's currency, at most "
        "its decimal places); empty or 0: prepaid.")
    drop_mode: Literal["courier_pickup", "self_drop"] = Field(
        "courier_pickup", description="courier_pickup: a courier collects it on drop_date; "
        "self_drop: the store brings it to the sorting centre or the locker.")
    drop_date: date | None = Field(None, strict=False,
                                   description="Today or later; empty: today.")
    weight_g: int | None = Field(None, ge=1, le=2**31 - 1)


class CellOut(BaseModel):
    code: str
    size: str


class HistoryOut(BaseModel):
    at: datetime
    from_state: str | None
    to_state: str
    label: str
    comment: str | None


class ParcelOut(BaseModel):
    barcode: str
    status: str
    status_label: str
    locker_id: Id
    locker_code: str
    cell: CellOut | None = Field(description="The reserved or occupied cell; none once it is "
                                 "released or the parcel has left it.")
    size: str | None
    reserved_until: datetime | None = Field(description="The cell is held until then for a "
                                            "parcel not yet placed.")
    declared_price: MoneyStr | None
    currency: str
    paid: bool
    drop_mode: str
    drop_date: date | None
    created_at: datetime
    placed_at: datetime | None
    stored_until: datetime | None
    picked_up_at: datetime | None
    history: list[HistoryOut] = Field(description="Status changes, oldest first.")


class LockerOut(BaseModel):
    id: Id
    code: str
    name: str
    city: str | None
    address: str | None
    latitude: float | None
    longitude: float | None
    free_cells: dict[str, int] = Field(description="Free cells by size (s, m, l, xl).")


class LockersOut(BaseModel):
    lockers: list[LockerOut]


# --- rendering ----------------------------------------------------------------------------


def _money(amount: Decimal | None) -> str | None:
    return None if amount is None else format(amount, "f")


def parcel_out(session: Session, parcel: Parcel, language: str) -> ParcelOut:
    labels = state_labels(session, "parcel", language)
    changes = [row["change"] for row in reversed(history(session, "parcels", parcel.id))]
    cell = parcel.cell
    return ParcelOut(
        barcode=parcel.barcode, status=parcel.status,
        status_label=labels.get(parcel.status, parcel.status),
        locker_id=parcel.locker_id, locker_code=parcel.locker.code,
        cell=CellOut(code=cell.code, size=cell.size.value) if cell is not None else None,
        size=parcel.size.value if parcel.size is not None else None,
        reserved_until=parcel.reserved_until, declared_price=_money(parcel.declared_price),
        currency=parcel.currency, paid=parcel.paid, drop_mode=parcel.drop_mode.value,
        drop_date=parcel.drop_date, created_at=parcel.created_at, placed_at=parcel.placed_at,
        stored_until=parcel.stored_until, picked_up_at=parcel.picked_up_at,
        history=[HistoryOut(at=c.at, from_state=c.from_state, to_state=c.to_state,
                            label=labels.get(c.to_state, c.to_state), comment=c.comment)
                 for c in changes],
    )


# --- routes -------------------------------------------------------------------------------


def install(api: FastAPI, factory: sessionmaker[Session]) -> None:
    @api.post("/parcels", response_model=ParcelOut, status_code=201, responses=REGISTER_ERRORS,
              tags=["parcel lockers"], summary="Register a parcel with a reserved cell")
    def register(body: ParcelIn, request: Request,
                 key: PresentedKey = Depends(presented_key)) -> ParcelOut:  # noqa: B008
        """Reserves the smallest free cell the parcel fits in the locker and registers the
        parcel (a courier pickup is requested for drop_date), charging the store its tariff.
        Nothing is written when it is refused: no free cell, a locker out of service, a bad
        phone, amount or date, no tariff, or a charge the balance plus the credit limit does
        not cover (402 ``insufficient_balance``)."""
        language = language_of(request)
        parcel_input = ParcelInput(
            locker_id=body.locker_id, size=body.size, recipient_name=body.recipient.name,
            recipient_phone=body.recipient.phone, recipient_language=body.recipient.language,
            declared_price=None if body.declared_price is None else Decimal(body.declared_price),
            drop_mode=body.drop_mode, drop_date=body.drop_date, weight_g=body.weight_g)
        with factory() as session:
            who = key.caller(session)  # begins the transaction the parcel is written in
            with acting_as(who.actor):
                parcel = register_parcel(session, who.actor, parcel_input, language=language)
                out = parcel_out(session, parcel, language)
                session.commit()  # a refusal leaves it uncommitted: closing rolls it back
        return out

    @api.get("/parcels/{barcode}", response_model=ParcelOut, responses=READ_ERRORS,
             tags=["parcel lockers"], summary="A parcel's status with its history")
    def read(barcode: Barcode, request: Request,
             key: PresentedKey = Depends(presented_key)) -> ParcelOut | JSONResponse:  # noqa: B008
        """The store's own parcel by barcode; any other barcode is 404 (``parcel_not_found``)."""
        with factory() as session:
            who = key.caller(session)
            with acting_as(who.actor):
                try:
                    parcel = parcel_for_barcode(session, barcode)
                except ParcelNotFound as refusal:
                    return error_response(refusal.code, refusal.render(gettext_for(request)),
                                          status=404)
                return parcel_out(session, parcel, language_of(request))

    @api.get("/lockers", response_model=LockersOut, responses=READ_ERRORS,
             tags=["parcel lockers"], summary="Active lockers with free cells by size")
    def lockers(key: PresentedKey = Depends(presented_key),  # noqa: B008
                city: Annotated[Line | None, Query(max_length=100)] = None) -> LockersOut:
        """Active lockers, of the city when one is given (any case), by code."""
        with factory() as session:
            who = key.caller(session)
            with acting_as(who.actor):
                rows = session.scalars(select(Locker).where(Locker.active.is_(True))
                                       .order_by(Locker.code)).all()
                if city is not None and city.strip():
                    # Compared here: SQLite's lower() folds ASCII only (Минск, МИНСК).
                    rows = [r for r in rows if same_city(r.city, city)]
                rows = rows[:MAX_LOCKERS]
                free = free_cells_by_size(session, [r.id for r in rows])
        return LockersOut(lockers=[
            LockerOut(id=r.id, code=r.code, name=r.name, city=r.city, address=r.address,
                      latitude=r.latitude, longitude=r.longitude, free_cells=free[r.id])
            for r in rows])
