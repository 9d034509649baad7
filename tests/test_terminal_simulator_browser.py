"""The terminal simulator in Chromium, as a technician walks it: choose a locker, issue its
device key (the old key stops working), sign a courier in with badge and PIN, scan a parcel,
see the cell that opens, confirm "cell closed"; then as the buyer read the code from the SMS the
page shows, enter it, pay the amount due with change credited, open the cell. Every step went
through the real terminal API (the page's request log shows it, and the database agrees): the
parcel is picked up, paid, and its cell free."""

from __future__ import annotations

import re
from decimal import Decimal
from itertools import count
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from schema.lockers import (
    CellSize,
    CellState,
    Locker,
    LockerCell,
    Parcel,
    ParcelPayment,
    PhoneCredit,
)
from services.terminal import issue_device_key, locker_for_key, set_courier_pin
from tests.test_browser import _sign_in, chromium, live_server  # noqa: F401 (fixtures)

_serial = count(1)


def _journey(factory: sessionmaker[Session], make: Any) -> dict[str, Any]:
    """A locker with a cell reserved for a parcel the courier carries (42.50 to pay), a courier
    with a PIN, and the locker's current device key (which the simulator will replace)."""
    n = next(_serial)
    merchant = make("Merchant")
    courier = make("Courier", badge_number=f"SIM-{n}-{merchant.id}")
    with factory() as session, session.begin():
        locker = Locker(code=f"SIM-{n:03d}-{merchant.id}", name=f"Simulator locker {n}",
                        address="Pobediteley 9", city="Minsk")
        session.add(locker)
        session.flush()
        cell = LockerCell(locker_id=locker.id, code=f"S{n:02d}", size=CellSize.M,
                          state=CellState.RESERVED)
        session.add(cell)
        session.flush()
        parcel = Parcel(merchant_id=merchant.id, barcode=f"PDSIM{n:04d}X{locker.id}",
                        locker_id=locker.id, cell_id=cell.id, size=CellSize.M,
                        status="with_courier", declared_price=Decimal("42.50"),
                        currency="BYN", recipient_name="Sim Buyer",
                        recipient_phone="+375291234567", recipient_language="en")
        session.add(parcel)
        set_courier_pin(session, courier.id, "4321")
        old_key = issue_device_key(session, locker.id)
        session.flush()
        return {"locker": locker.id, "cell": cell.id, "cell_code": cell.code,
                "parcel": parcel.id, "barcode": parcel.barcode, "badge": courier.badge_number,
                "old_key": old_key}


def test_the_simulator_walks_the_journey_through_the_api(  # type: ignore[no-untyped-def]
    live_server: str, chromium: Any, make_user, make, factory: sessionmaker[Session],  # noqa: F811
) -> None:
    j = _journey(factory, make)
    page = chromium.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(f"{r.method} {r.url}")
            if "/api/v1/terminal/" in r.url else None)
    page.on("dialog", lambda dialog: dialog.accept())  # "issue a new key?": yes
    try:
        _sign_in(page, live_server, make_user("technician"))
        page.goto(f"{live_server}/admin/terminal-simulator")
        page.select_option("#ts-locker", str(j["locker"]))
        page.click("#ts-issue")
        page.wait_for_function(
            "() => document.querySelector('#ts-device-key').value.startsWith('pdt_')")
        new_key = page.input_value("#ts-device-key")
        with factory() as session:
            assert locker_for_key(session, new_key) == j["locker"]
            assert locker_for_key(session, j["old_key"]) is None  # the old key stopped

        # The courier.
        page.fill("#ts-badge", j["badge"])
        page.fill("#ts-pin", "4321")
        page.click("#ts-sign-in button[type=submit]")
        page.wait_for_function(
            "() => document.querySelector('#ts-courier-name').textContent.length > 0")
        page.fill("#ts-barcode", j["barcode"])
        page.press("#ts-barcode", "Enter")
        page.wait_for_function("cell => document.querySelector('#ts-cell').textContent"
                               ".includes(cell)", arg=j["cell_code"])
        page.click("#ts-closed")
        page.wait_for_function("() => document.querySelector('#ts-closed').disabled")
        assert "alert-success" in (page.get_attribute("#ts-status", "class") or "")

        # The buyer: the code is in the SMS the page shows.
        page.click("#ts-sms")
        page.wait_for_selector("#ts-sms-list .ts-sms")
        sms = page.inner_text("#ts-sms-list")
        assert j["barcode"] in sms
        code = re.search(r"\b(\d{6})\b", sms.split(j["barcode"], 1)[1])
        assert code, sms
        page.fill("#ts-code-input", code[1])
        page.press("#ts-code-input", "Enter")
        page.wait_for_selector("#ts-pay:not([hidden])")
        assert "42.50" in page.inner_text("#ts-due")
        page.fill("#ts-amount", "50")
        page.click("#ts-pay button[type=submit]")
        page.wait_for_function("() => !document.querySelector('#ts-open').disabled")
        assert "7.50" in page.inner_text("#ts-status")  # the change, credited
        page.click("#ts-open")
        page.wait_for_function("() => document.querySelector('#ts-open').disabled")
        assert j["cell_code"] in page.inner_text("#ts-status")

        # A terminal's retry: the same Idempotency-Key answers the first answer again.
        page.click("#ts-repeat")
        page.wait_for_function("() => document.querySelectorAll('#ts-log li').length >= 7")
        replay = page.inner_text("#ts-log li:first-child")
        assert "/open → 200" in replay and "a repeat" in replay
    finally:
        page.close()

    paths = [r.split("/api/v1/terminal", 1)[1] for r in requests]
    assert paths[:7] == ["/courier/sign-in", "/courier/scan", "/courier/cell-closed", "/code",
                         "/payment", "/open", "/open"]
    with factory() as session:
        parcel = session.get(Parcel, j["parcel"])
        assert parcel.status == "picked_up" and parcel.paid and parcel.cell_id is None
        assert session.get(LockerCell, j["cell"]).state == CellState.FREE
        payment = session.scalars(select(ParcelPayment).where(
            ParcelPayment.parcel_id == j["parcel"])).one()
        assert (payment.amount, payment.tendered, payment.change) == (
            Decimal("42.50"), Decimal("50"), Decimal("7.50"))
        assert session.scalars(select(PhoneCredit).where(
            PhoneCredit.payment_id == payment.id)).one().amount == Decimal("7.50")
