"""Registering a parcel for a parcel locker, with a reserved cell (R-LOCK-2), and letting go of
reservations nobody used.

``register_parcel(session, actor, ParcelInput)`` is one step of the parcel journey, in the
caller's transaction (the caller commits; a refusal leaves it to roll back, and every refusal
comes before anything is written except the cell reservation, which the rollback undoes):

1. Validation, in this order, each a ``Refused`` naming the field: the store (a merchant user
   registers for its own store; staff name an active store), the locker (exists, active), the
   size (s, m, l, xl), the recipient's name, phone (7 to 15 digits; spaces, dashes, brackets and
   a leading plus allowed; any script's digits; stored as ``+``/digits only), language (en, ru,
   fa), the declared amount (an exact ``Decimal`` ≥ 0 with at most the currency's decimal places,
   in the merchant's currency; 0 means prepaid and is stored as empty), the drop mode
   (courier_pickup, self_drop) and the drop date (today or later; empty means today).
2. The parcel is written at ``created`` with a new barcode: ``PD`` + 10 random digits + a
   check digit (the GS1 mod-10 of the digits), unique across every merchant (checked outside
   the merchant scoping; the column's unique constraint is the last word).
3. A cell is reserved with ``services.cells.reserve_cell`` (the smallest fitting size, atomic;
   out-of-order, reserved and occupied cells are never taken) and the parcel gets ``cell_id``
   and ``reserved_until`` = the later of now and the start of the drop-off day (UTC) + the
   setting ``locker_reservation_hours`` (72): a parcel dropped off next week keeps its cell
   until its hours after that day.
   No fitting cell: ``NoFreeCell`` saying so; with the setting ``locker_offer_nearest`` = yes
   the message names the nearest other active locker of the same city that has a fitting free
   cell (by distance when both lockers have coordinates, those without coordinates after them
   by code), or says there is none.
4. The status moves ``created → registered`` and, for a courier pickup, ``registered →
   pickup_requested`` through ``services.status.change_status`` as the acting role (history
   rows, effects). The pickup task is the parcel itself: its ``drop_date`` is the day, and the
   courier a manager assigns (``courier_id``) sees it in My tasks.
5. The ``registered`` and ``reserved`` events are emitted (``services.parcel_events``).

``release_stale_reservations(session, now)`` takes the cell back from every parcel still
``registered`` or ``pickup_requested`` whose ``reserved_until`` has passed: the cell is freed
(``services.cells.free_cell``), ``reserved_until`` is emptied and a ``released`` event written;
it returns how many. On PostgreSQL the parcels are read ``FOR UPDATE SKIP LOCKED``, so a parcel
a terminal is placing right now is left for the next run. Such a parcel gets a new cell when it
is placed (``services.terminal``). Idempotent: a released parcel has no cell to release.

``parcel_for_barcode`` finds a parcel by barcode as the acting person may see it (scoped: a
merchant reads only its own; another's is ``ParcelNotFound``, as if it did not exist).
``free_cells_by_size`` counts a locker's free cells per size (the API's locker list and the
registration page).
"""

from __future__ import annotations

import math
import re
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

import locales
from schema.base import utcnow
from schema.couriers import Courier
from schema.lockers import (
    CellSize,
    CellState,
    DropMode,
    Locker,
    LockerCell,
    Parcel,
    ParcelEventKind,
)
from schema.people import Merchant
from services.actor import Actor, acting_as
from services.cells import fitting_sizes, free_cell, reserve_cell
from services.errors import Refused
from services.parcel_events import emit
from services.pricing import MAX_AMOUNT
from services.shop_settings import currency_places, int_setting, yes_setting
from services.status import change_status

LANGUAGES = ("en", "ru", "fa")
BARCODE_PREFIX = "PD"
BARCODE_DIGITS = 10  # random digits before the check digit
RESERVATION_HOURS = 72  # the default of the setting locker_reservation_hours
# Statuses in which a parcel holds a reserved (not yet occupied) cell.
WAITING = ("registered", "pickup_requested")
MIN_PHONE_DIGITS, MAX_PHONE_DIGITS = 7, 15  # E.164 allows 15 at most


class ParcelRefused(Refused):
    """A registration that cannot be made as asked; ``code`` is the API's error code."""

    code = "invalid_request"


class LockerUnavailable(ParcelRefused):
    code = "locker_unavailable"


class NoFreeCell(ParcelRefused):
    code = "no_free_cell"


class ParcelNotFound(ParcelRefused):
    code = "parcel_not_found"


