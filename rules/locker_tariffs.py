"""Locker tariffs and the merchant charges that follow a parcel's events (R-RULE-8, issue 13).

Pure: frozen dataclasses in, frozen dataclasses out; nothing here reads a database. The
service ``services.locker_charges`` maps the rows to these dataclasses and posts the result
through ``services.ledger.post``.

The tariff (``choose_tariff``)
    Tariffs are rows of (zone, cell size or none). For a parcel the row of its locker's zone
    and its *cell's* size applies (a small parcel in a medium cell pays the medium price);
    else the zone's row with no size (every size); else there is none (``None``: the service
    refuses the registration, "no tariff for zone …"). A locker without a zone has no tariff.

The charges of each event (``charges_for``), amounts signed (+ credits the merchant):
    ``registered``  CHARGE −(pickup_price + delivery_price + storage_price) for a courier
                    pickup; CHARGE −storage_price for a store's self-drop. (The service posts
                    it with the floor −credit_limit: refused when not covered.)
    ``released``    CHARGE −unused_price: the reservation lapsed unused; the registration
                    charge stands.
    ``paid``        CASH_COLLECTED +amount (the buyer's money, held for the merchant) and
                    FEE −(amount × percent / 100), rounded half-up to the currency's minor unit
                    (``decimals``); percent = the merchant's contract percent when above 0,
                    else the shop's setting (``fee_percent``).
    ``picked_up``,  CHARGE −extra_day_price × the whole days started after ``stored_until``
    ``returned``    (``extra_days``: 0 on time or without a deadline; 1 second late is 1 day,
                    24 h + 1 s is 2).
    any other       nothing.
    A zero amount is not a charge: no entry is returned for it (a parcel picked up on time, a
    tariff whose unused price is 0).

Worked examples (``tests/test_locker_tariffs.py``): a courier pickup at 3.00 + 4.00 + 2.00 is
CHARGE −9.00, a self-drop −2.00; 1.5 % of 33.35 = 0.50025 → FEE −0.50, of 33.70 = 0.5055 →
−0.51, of 31.00 = 0.465 → −0.47 (half-up, not half-even).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

COURIER_PICKUP, SELF_DROP = "courier_pickup", "self_drop"
# The ledger kinds (schema.lockers.LedgerKind values) a charge is posted as.
CHARGE, CASH_COLLECTED, FEE = "charge", "cash_collected", "fee"
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Tariff:
    """A locker tariff row (``schema.lockers.LockerTariff``); ``size`` None = every size."""

    zone_id: int
    size: str | None
    pickup_price: Decimal
    delivery_price: Decimal
    storage_price: Decimal  # the free storage days' price (storage_price_3_days)
    storage_days: int
    unused_price: Decimal
    extra_day_price: Decimal
    currency: str
    id: int | None = None


@dataclass(frozen=True)
class EventFacts:
    """What the charges of one parcel event depend on."""

    kind: str  # schema.lockers.ParcelEventKind value
    drop_mode: str = COURIER_PICKUP
    amount: Decimal | None = None  # paid: the money the terminal took
    currency: str | None = None
    stored_until: datetime | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class Charge:
    kind: str  # CHARGE, CASH_COLLECTED or FEE
    amount: Decimal  # signed: + credits the merchant
    currency: str
    days: int = 0  # extra storage days, for the description


def choose_tariff(tariffs: Sequence[Tariff], zone_id: int | None,
                  size: str | None) -> Tariff | None:
    """The zone's row for the cell size, else the zone's row without a size, else None."""
    if zone_id is None:
        return None
    of_zone = [t for t in tariffs if t.zone_id == zone_id]
    exact = next((t for t in of_zone if size is not None and t.size == size), None)
    return exact or next((t for t in of_zone if t.size is None), None)


def registration_price(tariff: Tariff, drop_mode: str) -> Decimal:
    """Courier pickup: pickup + delivery + storage; self-drop: storage only."""
    if drop_mode == SELF_DROP:
        return tariff.storage_price
    return tariff.pickup_price + tariff.delivery_price + tariff.storage_price


def fee_percent(contract_percent: Decimal | None, setting_percent: Decimal) -> Decimal:
    """The merchant's contract percent when above 0, else the shop's setting."""
    if contract_percent is not None and contract_percent > 0:
        return contract_percent
    return setting_percent


def cash_fee(amount: Decimal, percent: Decimal, decimals: int) -> Decimal:
    """amount × percent / 100, rounded half-up to ``decimals`` places (a positive number)."""
    return (amount * percent / 100).quantize(Decimal(1).scaleb(-decimals),
                                              rounding=ROUND_HALF_UP)


def extra_days(stored_until: datetime | None, at: datetime | None) -> int:
    """The whole days started after the deadline: 0 on time, 1 for 1 s late, 2 for 24 h 1 s."""
    if stored_until is None or at is None or at <= stored_until:
        return 0
    late = at - stored_until
    whole = late // DAY
    return whole + (1 if late - whole * DAY > timedelta(0) else 0)


def charges_for(event: EventFacts, tariff: Tariff | None, percent: Decimal,
                decimals: int) -> list[Charge]:
    """The ledger movements an event causes (see the module's docstring); zero ones left out.

    ``tariff`` may be None only for events that need none (``paid``); for the others no tariff
    means no charge (the service refuses a registration without one before calling this)."""
    charges: list[Charge] = []
    if event.kind == "paid":
        if event.amount is None or event.amount <= 0:
            return []
        currency = event.currency or (tariff.currency if tariff else "")
        charges.append(Charge(CASH_COLLECTED, event.amount, currency))
        charges.append(Charge(FEE, -cash_fee(event.amount, percent, decimals), currency))
    elif tariff is None:
        return []
    elif event.kind == "registered":
        charges.append(Charge(CHARGE, -registration_price(tariff, event.drop_mode),
                              tariff.currency))
    elif event.kind == "released":
        charges.append(Charge(CHARGE, -tariff.unused_price, tariff.currency))
    elif event.kind in ("picked_up", "returned"):
        days = extra_days(event.stored_until, event.at)
        charges.append(Charge(CHARGE, -(tariff.extra_day_price * days), tariff.currency, days))
    return [c for c in charges if c.amount != 0]
