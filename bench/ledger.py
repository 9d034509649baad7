"""Merchant money at scale (issue 13): charging parcel events and the weekly payouts:
``python -m bench.ledger [--db postgresql://…] [--events 100000] [--merchants 1000]``.

Builds, in the database given (a fresh SQLite file without ``--db``; the issue's figures are on
PostgreSQL), a tariff zone with a locker and a tariff, ``--merchants`` BYN merchants whose payout
day is today (half of them prepaid with a deposit that covers everything, half with no deposit
and a credit limit, so their charges are kept back from the cash as uncovered), and parcels with
their events — registered, paid (cash at the terminal), picked up (every fifth one two days late)
— dated over the last six days, ``--events`` events in all (bulk inserts: not timed).

Then it times, as the issue asks:

1. **charging**: every event through ``services.locker_charges.charge_event`` (the function
   ``services.parcel_events.emit`` calls), a transaction per 1,000 events;
2. **payouts**: ``services.payouts.create_due_payouts`` for the run's merchants (the worker's
   job: one query set to find the due periods, then a transaction per merchant).

and checks the outcome: every merchant's balance equals its ledger's sum, one payout each, and
each payout's figures follow the formula against totals recomputed here in Python. Running the
payouts again must create nothing. Target: payouts for 1,000 merchants under 10 s.
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

BATCH = 1000
SECRET_KEY = "bench-ledger-secret-key-0123456789abcdef"


def build(url: str, events: int, merchants: int) -> tuple[list[int], str]:
    """The run's merchant ids and its tag (in barcodes and tax ids)."""
    from sqlalchemy import insert, select

    from postdesk.db import make_engine, make_session_factory
    from postdesk.migrate import upgrade_head
    from schema.base import configure_encryption
    from schema.lockers import (
        CellSize,
        DropMode,
        LedgerKind,
        Locker,
        LockerTariff,
        Parcel,
        ParcelEvent,
        ParcelEventKind,
        Zone,
    )
    from schema.people import Merchant
    from seed.loader import load_seed_data
    from services import ledger

    configure_encryption(SECRET_KEY)
    upgrade_head(url)
    factory = make_session_factory(make_engine(url))
    tag = secrets.token_hex(3).upper()  # a database may be reused: codes stay unique
    today = datetime.now(UTC).date()
    week_start = datetime.combine(today - timedelta(days=6), datetime.min.time(), tzinfo=UTC)
    with factory() as s:
        load_seed_data(s)
        s.commit()
    with factory() as s, s.begin():
        zone = s.scalar(select(Zone).where(Zone.number == 10))
        if zone is None:
            zone = Zone(number=10, code="Z10", name="Zone 10")
            s.add(zone)
            s.flush()
        if s.scalar(select(LockerTariff.id).where(LockerTariff.zone_id == zone.id,
                                                  LockerTariff.size.is_(None))) is None:
            s.add(LockerTariff(zone_id=zone.id, size=None, pickup_price=Decimal("2.00"),
                               delivery_price=Decimal("3.50"),
                               storage_price_3_days=Decimal("1.20"), storage_days=3,
                               unused_price=Decimal("0.80"), extra_day_price=Decimal("0.45"),
                               currency="BYN"))
        locker = Locker(code=f"BL{tag}", name=f"Bench locker {tag}", zone_id=zone.id)
        s.add(locker)
        s.flush()
        locker_id = locker.id
        s.execute(insert(Merchant), [
            {"name": f"Bench store {tag}-{n}", "tax_id": f"BL{tag}{n:05d}", "currency": "BYN",
             "payout_weekday": today.isoweekday(), "cash_fee_percent": Decimal(0),
             "credit_limit": Decimal(0) if n % 2 == 0 else Decimal(10_000_000),
             "bank_account": f"BY00BENCH{n:020d}", "active": True}
            for n in range(merchants)])
        ids = list(s.scalars(select(Merchant.id).where(Merchant.tax_id.like(f"BL{tag}%"))
                             .order_by(Merchant.id)))
        for n, merchant_id in enumerate(ids):
            if n % 2 == 0:  # prepaid: the deposit covers every charge
                ledger.post(s, merchant_id, LedgerKind.DEPOSIT, Decimal(100_000), "BYN",
                            at=week_start, reference=f"BL{tag}-{n}", description="top-up")
    parcels = (events + 2) // 3
    # Registered within the first three days of the week, paid and picked up two days later:
    # every event lies in the period (the week up to yesterday). Every fifth parcel's storage
    # ended a day after registration: its pickup is a day late (one extra day charged).
    def registered_at(i: int) -> datetime:
        return week_start + timedelta(minutes=i % 4000)

    with factory() as s, s.begin():
        for first in range(0, parcels, 5000):
            s.execute(insert(Parcel), [
                {"merchant_id": ids[i % len(ids)], "barcode": f"BL{tag}{i:08d}",
                 "locker_id": locker_id, "size": CellSize.M, "status": "picked_up",
                 "paid": True, "currency": "BYN", "recipient_language": "en",
                 "drop_mode": DropMode.COURIER_PICKUP if i % 2 else DropMode.SELF_DROP,
                 "stored_until": registered_at(i) + timedelta(days=1 if i % 5 == 0 else 3)}
                for i in range(first, min(first + 5000, parcels))])
        found = dict(s.execute(select(Parcel.barcode, Parcel.id).where(
            Parcel.barcode.like(f"BL{tag}%"))).all())
        rows: list[dict[str, Any]] = []
        for i in range(parcels):
            parcel_id, merchant_id = found[f"BL{tag}{i:08d}"], ids[i % len(ids)]
            at = registered_at(i)
            for kind, when, amount in (
                    (ParcelEventKind.REGISTERED, at, None),
                    (ParcelEventKind.PAID, at + timedelta(days=2),
                     Decimal(10 + i % 90) + Decimal("0.37")),
                    (ParcelEventKind.PICKED_UP, at + timedelta(days=2, minutes=1), None)):
                if len(rows) < events:
                    rows.append({"parcel_id": parcel_id, "merchant_id": merchant_id,
                                 "kind": kind, "locker_id": locker_id,
                                 "cell_size": CellSize.M, "amount": amount,
                                 "currency": "BYN" if amount is not None else None,
                                 "at": when})
        for first in range(0, len(rows), 5000):
            s.execute(insert(ParcelEvent), rows[first:first + 5000])
    return ids, tag


