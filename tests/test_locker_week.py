"""A store's week with the locker network, through the real interfaces (issue 13, "Done when"),
on SQLite and PostgreSQL: the accountant records a top-up → the store registers three parcels
by API and is charged by zone and size → they are placed at the terminal; two buyers pay cash
(one with change credited to the phone), one parcel expires and is returned late → the cash
collector takes the cash out → the payout job → the payout is cash − fees − uncovered charges to
the kopeck, approved and paid, and its statement PDF prints the same figures.

Prices (zone 9): S pickup 3.00 + delivery 4.00 + storage 2.00, M storage 2.50, 0.70 a day late;
the fee is the setting's 1.5 %. Top-up 10.00 with a credit limit of 10.00.

| step | entry | balance |
|---|---|---|
| top-up | +10.00 | 10.00 |
| P1 courier pickup, S | −9.00 | 1.00 |
| P2 self-drop, M | −2.50 | −1.50 |
| P3 self-drop, S | −2.00 | −3.50 |
| P1 paid 40.00 cash | +40.00, fee −0.60 | 35.90 |
| P2 paid 25.00 for 20.00 (5.00 to the phone) | +20.00, fee −0.30 | 55.60 |
| P3 returned 2 days 1 hour late | −2.10 (3 days started) | 53.50 |

Cash 60.00 − fees 0.90 = 59.10; the prepaid money covered 10.00 of the 15.60 charges, so 5.60
is kept back and the payout is 53.50; once paid the balance is 0.00.
"""

from __future__ import annotations

import io
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal as D
from typing import Any

from pypdf import PdfReader
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from schema.couriers import Courier
from schema.lockers import (
    CashCollection,
    CellSize,
    Locker,
    LockerCell,
    Parcel,
    Payout,
    PayoutStatus,
    Zone,
)
from schema.notifications import OutboxMessage
from schema.people import Merchant, RoleCode
from services.accounts import create_user
from services.api_keys import issue_api_key
from services.ledger import ledger_sum
from services.parcel_expiry import expire_parcels
from services.payouts import create_due_payouts
from services.terminal import issue_device_key, set_courier_pin
from tests.conftest import PASSWORD, Browser, unique
from tests.locker_money import set_tariff
from tests.test_terminal import PIN, Site, Terminal


def _site(factory: sessionmaker[Session], payday: date) -> tuple[Site, str]:
    """Zone 9's prices, a locker there, a store with no money yet, a courier and the keys."""
    tag = uuid.uuid4().hex[:8]
    with factory() as session, session.begin():
        zone = session.scalar(select(Zone).where(Zone.number == 9))
        if zone is None:
            zone = Zone(number=9, code="Z9", name="Zone 9")
            session.add(zone)
            session.flush()
        set_tariff(session, zone.id, CellSize.S, pickup_price=D("3.00"),
                   delivery_price=D("4.00"), storage_price_3_days=D("2.00"),
                   unused_price=D("1.50"), extra_day_price=D("0.70"))
        set_tariff(session, zone.id, CellSize.M, pickup_price=D("3.50"),
                   delivery_price=D("4.50"), storage_price_3_days=D("2.50"),
                   unused_price=D("1.50"), extra_day_price=D("0.90"))
        locker = Locker(code=f"W{tag}", name=f"Week locker {tag}", city="Minsk",
                        address="Nezavisimosti 1", zone_id=zone.id, active=True)
        session.add(locker)
        session.flush()
        cells = {}
        for code, size in (("S1", CellSize.S), ("S2", CellSize.S), ("S3", CellSize.S),
                           ("M1", CellSize.M)):
            cell = LockerCell(locker_id=locker.id, code=code, size=size)
            session.add(cell)
            session.flush()
            cells[code] = cell.id
        merchant = Merchant(name=f"Week shop {tag}", currency="BYN", credit_limit=D("10.00"),
                            payout_weekday=payday.isoweekday(),
                            payment_reference=f"WEEK-{tag}", bank_account=f"BY00WEEK{tag}")
        session.add(merchant)
        user = create_user(session, unique("courier"), PASSWORD, "courier", language="ru")
        courier = Courier(full_name=f"Courier {tag}", mobile="+375291112233",
                          badge_number=f"W{tag}", user_id=user.id, active=True)
        session.add(courier)
        session.flush()
        set_courier_pin(session, courier.id, PIN)
        site = Site(locker.id, locker.code, issue_device_key(session, locker.id), courier.id,
                    courier.badge_number or "", merchant.id, cells)
        return site, issue_api_key(session, merchant.id)


