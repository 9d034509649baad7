"""Cash collection from parcel lockers (R-LOCK-7): which lockers to empty, and the act.

The cash in a locker. A buyer paying cash at the terminal leaves ``ParcelPayment.tendered`` in
the cash box: the change is not paid out but credited to the buyer's phone (``PhoneCredit``,
``services.terminal.pay``), so the box holds the whole sum tendered. Card payments leave no cash
and are never counted here. The cash of a locker *since the last collection* is, per currency,
the sum of ``tendered`` of its cash payments whose time ``at`` is after the latest
``CashCollection.collected_at`` of that locker in that currency (all of them when there is
none) and not after the moment asked about. Amounts are exact Decimals per currency; currencies
are never added together.

``cash_in_lockers(session, now)`` answers that per locker and currency (only where there is
cash): the amount expected in the box, the number of payments, since when (the last
collection, or None with the first payment's time), and whether it is **due**: the amount is at
or above the setting ``locker_collection_threshold`` (a plain amount, read in each currency's own
units; default 500), or the cash has waited longer than ``locker_collection_days`` (default 7)
— counted from the last collection, or from the first payment when the locker was never
collected. ``due_lockers`` is the due part, fullest first.

``record_collection(session, actor, locker_id, counted, note, currency=None)`` writes the act in
the caller's transaction (one step; the caller commits): it locks the locker's row (``SELECT …
FOR UPDATE``), recomputes the expected amount inside that lock, and writes
``CashCollection(since = the previous collection's time or None, collected_at = now,
expected_amount, amount = counted, difference = counted − expected, note, collector = the
actor)``. Because the window starts at the latest collection, a second act for the same
payments — a double submit, or two collectors at once, the second waiting on the lock — finds no
payment left and is refused, nothing written; on SQLite, which has no row lock, an act that
finds another act written since its read refuses itself after its INSERT (the caller rolls
back). Also refused, nothing written: no cash payment since the last collection; a counted
amount that is not a number, negative, or with more decimals than the currency has; a
difference without a note (blank counts as none); a locker holding several currencies when
``currency`` does not say which (one act per currency); an unknown locker. ``act_payments``
lists the cash payments an act covers (``since`` < at ≤ ``collected_at``), for the printed act.

No payment falls between two acts: the terminal's ``pay`` (``services.terminal``) locks the same
locker row and only then takes the payment's time, and an act takes ``collected_at`` inside its
lock. A payment in flight while an act is recorded is therefore either committed before the act
reads (and counted in it) or dated after ``collected_at`` (and counted in the next one). SQLite
has no row locks (``FOR UPDATE`` is ignored; writers are serialised, reads are not): there a
payment dated in the few milliseconds before an act commits but written after it would fall
between the two acts. Production runs PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from sqlalchemy import and_, func, or_, select, type_coerce
from sqlalchemy.orm import Session

from locales import parse_amount
from schema.base import Money, utcnow
from schema.lockers import CashCollection, Locker, Parcel, ParcelPayment, PaymentMethodAtLocker
from services.actor import Actor
from services.errors import Refused
from services.shop_settings import currency_places, setting

THRESHOLD_SETTING = "locker_collection_threshold"
DAYS_SETTING = "locker_collection_days"
DEFAULT_THRESHOLD = Decimal("500")
DEFAULT_DAYS = 7
# Bounds a counted amount must stay within (Money is BIGINT of 1/10000).
MAX_AMOUNT = Decimal("100000000000")


class CollectionRefused(Refused):
    """The act was not recorded; nothing was written."""


@dataclass(frozen=True)
class LockerCash:
    """A locker's cash in one currency since its last collection."""

    locker_id: int
    locker_code: str
    locker_name: str
    address: str
    currency: str
    expected: Decimal
    payments: int
    since: datetime | None          # the last collection; None: never collected
    first_payment_at: datetime
    due: bool


@dataclass(frozen=True)
class ActPayment:
    at: datetime
    barcode: str
    amount: Decimal      # due for the parcel
    tendered: Decimal    # the cash left in the box
    change: Decimal      # credited to the buyer's phone


def _sum(expression: object) -> object:
    # SUM of Money read back as an exact Decimal (reports.queries.common.money_sum).
    return type_coerce(func.coalesce(func.sum(expression), 0), Money())


def _threshold(session: Session) -> Decimal:
    try:
        value = Decimal(setting(session, THRESHOLD_SETTING, str(DEFAULT_THRESHOLD)))
    except InvalidOperation:
        return DEFAULT_THRESHOLD
    return value if value.is_finite() and value >= 0 else DEFAULT_THRESHOLD