def charge_all(url: str, tag: str) -> int:
    """Every event of the run through ``charge_event``; a transaction per ``BATCH``."""
    from sqlalchemy import select

    from postdesk.db import make_engine, make_session_factory
    from schema.lockers import Parcel, ParcelEvent
    from services.locker_charges import charge_event

    factory = make_session_factory(make_engine(url))
    with factory() as s:
        ids = list(s.scalars(select(ParcelEvent.id).join(Parcel, Parcel.id ==
                                                        ParcelEvent.parcel_id)
                             .where(Parcel.barcode.like(f"BL{tag}%"))
                             .order_by(ParcelEvent.at, ParcelEvent.id)))
    for first in range(0, len(ids), BATCH):
        with factory() as s, s.begin():
            for event in s.scalars(select(ParcelEvent).where(
                    ParcelEvent.id.in_(ids[first:first + BATCH])).order_by(
                    ParcelEvent.at, ParcelEvent.id)):
                charge_event(s, event)
    return len(ids)


def check(url: str, ids: list[int]) -> dict[str, Any]:
    """Balances against the ledger, one payout per merchant, the formula per payout."""
    from sqlalchemy import func, select

    from postdesk.db import make_engine, make_session_factory
    from schema.lockers import LedgerEntry, LedgerKind, Payout
    from schema.people import Merchant
    from services.payouts import period_window

    factory = make_session_factory(make_engine(url))
    with factory() as s:
        balances = dict(s.execute(select(Merchant.id, Merchant.balance)
                                  .where(Merchant.id.in_(ids))).all())
        sums: dict[int, Decimal] = defaultdict(Decimal)
        by_kind: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
        payouts = {p.merchant_id: p for p in s.scalars(
            select(Payout).where(Payout.merchant_id.in_(ids)))}
        counts = dict(s.execute(select(Payout.merchant_id, func.count())
                                .where(Payout.merchant_id.in_(ids))
                                .group_by(Payout.merchant_id)).all())
        for merchant_id, kind, amount, at in s.execute(
                select(LedgerEntry.merchant_id, LedgerEntry.kind, LedgerEntry.amount,
                       LedgerEntry.at).where(LedgerEntry.merchant_id.in_(ids))):
            sums[merchant_id] += amount
            payout = payouts.get(merchant_id)
            if payout is not None:
                start, end = period_window(payout.period_start, payout.period_end)
                if at < end:
                    by_kind[(merchant_id, "balance")] += amount
                if start <= at < end:
                    by_kind[(merchant_id, str(kind))] += amount
    wrong_balance = [m for m in ids if Decimal(balances[m]) != sums[m]]
    wrong_count = [m for m in ids if counts.get(m) != 1]
    wrong_figures = []
    uncovered = 0
    for merchant_id, payout in payouts.items():
        cash = by_kind[(merchant_id, LedgerKind.CASH_COLLECTED.value)]
        fees = -by_kind[(merchant_id, LedgerKind.FEE.value)]
        amount = max(Decimal(0), min(cash - fees, by_kind[(merchant_id, "balance")]))
        if (payout.cash_total, payout.fee, payout.amount, payout.uncovered) != (
                cash, fees, amount, cash - fees - amount):
            wrong_figures.append(merchant_id)
        uncovered += payout.uncovered > 0
    return {"wrong_balance": wrong_balance, "wrong_count": wrong_count,
            "wrong_figures": wrong_figures, "with_uncovered": uncovered}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--merchants", type=int, default=1000)
    args = parser.parse_args()
    from postdesk.db import make_engine, make_session_factory
    from postdesk.settings import normalize_url
    from services.payouts import create_due_payouts

    url = normalize_url(args.db) if args.db else (
        f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench_ledger.sqlite3'}")
    started = time.perf_counter()
    ids, tag = build(url, args.events, args.merchants)
    print(f"built {args.merchants} merchants and {args.events} events "
          f"in {time.perf_counter() - started:.1f} s ({url.split('@')[-1]})", flush=True)

    started = time.perf_counter()
    charged = charge_all(url, tag)
    elapsed = time.perf_counter() - started
    print(f"charging: {charged} events in {elapsed:.1f} s ({charged / elapsed:.0f} events/s)",
          flush=True)

    factory = make_session_factory(make_engine(url))
    started = time.perf_counter()
    made = create_due_payouts(factory, merchant_ids=ids)
    elapsed = time.perf_counter() - started
    print(f"payouts: {made} for {len(ids)} merchants in {elapsed:.2f} s "
          f"({'under' if elapsed < 10 else 'OVER'} the 10 s target)", flush=True)
    again = create_due_payouts(factory, merchant_ids=ids)
    outcome = check(url, ids)
    print(f"again: {again} created; balances != ledger: {len(outcome['wrong_balance'])}; "
          f"merchants without exactly one payout: {len(outcome['wrong_count'])}; "
          f"payouts off the formula: {len(outcome['wrong_figures'])}; "
          f"payouts with uncovered charges: {outcome['with_uncovered']}")
    if again or outcome["wrong_balance"] or outcome["wrong_count"] or outcome["wrong_figures"]:
        raise SystemExit("FAILED")


if __name__ == "__main__":
    main()