def _as(browser: Browser, signed_in: Any, role: RoleCode, **kw: Any) -> Browser:
    browser.client.cookies.clear()
    return signed_in(role, **kw)  # type: ignore[no-any-return]


def _register(client: TestClient, key: str, site: Site, size: str, mode: str,
              declared: str | None) -> str:
    answer = client.post("/api/v1/parcels", headers={"X-API-Key": key}, json={
        "locker_id": site.locker, "size": size, "declared_price": declared, "drop_mode": mode,
        "recipient": {"name": "Анна", "phone": "+375 29 555-01-02", "language": "ru"}})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["barcode"])


def _balance(factory: sessionmaker[Session], merchant_id: int) -> D:
    with factory() as session:
        merchant = session.get(Merchant, merchant_id)
        assert merchant is not None
        assert merchant.balance == ledger_sum(session, merchant_id)  # the ledger decides
        return D(merchant.balance)


def _code(factory: sessionmaker[Session], barcode: str, site: Site) -> str:
    with factory() as session:
        parcel = session.scalar(select(Parcel).where(Parcel.barcode == barcode))
        assert parcel is not None
        body = session.scalars(select(OutboxMessage.body).where(
            OutboxMessage.related_table == "parcels", OutboxMessage.related_id == parcel.id)
            .order_by(OutboxMessage.id)).first() or ""
    for known in (barcode, site.locker_code):
        body = body.replace(known, "")
    codes = [w.strip(".,:") for w in body.split() if len(w.strip(".,:")) == 6
             and w.strip(".,:").isdigit()]
    assert len(codes) == 1, body
    return codes[0]


def _pay_and_take(terminal: Terminal, code: str, tendered: str) -> None:
    assert terminal.post("/code", {"code": code}).json()["next"] == "pay"
    paid = terminal.post("/payment", {"code": code, "method": "cash", "amount": tendered})
    assert paid.status_code == 200, paid.text
    opened = terminal.post("/open", {"code": code})
    assert opened.status_code == 200 and opened.json()["status"] == "picked_up", opened.text