@dataclass(frozen=True)
class ParcelInput:
    """A parcel as a store (the admin page, the API, an order) asks to register it."""

    locker_id: int
    size: str
    recipient_name: str | None
    recipient_phone: str | None
    recipient_language: str = "ru"
    declared_price: Decimal | None = None
    currency: str | None = None  # empty: the merchant's
    drop_mode: str = DropMode.COURIER_PICKUP.value
    drop_date: date | None = None  # empty: today
    merchant_id: int | None = None  # staff only: the store the parcel is for
    order_id: int | None = None
    courier_id: int | None = None  # staff only: who picks it up
    weight_g: int | None = None


# --- checks -------------------------------------------------------------------------------


def normalized_phone(raw: str | None) -> str:
    """The phone as stored and dialled: a leading ``+`` if typed, then ASCII digits."""
    text = (raw or "").strip()
    if not text:
        raise ParcelRefused("Enter the recipient's phone number: the pickup code is sent there.")
    if not re.fullmatch(r"\+?[\d\s\-().]+", text):
        raise ParcelRefused("The phone number %(phone)s may hold only digits, spaces, dashes, "
                            "brackets and a leading +.", phone=text)
    digits = "".join(str(unicodedata.digit(ch)) for ch in text if ch.isdigit())
    if not MIN_PHONE_DIGITS <= len(digits) <= MAX_PHONE_DIGITS:
        raise ParcelRefused("The phone number %(phone)s must have %(min)s to %(max)s digits.",
                            phone=text, min=MIN_PHONE_DIGITS, max=MAX_PHONE_DIGITS)
    return ("+" if text.startswith("+") else "") + digits


def parse_amount(raw: str | Decimal | None) -> Decimal | None:
    """A declared amount as typed (``1500.50``; any script's digits); empty is none."""
    if raw is None or isinstance(raw, Decimal):
        return raw
    try:
        return locales.parse_amount(raw)
    except ValueError:
        raise ParcelRefused("The declared amount %(amount)s is not a number; write it like "
                            "1500.50.", amount=raw.strip()) from None


def _amount(session: Session, merchant: Merchant, value: Decimal | None,
            currency: str | None) -> tuple[Decimal | None, str]:
    wanted = (currency or merchant.currency).strip().upper()
    if wanted != merchant.currency:
        raise ParcelRefused("The declared amount must be in the store's currency, %(currency)s.",
                            currency=merchant.currency)
    if value is None:
        return None, wanted
    if not value.is_finite() or value < 0:
        raise ParcelRefused("The declared amount cannot be negative; leave it empty for a "
                            "prepaid parcel.")
    if value > MAX_AMOUNT:
        raise ParcelRefused("The declared amount %(amount)s is larger than a parcel can hold.",
                            amount=str(value))
    places = currency_places(session, wanted)
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -places:
        raise ParcelRefused("The declared amount %(amount)s has more than %(places)s decimal "
                            "places, more than %(currency)s has.", amount=str(value),
                            places=places, currency=wanted)
    return (value if value > 0 else None), wanted


def _merchant(session: Session, actor: Actor, wanted: int | None) -> Merchant:
    if actor.merchant_id is not None:
        if wanted not in (None, actor.merchant_id):
            raise ParcelRefused("You can register parcels only for your own store.")
        wanted = actor.merchant_id
    if wanted is None:
        raise ParcelRefused("Choose the store the parcel is for.")
    merchant = session.get(Merchant, wanted)
    if merchant is None or not merchant.active:
        raise ParcelRefused("The store %(id)s is not an active store.", id=wanted)
    return merchant


def _locker(session: Session, locker_id: int) -> Locker:
    locker = session.get(Locker, locker_id)
    if locker is None:
        raise LockerUnavailable("There is no parcel locker %(id)s.", id=locker_id)
    if not locker.active:
        raise LockerUnavailable("The parcel locker %(locker)s is not in service; choose another "
                                "locker.", locker=str(locker))
    return locker


def _size(value: str | CellSize | None) -> CellSize:
    try:
        return CellSize(str(value or "").strip().lower())
    except ValueError:
        raise ParcelRefused("Choose the parcel's size: %(sizes)s.",
                            sizes=", ".join(s.value.upper() for s in CellSize)) from None


def _drop(mode: str, day: date | None, today: date) -> tuple[DropMode, date]:
    try:
        drop_mode = DropMode(mode)
    except ValueError:
        raise ParcelRefused("Choose how the parcel reaches the locker: a courier picks it up "
                            "or the store drops it itself.") from None
    day = day or today
    if day < today:
        raise ParcelRefused("The drop-off date %(date)s is in the past; choose today or a later "
                            "day.", date=day.isoformat())
    return drop_mode, day