def _days(session: Session) -> int:
    try:
        value = int(setting(session, DAYS_SETTING, str(DEFAULT_DAYS)))
    except ValueError:
        return DEFAULT_DAYS
    return value if value >= 0 else DEFAULT_DAYS


def _last_collections() -> object:
    return (select(CashCollection.locker_id, CashCollection.currency,
                   func.max(CashCollection.collected_at).label("last_at"))
            .group_by(CashCollection.locker_id, CashCollection.currency).subquery())


def cash_in_lockers(session: Session, now: datetime | None = None) -> list[LockerCash]:
    """Every locker's cash since its last collection, per currency (see the module doc)."""
    now = now or utcnow()
    last = _last_collections()
    pp = ParcelPayment
    rows = session.execute(
        select(pp.locker_id, pp.currency, func.count(pp.id), _sum(pp.tendered), func.min(pp.at),
               last.c.last_at)  # type: ignore[attr-defined]
        .outerjoin(last, and_(last.c.locker_id == pp.locker_id,  # type: ignore[attr-defined]
                              last.c.currency == pp.currency))  # type: ignore[attr-defined]
        .where(pp.method == PaymentMethodAtLocker.CASH, pp.at <= now,
               or_(last.c.last_at.is_(None), pp.at > last.c.last_at))  # type: ignore[attr-defined]
        .group_by(pp.locker_id, pp.currency, last.c.last_at)  # type: ignore[attr-defined]
    ).all()
    if not rows:
        return []
    lockers = {locker.id: locker for locker in session.scalars(
        select(Locker).where(Locker.id.in_({row[0] for row in rows})))}
    threshold, days = _threshold(session), _days(session)
    found = []
    for locker_id, currency, count, total, first_at, last_at in rows:
        locker = lockers[locker_id]
        waiting_since = last_at or first_at
        expected = _in_places(session, Decimal(total), currency)
        found.append(LockerCash(
            locker_id=locker_id, locker_code=locker.code, locker_name=locker.name,
            address=", ".join(p for p in (locker.address, locker.city) if p),
            currency=currency, expected=expected, payments=int(count), since=last_at,
            first_payment_at=first_at,
            due=expected >= threshold or now - waiting_since > timedelta(days=days)))
    found.sort(key=lambda c: (not c.due, -c.expected, c.locker_code, c.currency))
    return found


def due_lockers(session: Session, now: datetime | None = None) -> list[LockerCash]:
    """The lockers (per currency) a collector should empty now, fullest first."""
    return [cash for cash in cash_in_lockers(session, now) if cash.due]


def parse_counted(raw: str | Decimal | None) -> Decimal:
    """The counted amount as typed (``1500.50``, any script's digits, a comma for the point)."""
    if isinstance(raw, Decimal):
        return raw
    try:
        counted = parse_amount(raw)
    except ValueError:
        raise CollectionRefused("The counted amount %(amount)s is not a number; write it like "
                                "1500.50.", amount=(raw or "").strip()) from None
    if counted is None:
        raise CollectionRefused("Enter the amount you counted in the cash box.")
    return counted


def _in_places(session: Session, amount: Decimal, currency: str) -> Decimal:
    # Exact: Money holds 1/10000 and a terminal's amounts have the currency's places, so this
    # only drops trailing zeros (540.5000 -> 540.50) for the page and the messages.
    return amount.quantize(Decimal(1).scaleb(-currency_places(session, currency)))


def _check_counted(session: Session, counted: Decimal, currency: str) -> None:
    if not counted.is_finite() or counted < 0:
        raise CollectionRefused("The counted amount cannot be negative.")
    if counted > MAX_AMOUNT:
        raise CollectionRefused("The counted amount %(amount)s is too large.",
                                amount=str(counted))
    places = currency_places(session, currency)
    exponent = counted.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -places:
        raise CollectionRefused("The counted amount %(amount)s has more than %(places)s decimal "
                                "places, more than %(currency)s has.", amount=str(counted),
                                places=places, currency=currency)


def _window(locker_id: int, currency: str, since: datetime | None, until: datetime) -> list:
    conditions = [ParcelPayment.locker_id == locker_id, ParcelPayment.currency == currency,
                  ParcelPayment.method == PaymentMethodAtLocker.CASH, ParcelPayment.at <= until]
    if since is not None:
        conditions.append(ParcelPayment.at > since)
    return conditions