def test_a_week_of_a_store_ends_in_a_payout_of_cash_less_fees_and_uncovered_charges(
        client: TestClient, browser: Browser, signed_in: Any,
        factory: sessionmaker[Session]) -> None:
    today = datetime.now(UTC).date()
    payday = today + timedelta(days=1)
    site, key = _site(factory, payday)

    # Monday: the store's bank transfer, recorded by the accountant.
    accountant = _as(browser, signed_in, RoleCode.ACCOUNTANT)
    recorded = accountant.post("/admin/top-up", {
        "merchant_id": str(site.merchant), "amount": "10.00", "day": today.isoformat(),
        "reference": f"BANK-{site.badge}"})
    assert recorded.status_code in (200, 303), recorded.text
    assert _balance(factory, site.merchant) == D("10.00")

    # Three parcels, charged by zone and size at registration (down to the credit limit).
    p1 = _register(client, key, site, "s", "courier_pickup", "40.00")
    p2 = _register(client, key, site, "m", "self_drop", "20.00")
    p3 = _register(client, key, site, "s", "self_drop", None)
    assert _balance(factory, site.merchant) == D("-3.50")
    refused = client.post("/api/v1/parcels", headers={"X-API-Key": key}, json={
        "locker_id": site.locker, "size": "s", "drop_mode": "courier_pickup",
        "recipient": {"name": "Анна", "phone": "+375 29 555-01-02", "language": "ru"}})
    assert refused.status_code == 402, refused.text  # 9.00 more would pass −10.00
    assert _balance(factory, site.merchant) == D("-3.50")

    # P1 goes through the sorting centre to a courier; all three are placed at the terminal.
    with factory() as session:
        p1_id = session.scalar(select(Parcel.id).where(Parcel.barcode == p1))
    centre = _as(browser, signed_in, RoleCode.SORTING_CENTER)
    assert centre.post("/admin/sorting-center", {"barcode": p1}).status_code == 200
    assert centre.post(f"/admin/parcels/{p1_id}/status", {
        "to_state": "with_courier", "expected_state": "at_sorting_center"}).status_code == 200
    terminal = Terminal(client, site, "ru")
    assert terminal.sign_in().status_code == 200
    for barcode in (p1, p2, p3):
        placed = terminal.place(barcode)
        assert placed.status_code == 200, placed.text

    # Two buyers pay cash at the locker; one pays over and the change goes to the phone.
    _pay_and_take(terminal, _code(factory, p1, site), "40.00")
    _pay_and_take(terminal, _code(factory, p2, site), "25.00")
    assert _balance(factory, site.merchant) == D("55.60")

    # Nobody comes for P3: two days and an hour past its deadline the worker expires it and
    # the courier takes it out for return; the late days are charged at the return.
    with factory() as session, session.begin():
        session.execute(update(Parcel).where(Parcel.barcode == p3).values(
            stored_until=datetime.now(UTC) - timedelta(days=2, hours=1)))
    assert expire_parcels(factory) >= 1
    collected = terminal.post("/courier/collect", {"barcode": p3})
    assert collected.status_code == 200 and collected.json()["status"] == "returned"
    assert _balance(factory, site.merchant) == D("53.50")

    # The cash collector empties the cash box: 40.00 + 25.00 tendered.
    collector = _as(browser, signed_in, RoleCode.CASH_COLLECTOR)
    act = collector.post("/admin/cash-to-collect", {
        "locker_id": str(site.locker), "counted": "65.00", "currency": "BYN"})
    assert act.status_code == 200, act.text
    with factory() as session:
        row = session.scalars(select(CashCollection).where(
            CashCollection.locker_id == site.locker)).one()
        assert (row.expected_amount, row.amount, row.difference) == (
            D("65.00"), D("65.00"), D("0.00"))

    # Payday: the worker's job drafts the week's payout; the accountant approves and pays it.
    assert create_due_payouts(factory, datetime.combine(payday, time(6), tzinfo=UTC),
                              merchant_ids=[site.merchant]) == 1
    assert create_due_payouts(factory, datetime.combine(payday, time(7), tzinfo=UTC),
                              merchant_ids=[site.merchant]) == 0  # once
    with factory() as session:
        payout = session.scalars(select(Payout).where(
            Payout.merchant_id == site.merchant)).one()
        assert (payout.cash_total, payout.fee, payout.uncovered, payout.amount) == (
            D("60.00"), D("0.90"), D("5.60"), D("53.50"))
        assert (payout.period_start, payout.period_end) == (today, today)
    accountant = _as(browser, signed_in, RoleCode.ACCOUNTANT)
    assert accountant.post(f"/admin/payouts/{payout.id}/approve").status_code == 200
    assert accountant.post(f"/admin/payouts/{payout.id}/mark-paid", {
        "bank_reference": f"OUT-{site.badge}"}).status_code == 200
    with factory() as session:
        paid = session.get(Payout, payout.id)
        assert paid is not None and paid.status is PayoutStatus.PAID
    assert _balance(factory, site.merchant) == D("0.00")

    # The payout statement prints the same figures.
    pdf = accountant.get(f"/admin/print/payout/{payout.id}?language=en")
    assert pdf.status_code == 200 and pdf.headers["content-type"].startswith("application/pdf")
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    for figure in ("60.00", "0.90", "5.60", "53.50"):
        assert figure in text, (figure, text[:2000])