# --- barcodes -----------------------------------------------------------------------------


def check_digit(digits: str) -> str:
    """The GS1 mod-10 check digit (weights 3 and 1 from the right), as in EAN and SSCC."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str((10 - total % 10) % 10)


def valid_barcode(barcode: str) -> bool:
    digits = barcode[len(BARCODE_PREFIX):]
    return (barcode.startswith(BARCODE_PREFIX) and digits.isascii() and digits.isdigit()
            and len(digits) == BARCODE_DIGITS + 1 and check_digit(digits[:-1]) == digits[-1])


def new_barcode(session: Session) -> str:
    """A barcode no parcel of any merchant has (read past the scoping, as a Core query)."""
    parcels = Parcel.__table__
    for _ in range(20):
        digits = "".join(secrets.choice("0123456789") for _ in range(BARCODE_DIGITS))
        barcode = BARCODE_PREFIX + digits + check_digit(digits)
        taken = session.execute(select(parcels.c.id).where(parcels.c.barcode == barcode))
        if taken.first() is None:
            return barcode
    raise RuntimeError("could not find a free barcode")  # pragma: no cover


# --- lockers with space -------------------------------------------------------------------


def free_cells_by_size(session: Session, locker_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """Free cells per locker and size (every size present, 0 when none is free)."""
    ids = list(locker_ids)
    counts: dict[int, dict[str, int]] = {i: {s.value: 0 for s in CellSize} for i in ids}
    if not ids:
        return counts
    rows = session.execute(
        select(LockerCell.locker_id, LockerCell.size, func.count())
        .where(LockerCell.locker_id.in_(ids), LockerCell.state == CellState.FREE)
        .group_by(LockerCell.locker_id, LockerCell.size))
    for locker_id, size, count in rows:
        counts[locker_id][CellSize(size).value] = int(count)
    return counts


def same_city(a: str | None, b: str | None) -> bool:
    """Whether two city names are the same, in any case and script (compared in Python:
    SQLite's ``lower()`` folds ASCII letters only)."""
    return bool(a and b and a.strip().casefold() == b.strip().casefold())


def _distance_km(a: Locker, b: Locker) -> float | None:
    if None in (a.latitude, a.longitude, b.latitude, b.longitude):
        return None
    lat1, lon1, lat2, lon2 = map(math.radians, (a.latitude, a.longitude, b.latitude,
                                                b.longitude))
    h = (math.sin((lat2 - lat1) / 2) ** 2
         + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2)
    return 6371.0 * 2 * math.asin(math.sqrt(h))


def nearest_with_space(session: Session, locker: Locker, size: CellSize) -> Locker | None:
    """The nearest other active locker of the same city with a free cell that fits."""
    if not (locker.city or "").strip():
        return None
    with_space = (select(LockerCell.locker_id)
                  .where(LockerCell.state == CellState.FREE,
                         LockerCell.size.in_(fitting_sizes(size))))
    candidates = [other for other in session.scalars(
        select(Locker).where(Locker.active.is_(True), Locker.id != locker.id,
                             Locker.city.is_not(None), Locker.id.in_(with_space)))
        if same_city(other.city, locker.city)]

    def rank(other: Locker) -> tuple[int, float, str]:
        km = _distance_km(locker, other)
        return (0, km, other.code) if km is not None else (1, 0.0, other.code)

    return min(candidates, key=rank, default=None)


def _no_cell(session: Session, locker: Locker, size: CellSize) -> NoFreeCell:
    label = size.value.upper()
    if not yes_setting(session, "locker_offer_nearest"):
        return NoFreeCell("The parcel locker %(locker)s has no free cell for a parcel of size "
                          "%(size)s. Choose another locker or register it later.",
                          locker=str(locker), size=label)
    other = nearest_with_space(session, locker, size)
    if other is None:
        return NoFreeCell("The parcel locker %(locker)s has no free cell for a parcel of size "
                          "%(size)s, and no other locker in its city has one now.",
                          locker=str(locker), size=label)
    return NoFreeCell("The parcel locker %(locker)s has no free cell for a parcel of size "
                      "%(size)s. The nearest locker with space is %(other)s, %(address)s: "
                      "register the parcel there.", locker=str(locker), size=label,
                      other=str(other), address=other.address or other.city or "")


# --- registration -------------------------------------------------------------------------


def _held_from(now: datetime, drop_date: date | None) -> datetime:
    """When the reservation's hours start counting: now, or the drop-off day if it is later."""
    if drop_date is None:
        return now
    return max(now, datetime.combine(drop_date, time.min, tzinfo=UTC))


def register_parcel(session: Session, actor: Actor, parcel_input: ParcelInput, *,
                    now: datetime | None = None, language: str = "en") -> Parcel:
    """Register the parcel with a reserved cell (see the module's docstring)."""
    now = now or utcnow()
    with acting_as(actor):
        return _register(session, actor, parcel_input, now, language)


def _register(session: Session, actor: Actor, data: ParcelInput, now: datetime,
              language: str) -> Parcel:
    merchant = _merchant(session, actor, data.merchant_id)
    locker = _locker(session, data.locker_id)
    size = _size(data.size)
    name = (data.recipient_name or "").strip()
    if not name:
        raise ParcelRefused("Enter the recipient's name.")
    phone = normalized_phone(data.recipient_phone)
    if data.recipient_language not in LANGUAGES:
        raise ParcelRefused("The recipient's language must be one of %(languages)s.",
                            languages=", ".join(LANGUAGES))
    declared, currency = _amount(session, merchant, data.declared_price, data.currency)
    drop_mode, drop_date = _drop(data.drop_mode, data.drop_date, now.date())
    if data.courier_id is not None:
        if actor.merchant_id is not None:
            raise ParcelRefused("The platform's staff assign couriers; leave the courier empty.")
        courier = session.get(Courier, data.courier_id)
        if courier is None or not courier.active:
            raise ParcelRefused("The courier %(id)s is not an active courier.",
                                id=data.courier_id)
    if data.weight_g is not None and not 0 < data.weight_g <= 2**31 - 1:
        raise ParcelRefused("The weight must be a positive number of grams.")

    cell = reserve_cell(session, locker.id, size)
    if cell is None:
        raise _no_cell(session, locker, size)
    parcel = Parcel(
        merchant_id=merchant.id, barcode=new_barcode(session), order_id=data.order_id,
        locker_id=locker.id, cell_id=cell.id, size=size, status="created",
        declared_price=declared, currency=currency, recipient_name=name[:200],
        recipient_phone=phone, recipient_language=data.recipient_language,
        drop_mode=drop_mode, drop_date=drop_date, courier_id=data.courier_id,
        weight_g=data.weight_g,
        reserved_until=_held_from(now, drop_date) + timedelta(hours=int_setting(
            session, "locker_reservation_hours", RESERVATION_HOURS)),
    )
    session.add(parcel)
    session.flush()
    change_status(session, actor, table="parcels", record_id=parcel.id, field="status",
                  to_state="registered", expected_state="created", language=language)
    if drop_mode is DropMode.COURIER_PICKUP:
        change_status(session, actor, table="parcels", record_id=parcel.id, field="status",
                      to_state="pickup_requested", expected_state="registered",
                      effective_date=drop_date, language=language)
    emit(session, parcel, ParcelEventKind.REGISTERED, at=now)
    emit(session, parcel, ParcelEventKind.RESERVED, at=now)
    return parcel


# --- reading ------------------------------------------------------------------------------


def parcel_for_barcode(session: Session, barcode: str) -> Parcel:
    """The parcel with this barcode that the acting person may see (the query is scoped)."""
    text = (barcode or "").strip().upper()
    parcel = session.scalar(select(Parcel).where(Parcel.barcode == text)) if text else None
    if parcel is None:
        raise ParcelNotFound("No parcel of yours has the barcode %(barcode)s.", barcode=text)
    return parcel


# --- stale reservations -------------------------------------------------------------------


def release_stale_reservations(session: Session, now: datetime | None = None) -> int:
    """Free the cells of waiting parcels whose reservation has lapsed; how many were freed."""
    now = now or utcnow()
    query = (select(Parcel)
             .where(Parcel.status.in_(WAITING), Parcel.cell_id.is_not(None),
                    Parcel.reserved_until.is_not(None), Parcel.reserved_until < now)
             .order_by(Parcel.id)
             .execution_options(populate_existing=True))
    if session.get_bind().dialect.name == "postgresql":
        # A parcel a terminal is placing now is locked by it: leave it for the next run.
        query = query.with_for_update(skip_locked=True, of=Parcel)
    released = 0
    for parcel in session.scalars(query).all():
        free_cell(session, parcel)  # the cell goes back to FREE; the parcel lets go of it
        parcel.reserved_until = None
        emit(session, parcel, ParcelEventKind.RELEASED, at=now)
        released += 1
    session.flush()
    return released