def record_collection(session: Session, actor: Actor, locker_id: int,
                      counted: Decimal | str | None, note: str | None = None,
                      currency: str | None = None, now: datetime | None = None) -> CashCollection:
    """Record the act of emptying a locker's cash box (see the module doc)."""
    if actor.user_id is None:
        raise CollectionRefused("Only a signed-in person can record a cash collection.")
    amount = parse_counted(counted)
    note = (note or "").strip() or None
    # The lock serialises acts on one locker: the second waits, then sees the first's act.
    locker = session.scalar(select(Locker).where(Locker.id == locker_id).with_for_update())
    if locker is None:
        raise CollectionRefused("The parcel locker was not found.")
    # Taken inside the lock, as the terminal's ``pay`` takes its time: see the module doc.
    now = now or utcnow()
    last_by_currency = dict(session.execute(
        select(CashCollection.currency, func.max(CashCollection.collected_at))
        .where(CashCollection.locker_id == locker_id)
        .group_by(CashCollection.currency)).all())
    # Currencies with cash since their own last collection.
    holding = {}
    for code in session.scalars(select(ParcelPayment.currency).distinct().where(
            ParcelPayment.locker_id == locker_id,
            ParcelPayment.method == PaymentMethodAtLocker.CASH)):
        since = last_by_currency.get(code)
        count, total = session.execute(
            select(func.count(ParcelPayment.id), _sum(ParcelPayment.tendered))
            .where(*_window(locker_id, code, since, now))).one()
        if count:
            holding[code] = (since, _in_places(session, Decimal(total), code))
    wanted = (currency or "").strip().upper() or None
    if wanted is None:
        if len(holding) > 1:
            raise CollectionRefused(
                "Locker %(locker)s holds cash in %(currencies)s: record one act per currency.",
                locker=locker.code, currencies=", ".join(sorted(holding)))
        wanted = next(iter(holding), None)
    if wanted is None or wanted not in holding:
        last = last_by_currency.get(wanted) if wanted else max(last_by_currency.values(),
                                                               default=None)
        if last is not None:
            raise CollectionRefused(
                "No cash was taken at locker %(locker)s since its last collection "
                "(%(at)s UTC): there is nothing to collect.",
                locker=locker.code, at=last.strftime("%Y-%m-%d %H:%M"))
        raise CollectionRefused("No cash was taken at locker %(locker)s: there is nothing to "
                                "collect.", locker=locker.code)
    since, expected = holding[wanted]
    _check_counted(session, amount, wanted)
    difference = amount - expected
    if difference != 0 and note is None:
        raise CollectionRefused(
            "The counted amount differs from the expected %(expected)s by %(difference)s: "
            "write a note that explains the difference.",
            expected=f"{format(expected, 'f')} {wanted}",
            difference=f"{format(difference, 'f')} {wanted}")
    act = CashCollection(locker_id=locker.id, collector_id=actor.user_id, collected_at=now,
                         since=since, expected_amount=expected, amount=amount,
                         difference=difference, currency=wanted, note=note)
    session.add(act)
    session.flush()
    # SQLite ignores FOR UPDATE and reads outside the write lock: an act another collector
    # wrote since our read means the same cash twice. After our INSERT we hold the write lock,
    # so such an act is visible now; the caller rolls ours back. (Redundant on PostgreSQL.)
    rival = select(func.count(CashCollection.id)).where(
        CashCollection.locker_id == locker.id, CashCollection.currency == wanted,
        CashCollection.id != act.id)
    if since is not None:
        rival = rival.where(CashCollection.collected_at > since)
    if session.scalar(rival):
        raise CollectionRefused("Another collection of locker %(locker)s was recorded at the "
                                "same time: there is nothing left to collect.",
                                locker=locker.code)
    return act


def act_payments(session: Session, act: CashCollection) -> list[ActPayment]:
    """The cash payments an act covers, oldest first: the act's window, recomputed."""
    rows = session.execute(
        select(ParcelPayment.at, Parcel.barcode, ParcelPayment.amount, ParcelPayment.tendered,
               ParcelPayment.change)
        .join(Parcel, Parcel.id == ParcelPayment.parcel_id)
        .where(*_window(act.locker_id, act.currency, act.since, act.collected_at))
        .order_by(ParcelPayment.at, ParcelPayment.id)).all()
    return [ActPayment(at, barcode, amount, tendered, change)
            for at, barcode, amount, tendered, change in rows]
