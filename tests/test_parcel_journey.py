"""A parcel's whole journey through a locker, through the real HTTP interfaces only (issue 12,
"Done when"), on SQLite and PostgreSQL:

- the store registers it by API → a cell is reserved → its sticker (printed by the store in the
  admin) decodes to its barcode → the sorting centre scans it in → hands it to a courier on the
  parcel page → the courier signs in at the locker's terminal, scans, closes the cell → the
  buyer's SMS in the outbox holds the code → the buyer types it, pays more than due (the change
  goes to the phone), takes the parcel → the cell is free, every step in the history and the
  events;
- the expiry path: placed → the worker's last-day reminder → expired by the worker → the
  courier collects it at the terminal → returned, the cell free.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from schema.lockers import (
    CellState,
    LedgerEntry,
    LockerCell,
    Parcel,
    ParcelEvent,
    ParcelPayment,
    PhoneCredit,
)
from schema.notifications import OutboxMessage
from schema.people import Merchant, RoleCode
from schema.workflows import StatusChange
from services.api_keys import issue_api_key
from services.ledger import ledger_sum
from services.parcel_expiry import expire_parcels, send_reminders
from tests.conftest import Browser
from tests.test_parcel_stickers import scan
from tests.test_terminal import Site, Terminal, build_site


def _register(client: TestClient, factory: sessionmaker[Session], site: Site,
              declared: str | None) -> dict[str, Any]:
    with factory() as session, session.begin():
        key = issue_api_key(session, site.merchant)
    answer = client.post("/api/v1/parcels", headers={"X-API-Key": key}, json={
        "locker_id": site.locker, "size": "s", "declared_price": declared,
        "recipient": {"name": "Анна Петрова", "phone": "+375 29 555-01-02", "language": "ru"},
        "drop_mode": "self_drop"})
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    assert body["status"] == "registered" and body["cell"]["size"] == "s"
    tracked = client.get(f"/api/v1/parcels/{body['barcode']}", headers={"X-API-Key": key})
    assert tracked.status_code == 200 and tracked.json()["status"] == "registered"
    return body


def _parcel(factory: sessionmaker[Session], barcode: str) -> Parcel:
    with factory() as session:
        parcel = session.scalar(select(Parcel).where(Parcel.barcode == barcode))
        assert parcel is not None
        session.expunge(parcel)
        return parcel


def _as(browser: Browser, signed_in: Any, role: RoleCode, **kw: Any) -> Browser:
    browser.client.cookies.clear()
    return signed_in(role, **kw)  # type: ignore[no-any-return]


def _to_the_courier(browser: Browser, signed_in: Any, site: Site, barcode: str,
                    parcel_id: int) -> None:
    """The store prints the sticker; the sorting centre scans the parcel in and hands it to
    a courier on the parcel page."""
    store = _as(browser, signed_in, RoleCode.MERCHANT, merchant_id=site.merchant)
    sticker = store.get(f"/admin/parcels/{parcel_id}/sticker.pdf")
    assert sticker.status_code == 200 and sticker.headers["content-type"].startswith(
        "application/pdf")
    assert {data for _kind, data in scan(sticker.content)} == {barcode}  # Code 128 and QR
    centre = _as(browser, signed_in, RoleCode.SORTING_CENTER)
    received = centre.post("/admin/sorting-center", {"barcode": barcode})
    assert received.status_code == 200, received.text
    moved = centre.post(f"/admin/parcels/{parcel_id}/status",
                        {"to_state": "with_courier", "expected_state": "at_sorting_center"})
    assert moved.status_code == 200


def _sms_code(session: Session, parcel: Parcel, site: Site) -> str:
    body = session.scalars(select(OutboxMessage.body).where(
        OutboxMessage.related_table == "parcels", OutboxMessage.related_id == parcel.id)).one()
    for known in (parcel.barcode, site.locker_code):
        body = body.replace(known, "")
    words = [w.strip(".,:") for w in body.split()]
    codes = [w for w in words if w.isdigit() and len(w) == 6]
    assert len(codes) == 1, body
    return codes[0]


def _history(session: Session, parcel_id: int) -> list[str]:
    return list(session.scalars(select(StatusChange.to_state).where(
        StatusChange.table_name == "parcels", StatusChange.record_id == parcel_id)
        .order_by(StatusChange.id)))


def _events(session: Session, parcel_id: int) -> list[str]:
    return [str(k) for k in session.scalars(select(ParcelEvent.kind).where(
        ParcelEvent.parcel_id == parcel_id).order_by(ParcelEvent.id))]


def _money(session: Session, parcel_id: int) -> list[tuple[str, Decimal]]:
    return [(str(kind), amount) for kind, amount in session.execute(
        select(LedgerEntry.kind, LedgerEntry.amount).where(LedgerEntry.parcel_id == parcel_id)
        .order_by(LedgerEntry.id))]


def test_register_print_receive_place_pay_and_pick_up(
        client: TestClient, browser: Browser, signed_in: Any,
        factory: sessionmaker[Session]) -> None:
    site = build_site(factory)
    registered = _register(client, factory, site, "25.50")
    barcode = registered["barcode"]
    parcel = _parcel(factory, barcode)
    assert parcel.cell_id is not None
    with factory() as session:
        cell = session.get(LockerCell, parcel.cell_id)
        assert cell is not None and cell.state == CellState.RESERVED
        assert cell.code == registered["cell"]["code"]
    _to_the_courier(browser, signed_in, site, barcode, parcel.id)

    terminal = Terminal(client, site, "ru")
    assert terminal.sign_in().status_code == 200
    placed = terminal.place(barcode)
    assert placed.status_code == 200, placed.text
    with factory() as session:
        code = _sms_code(session, session.get(Parcel, parcel.id), site)  # type: ignore[arg-type]
    asked = terminal.post("/code", {"code": code})
    assert asked.status_code == 200 and asked.json()["next"] == "pay", asked.text
    assert Decimal(asked.json()["amount_due"]) == Decimal("25.50")
    paid = terminal.post("/payment", {"code": code, "method": "cash", "amount": "30.00"})
    assert paid.status_code == 200, paid.text
    opened = terminal.post("/open", {"code": code})
    assert opened.status_code == 200 and opened.json()["status"] == "picked_up", opened.text

    with factory() as session:
        done = session.get(Parcel, parcel.id)
        assert done is not None and done.paid and done.cell_id is None
        cell = session.get(LockerCell, registered_cell_id := parcel.cell_id)
        assert cell is not None and cell.state == CellState.FREE, registered_cell_id
        credit = session.scalar(select(PhoneCredit.amount).join(PhoneCredit.payment)
                                .where(ParcelPayment.parcel_id == parcel.id))
        assert credit == Decimal("4.50")
        assert _history(session, parcel.id) == [
            "registered", "at_sorting_center", "with_courier", "in_locker", "picked_up"]
        assert _events(session, parcel.id) == [
            "registered", "reserved", "received", "placed", "paid", "picked_up"]
        # The money followed the events (issue 13): the self-drop's storage (zone 10, S:
        # 1.00), the buyer's 25.50 held for the store and its 1.5 % fee (0.3825 → 0.38);
        # picked up on time, so no extra day.
        assert _money(session, parcel.id) == [
            ("charge", Decimal("-1.00")), ("cash_collected", Decimal("25.50")),
            ("fee", Decimal("-0.38"))]
        merchant = session.get(Merchant, site.merchant)
        assert merchant is not None and merchant.balance == Decimal("124.12")
        assert merchant.balance == ledger_sum(session, site.merchant)


def test_placed_reminded_expired_and_returned(
        client: TestClient, browser: Browser, signed_in: Any,
        factory: sessionmaker[Session]) -> None:
    site = build_site(factory)
    barcode = _register(client, factory, site, None)["barcode"]
    parcel = _parcel(factory, barcode)
    _to_the_courier(browser, signed_in, site, barcode, parcel.id)
    terminal = Terminal(client, site, "ru")
    assert terminal.sign_in().status_code == 200
    assert terminal.place(barcode).status_code == 200
    deadline = _parcel(factory, barcode).stored_until
    assert deadline is not None

    # The worker, on the last day and again past the deadline (the merchant grants no extension).
    assert send_reminders(factory, now=deadline - timedelta(hours=12)) >= 1
    assert send_reminders(factory, now=deadline - timedelta(hours=11)) == 0  # once
    assert expire_parcels(factory, now=deadline + timedelta(minutes=1)) >= 1
    assert _parcel(factory, barcode).status == "storage_expired"

    listed = client.get("/api/v1/terminal/courier/expired", headers=terminal.headers())
    assert barcode in [p["barcode"] for p in listed.json()["parcels"]], listed.text
    collected = terminal.post("/courier/collect", {"barcode": barcode})
    assert collected.status_code == 200 and collected.json()["status"] == "returned"

    with factory() as session:
        done = session.get(Parcel, parcel.id)
        assert done is not None and done.cell_id is None and done.reminded_at is not None
        assert session.get(LockerCell, parcel.cell_id).state == CellState.FREE  # type: ignore[union-attr]
        messages = session.scalars(select(OutboxMessage.body).where(
            OutboxMessage.related_table == "parcels", OutboxMessage.related_id == parcel.id)
            .order_by(OutboxMessage.id)).all()
        assert len(messages) == 3, messages  # the code, the last day, the expiry
        assert _history(session, parcel.id)[-3:] == ["in_locker", "storage_expired", "returned"]
        assert _events(session, parcel.id)[-3:] == ["placed", "expired", "returned"]
        # Collected before the (test-shifted) deadline in real time: only the registration.
        assert _money(session, parcel.id) == [("charge", Decimal("-1.00"))]
        assert session.get(Merchant, site.merchant).balance == ledger_sum(  # type: ignore[union-attr]
            session, site.merchant) == Decimal("99.00")
