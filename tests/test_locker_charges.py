"""The charges that follow the parcel events (services.locker_charges), on SQLite and PostgreSQL:
registration by zone and size with the credit limit as the floor (service, API, admin page,
orders), no tariff, the cash and its fee, late days, the low-balance e-mail, a property test
over random event sequences (balance == ledger sum, no event charged twice), and 40 concurrent
registrations against a balance that covers 10."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from rules import locker_tariffs as rt
from schema.base import utcnow
from schema.lockers import (
    CellSize,
    CellState,
    LedgerEntry,
    Locker,
    LockerCell,
    LockerTariff,
    Parcel,
    ParcelEvent,
    ParcelEventKind,
)
from schema.notifications import OutboxMessage
from schema.people import Merchant, RoleCode
from seed.demo import factories as f
from services.accounts import create_user
from services.api_keys import issue_api_key
from services.ledger import ledger_sum
from services.locker_charges import NoTariff, RegistrationNotCovered
from services.parcel_events import emit
from services.parcels import NoFreeCell
from tests.conftest import unique
from tests.locker_money import set_tariff, top_up
from tests.races import race
from tests.test_parcel_registration import parcel_input, register

D = Decimal
ZONE = 9  # this file's zone: its zone-wide row 3 + 4 + 2, unused 1.50, extra day 0.70


@dataclass(frozen=True)
class Shop:
    merchant: int
    locker: int


def build_shop(factory: sessionmaker[Session], *, balance: str = "100.00", limit: str = "0",
               cells: int = 4, threshold: str | None = None, email: str | None = None,
               zone: int | None = ZONE) -> Shop:
    with factory() as s, f.using_session(s):
        zone_row = f.ZoneFactory(number=zone) if zone is not None else None
        s.flush()
        if zone_row is not None and zone == ZONE:
            set_tariff(s, zone_row.id)
            set_tariff(s, zone_row.id, CellSize.M, pickup_price=D("5.00"))
        merchant = f.MerchantFactory(currency="BYN", credit_limit=D(limit), email=email,
                                     low_balance_threshold=None if threshold is None
                                     else D(threshold), cash_fee_percent=D(0))
        locker = f.LockerFactory(city=unique("Charge"), zone=zone_row)
        for i in range(cells):
            f.LockerCellFactory(locker=locker, code=f"S{i:02d}", size=CellSize.S)
        f.LockerCellFactory(locker=locker, code="M1", size=CellSize.M)
        s.flush()
        if D(balance):
            top_up(s, merchant.id, balance)
        shop = Shop(merchant.id, locker.id)
        s.commit()
        return shop


def _entries(session: Session, merchant: int) -> list[tuple[str, Decimal]]:
    return [(str(k), a) for k, a in session.execute(
        select(LedgerEntry.kind, LedgerEntry.amount).where(
            LedgerEntry.merchant_id == merchant, LedgerEntry.event_id.is_not(None))
        .order_by(LedgerEntry.id))]


def _balance(session: Session, merchant: int) -> Decimal:
    balance = session.scalar(select(Merchant.balance).where(Merchant.id == merchant))
    assert balance == ledger_sum(session, merchant)
    return Decimal(balance or 0)


def test_registration_is_charged_by_zone_and_cell_size(factory: sessionmaker[Session]) -> None:
    shop = build_shop(factory)
    register(factory, shop.merchant, parcel_input(shop.locker))  # courier: 3 + 4 + 2
    register(factory, shop.merchant, parcel_input(shop.locker, drop_mode="self_drop"))  # 2
    medium = register(factory, shop.merchant, parcel_input(shop.locker, size="m"))  # 5 + 4 + 2
    with factory() as session:
        assert _entries(session, shop.merchant) == [
            ("charge", D("-9.00")), ("charge", D("-2.00")), ("charge", D("-11.00"))]
        assert _balance(session, shop.merchant) == D("78.00")
        event = session.scalar(select(ParcelEvent).where(
            ParcelEvent.parcel_id == medium.id, ParcelEvent.kind == ParcelEventKind.REGISTERED))
        entry = session.scalar(select(LedgerEntry).where(LedgerEntry.parcel_id == medium.id))
        assert event is not None and entry is not None and entry.event_id == event.id


def _written(session: Session, shop: Shop) -> tuple[int, int, int]:
    return (session.scalar(select(func.count(Parcel.id)).where(Parcel.merchant_id
                                                                == shop.merchant)) or 0,
            session.scalar(select(func.count(LedgerEntry.id)).where(
                LedgerEntry.merchant_id == shop.merchant)) or 0,
            session.scalar(select(func.count(LockerCell.id)).where(
                LockerCell.locker_id == shop.locker, LockerCell.state == CellState.FREE)) or 0)


def test_a_charge_beyond_the_credit_limit_is_refused_with_the_amount_missing(
        factory: sessionmaker[Session]) -> None:
    shop = build_shop(factory, balance="5.00", limit="2.00")
    with factory() as session:
        before = _written(session, shop)
    with pytest.raises(RegistrationNotCovered) as refused:
        register(factory, shop.merchant, parcel_input(shop.locker))
    assert refused.value.missing == D("2.00")
    assert "9.00 BYN" in str(refused.value) and "2.00 BYN is missing" in str(refused.value)
    with factory() as session:
        assert _written(session, shop) == before  # no parcel, no entry, no cell taken
    register(factory, shop.merchant, parcel_input(shop.locker, drop_mode="self_drop"))
    with factory() as session:  # 5 - 2 = 3; a courier pickup (9) needs a limit of 6
        assert _balance(session, shop.merchant) == D("3.00")
        session.execute(Merchant.__table__.update().where(Merchant.__table__.c.id
                                                          == shop.merchant)
                        .values(credit_limit=D("6.00")))
        session.commit()
    register(factory, shop.merchant, parcel_input(shop.locker))
    with factory() as session:
        assert _balance(session, shop.merchant) == D("-6.00")


def test_the_api_the_admin_page_and_orders_say_what_is_missing(
        client: TestClient, signed_in: Any, factory: sessionmaker[Session]) -> None:
    shop = build_shop(factory, balance="1.00")
    with factory() as session, session.begin():
        key = issue_api_key(session, shop.merchant)
    answer = client.post("/api/v1/parcels", headers={"X-API-Key": key}, json={
        "locker_id": shop.locker, "size": "s",
        "recipient": {"name": "Anna", "phone": "+375291234567", "language": "ru"}})
    assert answer.status_code == 402, answer.text
    error = answer.json()["error"]
    assert error["code"] == "insufficient_balance" and "8.00 BYN" in error["message"]

    browser = signed_in(RoleCode.MERCHANT, merchant_id=shop.merchant)
    page = browser.post("/admin/parcel-registration", data={
        "locker_id": str(shop.locker), "size": "s", "recipient_name": "Анна",
        "recipient_phone": "+375291234567", "recipient_language": "ru",
        "drop_mode": "courier_pickup", "drop_date": date.today().isoformat()})
    assert page.status_code == 400 and "8.00 BYN" in page.text, page.text

    with factory() as s, f.using_session(s):
        product = f.ProductFactory(merchant=s.get(Merchant, shop.merchant), price=D(10),
                                   weight_g=25)
        s.flush()
        product_id = product.id
        s.commit()
    ordered = client.post("/api/v1/orders", headers={"X-API-Key": key}, json={
        "lines": [{"product_id": product_id, "quantity": 1}], "delivery_kind": "locker",
        "locker_id": shop.locker, "parcel_size": "s",
        "recipient": {"name": "Anna", "phone": "+375291234567"}})
    assert ordered.status_code == 402, ordered.text
    assert ordered.json()["error"]["code"] == "insufficient_balance"
    with factory() as session:
        assert _written(session, shop)[:2] == (0, 1)  # only the top-up


def test_no_tariff_for_the_zone_refuses_the_registration(factory: sessionmaker[Session]) -> None:
    with factory() as s, f.using_session(s):
        zone = f.ZoneFactory(number=8)
        s.flush()
        s.execute(delete(LockerTariff).where(LockerTariff.zone_id == zone.id))
        s.commit()
    shop = build_shop(factory, zone=8)
    with pytest.raises(NoTariff, match="No locker tariff is set for zone"):
        register(factory, shop.merchant, parcel_input(shop.locker))
    zoneless = build_shop(factory, zone=None)
    with factory() as session, session.begin():
        locker = session.get(Locker, zoneless.locker)
        assert locker is not None
        locker.zone_id = None
    with pytest.raises(NoTariff, match="has no tariff zone"):
        register(factory, zoneless.merchant, parcel_input(zoneless.locker))
    with factory() as session:
        assert _written(session, shop)[:2] == (0, 1)


def test_cash_its_fee_and_late_days_are_posted_once(factory: sessionmaker[Session]) -> None:
    shop = build_shop(factory)
    parcel = register(factory, shop.merchant, parcel_input(shop.locker,
                                                           drop_mode="self_drop"))
    deadline = utcnow() + timedelta(days=3)
    with factory() as session, session.begin():
        stored = session.get(Parcel, parcel.id)
        assert stored is not None
        stored.stored_until = deadline
        for _ in range(2):  # a terminal's retry: the same event, charged once
            emit(session, stored, ParcelEventKind.PAID, amount=D("33.70"), currency="BYN")
            emit(session, stored, ParcelEventKind.PICKED_UP,
                 at=deadline + timedelta(hours=24, seconds=1))
    with factory() as session:
        assert _entries(session, shop.merchant) == [
            ("charge", D("-2.00")), ("cash_collected", D("33.70")), ("fee", D("-0.51")),
            ("charge", D("-1.40"))]
        assert _balance(session, shop.merchant) == D("129.79")


def test_the_low_balance_email_goes_once(factory: sessionmaker[Session]) -> None:
    email = f"{uuid.uuid4().hex[:8]}@shop.example"
    shop = build_shop(factory, balance="20.00", threshold="10.00", email=email, limit="50")
    with factory() as session, session.begin():
        create_user(session, unique("m"), "pw-123456789", "merchant", language="ru",
                    merchant_id=shop.merchant)

    def mails() -> int:
        with factory() as session:
            return session.scalar(select(func.count(OutboxMessage.id)).where(
                OutboxMessage.recipient == email)) or 0

    register(factory, shop.merchant, parcel_input(shop.locker))  # 11.00: above
    assert mails() == 0
    register(factory, shop.merchant, parcel_input(shop.locker))  # 2.00: at or below
    assert mails() == 1
    register(factory, shop.merchant, parcel_input(shop.locker))  # -7.00: told already
    assert mails() == 1
    with factory() as session:
        merchant = session.get(Merchant, shop.merchant)
        assert merchant is not None and merchant.low_balance_notified_at is not None


# --- the property: balance == ledger sum, no event charged twice --------------------------

OPS = st.lists(st.one_of(
    st.tuples(st.just("register"), st.sampled_from(["courier_pickup", "self_drop"])),
    st.tuples(st.just("release"), st.integers(0, 5)),
    st.tuples(st.just("pay"), st.integers(0, 5),
              st.decimals(min_value=D("0.01"), max_value=D("500"), places=2)),
    st.tuples(st.just("pick_up"), st.integers(0, 5), st.integers(-3600, 5 * 86400)),
    st.tuples(st.just("return"), st.integers(0, 5), st.integers(-3600, 5 * 86400)),
), min_size=1, max_size=14)

KIND = {"release": ParcelEventKind.RELEASED, "pay": ParcelEventKind.PAID,
        "pick_up": ParcelEventKind.PICKED_UP, "return": ParcelEventKind.RETURNED}
TARIFF = rt.Tariff(zone_id=0, size=None, pickup_price=D("3.00"), delivery_price=D("4.00"),
                   storage_price=D("2.00"), storage_days=3, unused_price=D("1.50"),
                   extra_day_price=D("0.70"), currency="BYN")


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=OPS, start=st.sampled_from(["0", "5.00", "30.00"]),
       limit=st.sampled_from(["0", "4.00"]))
def test_random_event_sequences_keep_the_ledger_exact(factory: sessionmaker[Session],
                                                      ops: list[tuple[Any, ...]], start: str,
                                                      limit: str) -> None:
    shop = build_shop(factory, balance=start, limit=limit, cells=14)
    expected = D(start)
    parcels: list[int] = []
    charged: set[tuple[int, str]] = set()
    for op in ops:
        if op[0] == "register":
            price = rt.registration_price(TARIFF, op[1])
            try:
                parcel = register(factory, shop.merchant,
                                  parcel_input(shop.locker, drop_mode=op[1]))
            except RegistrationNotCovered as refused:
                assert expected - price < -D(limit)
                assert refused.missing == -D(limit) - (expected - price)
                continue
            except NoFreeCell:
                continue
            assert expected - price >= -D(limit)
            expected -= price
            parcels.append(parcel.id)
            continue
        if not parcels:
            continue
        parcel_id = parcels[op[1] % len(parcels)]
        kind = KIND[op[0]]
        with factory() as session, session.begin():
            parcel = session.get(Parcel, parcel_id)
            assert parcel is not None
            now = utcnow()
            facts = rt.EventFacts(kind.value, parcel.drop_mode.value)
            if kind is ParcelEventKind.PAID:
                emit(session, parcel, kind, amount=op[2], currency="BYN", at=now)
                facts = rt.EventFacts("paid", amount=op[2], currency="BYN")
            elif kind is ParcelEventKind.RELEASED:
                emit(session, parcel, kind, at=now)
            else:
                if parcel.stored_until is None:
                    parcel.stored_until = now
                at = parcel.stored_until + timedelta(seconds=op[2])
                emit(session, parcel, kind, at=at)
                facts = rt.EventFacts(kind.value, stored_until=parcel.stored_until, at=at)
        if (parcel_id, kind.value) not in charged:  # a repeat charges nothing
            charged.add((parcel_id, kind.value))
            expected += sum((c.amount for c in rt.charges_for(facts, TARIFF, D("1.5"), 2)),
                            D(0))
    with factory() as session:
        assert _balance(session, shop.merchant) == expected
        per_event = Counter(session.execute(
            select(LedgerEntry.event_id, LedgerEntry.kind).where(
                LedgerEntry.merchant_id == shop.merchant, LedgerEntry.event_id.is_not(None))))
        assert all(n == 1 for n in per_event.values()), per_event


# --- PostgreSQL: concurrent registrations never pass the floor ----------------------------


def test_40_concurrent_registrations_against_a_balance_for_10(factory: sessionmaker[Session],
                                                              backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (POSTDESK_TEST_DATABASE_URL); on "
                    "SQLite writers are serialised and the conditional UPDATE decides")
    shop = build_shop(factory, balance="87.00", limit="3.00", cells=45)  # 10 × 9.00 = 90.00

    def attempt() -> str:
        register(factory, shop.merchant, parcel_input(shop.locker))
        return "ok"

    outcomes = race(40, attempt, expected=(RegistrationNotCovered, "not covered"))
    assert outcomes == Counter({"ok": 10, "not covered": 30}), outcomes
    with factory() as session:
        assert _balance(session, shop.merchant) == D("-3.00")  # exactly -credit_limit
        assert session.scalar(select(func.count(Parcel.id)).where(
            Parcel.merchant_id == shop.merchant)) == 10

