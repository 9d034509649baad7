"""Test helpers for issue 13's money: a tariff for a zone and a top-up for a merchant.

Registering a parcel charges the merchant (``services.locker_charges``), so a test that
registers gives its lockers' zones a tariff and its merchant a prepaid balance first.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from schema.lockers import CellSize, LedgerKind, Locker, LockerTariff
from schema.people import Merchant
from services import ledger

PRICES = {"pickup_price": Decimal("3.00"), "delivery_price": Decimal("4.00"),
          "storage_price_3_days": Decimal("2.00"), "unused_price": Decimal("1.50"),
          "extra_day_price": Decimal("0.70")}


def set_tariff(session: Session, zone_id: int, size: CellSize | None = None, *,
               currency: str = "BYN", storage_days: int = 3,
               **prices: Decimal) -> LockerTariff:
    """The zone's row for ``size`` (None: every size) at these prices, added or overwritten."""
    row = session.scalar(select(LockerTariff).where(
        LockerTariff.zone_id == zone_id,
        LockerTariff.size.is_(None) if size is None else LockerTariff.size == size))
    if row is None:
        row = LockerTariff(zone_id=zone_id, size=size)
        session.add(row)
    for key, value in {**PRICES, **prices}.items():
        setattr(row, key, value)
    row.currency, row.storage_days = currency, storage_days
    session.flush()
    return row


def ensure_tariff(session: Session, zone_id: int, currency: str = "BYN") -> None:
    """A zone-wide row for the zone if it has none (prices of other tests' rows stay)."""
    if session.scalar(select(LockerTariff.id).where(LockerTariff.zone_id == zone_id,
                                                    LockerTariff.size.is_(None))) is None:
        set_tariff(session, zone_id, currency=currency)


def top_up(session: Session, merchant_id: int, amount: Decimal | str = "1000.00") -> None:
    session.flush()
    merchant = session.get(Merchant, merchant_id)
    assert merchant is not None
    ledger.post(session, merchant_id, LedgerKind.DEPOSIT, Decimal(amount), merchant.currency,
                description="test top-up")


def fund(session: Session, merchant_ids: Iterable[int], lockers: Iterable[Locker],
         amount: Decimal | str = "1000.00") -> None:
    """Tariffs for the lockers' zones and a top-up for each merchant."""
    session.flush()
    for locker in lockers:
        if locker.zone_id is not None:
            ensure_tariff(session, locker.zone_id)
    for merchant_id in merchant_ids:
        top_up(session, merchant_id, amount)
