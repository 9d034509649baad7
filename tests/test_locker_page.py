"""The technician's cell actions (services.lockers), the locker page and the parcel page through
real HTTP: out of order refused while a parcel is in the cell, allowed with a move, the
maintenance log; a merchant cannot open another merchant's parcel page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from schema.lockers import (
    CellSize,
    CellState,
    LockerCell,
    LockerMaintenance,
    MaintenanceAction,
    Parcel,
    ParcelEventKind,
)
from schema.people import RoleCode
from services import lockers
from services.actor import Actor
from services.errors import Refused
from services.parcel_events import emit

TECH = Actor(user_id=None, username="tech", role="technician")


@pytest.fixture
def locker(make) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """A locker with cells A1 (S), A2 (M), A3 (S) and B1 (L), a parcel of size M reserved in
    B1, and a cell of another locker."""
    made = make("Locker")
    cells = {code: make("LockerCell", locker=made, code=code, size=size,
                        state=CellState.FREE)
             for code, size in (("A1", CellSize.S), ("A2", CellSize.M), ("A3", CellSize.S),
                                ("B1", CellSize.L))}
    other = make("LockerCell", code="Z9", size=CellSize.XL, state=CellState.FREE)
    return {"locker": made, "cells": cells, "other": other}


def _reserve(factory: sessionmaker[Session], make: Any, locker: dict[str, Any], code: str,
             **kw: Any) -> Parcel:
    cell = locker["cells"][code]
    parcel = make("Parcel", locker=locker["locker"], size=CellSize.M, status="registered",
                  **kw)
    with factory() as session, session.begin():
        session.get(LockerCell, cell.id).state = CellState.RESERVED  # type: ignore[union-attr]
        session.get(Parcel, parcel.id).cell_id = cell.id  # type: ignore[union-attr]
    return parcel


def _state(factory: sessionmaker[Session], cell_id: int) -> CellState:
    with factory() as session:
        cell = session.get(LockerCell, cell_id)
        assert cell is not None
        return cell.state


def _log(factory: sessionmaker[Session], locker_id: int) -> list[tuple[MaintenanceAction, str]]:
    with factory() as session:
        return [(e.action, e.reason or "") for e in session.scalars(
            select(LockerMaintenance).where(LockerMaintenance.locker_id == locker_id)
            .order_by(LockerMaintenance.id))]


def test_out_of_order_refused_while_a_parcel_is_in_the_cell(factory, make, locker) -> None:  # type: ignore[no-untyped-def]
    parcel = _reserve(factory, make, locker, "B1")
    b1 = locker["cells"]["B1"]
    with factory() as session, session.begin(), pytest.raises(Refused) as refused:
        lockers.put_out_of_order(session, TECH, b1.id, "door jammed")
    assert parcel.barcode in str(refused.value)
    assert _state(factory, b1.id) is CellState.RESERVED
    assert _log(factory, locker["locker"].id) == []


@pytest.mark.parametrize(("target", "why"), [("A1", "does not fit"), ("A3", "does not fit"),
                                             ("other", "same locker"), ("B1", "same locker")])
def test_a_move_must_be_to_a_free_fitting_cell_of_the_same_locker(  # type: ignore[no-untyped-def]
        factory, make, locker, target, why) -> None:
    parcel = _reserve(factory, make, locker, "B1")
    target_id = locker["other"].id if target == "other" else locker["cells"][target].id
    with factory() as session, session.begin(), pytest.raises(Refused) as refused:
        lockers.put_out_of_order(session, TECH, locker["cells"]["B1"].id, "door", target_id)
    assert why in str(refused.value)
    with factory() as session:
        assert session.get(Parcel, parcel.id).cell_id == locker["cells"]["B1"].id  # type: ignore[union-attr]
    assert _log(factory, locker["locker"].id) == []


def test_out_of_order_with_a_move_and_back_in_service(factory, make, locker) -> None:  # type: ignore[no-untyped-def]
    parcel = _reserve(factory, make, locker, "B1")
    b1, a2 = locker["cells"]["B1"], locker["cells"]["A2"]
    with factory() as session, session.begin():
        lockers.put_out_of_order(session, TECH, b1.id, "door jammed", a2.id)
    with factory() as session:
        assert session.get(Parcel, parcel.id).cell_id == a2.id  # type: ignore[union-attr]
    assert _state(factory, b1.id) is CellState.OUT_OF_ORDER
    assert _state(factory, a2.id) is CellState.RESERVED  # a reservation stays a reservation
    assert _log(factory, locker["locker"].id) == [
        (MaintenanceAction.PARCEL_MOVED, f"{parcel.barcode}: B1 → A2"),
        (MaintenanceAction.OUT_OF_ORDER, "door jammed")]
    with factory() as session, session.begin(), pytest.raises(Refused):
        lockers.put_out_of_order(session, TECH, b1.id, "again")  # already out of order
    with factory() as session, session.begin():
        lockers.back_in_service(session, TECH, b1.id, "fixed")
    assert _state(factory, b1.id) is CellState.FREE
    assert _log(factory, locker["locker"].id)[-1] == (MaintenanceAction.BACK_IN_SERVICE, "fixed")
    with factory() as session, session.begin(), pytest.raises(Refused):
        lockers.back_in_service(session, TECH, b1.id)  # not out of order


def test_a_reason_is_required(factory, locker) -> None:  # type: ignore[no-untyped-def]
    with factory() as session, session.begin(), pytest.raises(Refused):
        lockers.put_out_of_order(session, TECH, locker["cells"]["A1"].id, "   ")
    assert _state(factory, locker["cells"]["A1"].id) is CellState.FREE


def test_the_locker_page_as_a_technician(signed_in, factory, make, locker) -> None:  # type: ignore[no-untyped-def]
    parcel = _reserve(factory, make, locker, "B1")
    browser = signed_in(RoleCode.TECHNICIAN)
    lid = locker["locker"].id
    page = browser.get(f"/admin/lockers/details/{lid}")
    assert page.status_code == 200, page.text
    assert 'data-cell="B1" data-state="reserved"' in page.text
    assert parcel.barcode in page.text and "out-of-order-form" in page.text
    b1, a2 = locker["cells"]["B1"], locker["cells"]["A2"]
    refused = browser.post(f"/admin/lockers/{lid}/out-of-order",
                           {"cell_id": str(b1.id), "reason": "door jammed"})
    assert refused.status_code == 200  # back on the page with the refusal
    assert parcel.barcode in refused.text and _state(factory, b1.id) is CellState.RESERVED
    done = browser.post(f"/admin/lockers/{lid}/out-of-order",
                        {"cell_id": str(b1.id), "reason": "door jammed",
                         "move_to_cell_id": str(a2.id)})
    assert done.status_code == 200
    assert 'data-cell="B1" data-state="out_of_order"' in done.text
    assert 'data-maintenance="parcel_moved"' in done.text
    assert 'data-maintenance="out_of_order"' in done.text and "door jammed" in done.text
    # A cell of another locker named in a forged form is not found.
    forged = browser.post(f"/admin/lockers/{lid}/back-in-service",
                          {"cell_id": str(locker["other"].id)})
    assert forged.status_code == 200 and _state(factory, locker["other"].id) is CellState.FREE
    noted = browser.post(f"/admin/lockers/{lid}/note", {"text": "cleaned the screen"})
    assert "cleaned the screen" in noted.text


def test_the_locker_page_without_grants(signed_in, locker) -> None:  # type: ignore[no-untyped-def]
    browser = signed_in(RoleCode.CASH_COLLECTOR)  # reads lockers, no maintenance grants
    lid = locker["locker"].id
    page = browser.get(f"/admin/lockers/details/{lid}")
    assert page.status_code == 200 and "out-of-order-form" not in page.text
    denied = browser.post(f"/admin/lockers/{lid}/out-of-order",
                          {"cell_id": str(locker["cells"]["A1"].id), "reason": "x"},
                          follow_redirects=False)
    assert denied.status_code == 403


def test_issue_terminal_key_shows_it_once(signed_in, locker) -> None:  # type: ignore[no-untyped-def]
    browser = signed_in(RoleCode.TECHNICIAN)
    lid = locker["locker"].id
    shown = browser.post(f"/admin/lockers/{lid}/device-key")
    assert shown.status_code == 200 and shown.headers["cache-control"] == "no-store"
    assert 'data-device-key' in shown.text
    again = browser.get(f"/admin/lockers/details/{lid}")
    assert "data-device-key" not in again.text


def test_parcel_page_for_its_merchant_only(signed_in, browser, make, make_user, factory) -> None:  # type: ignore[no-untyped-def]
    mine, theirs = make("Merchant"), make("Merchant")
    parcel = make("Parcel", merchant=mine, status="in_locker", declared_price=Decimal("12.50"),
                  recipient_phone="+375291234567", recipient_language="fa")
    with factory() as session, session.begin():
        emit(session, session.get(Parcel, parcel.id), ParcelEventKind.PLACED)  # type: ignore[arg-type]
    own = signed_in(RoleCode.MERCHANT, merchant_id=mine.id)
    page = own.get(f"/admin/parcels/details/{parcel.id}")
    assert page.status_code == 200, page.text
    assert f'data-barcode>{parcel.barcode}</bdi>' in page.text
    assert 'href="tel:+375291234567"' in page.text and 'data-to-collect' in page.text
    assert 'data-event="placed"' in page.text and "print-sticker" in page.text
    own.client.cookies.clear()
    other = signed_in(RoleCode.MERCHANT, merchant_id=theirs.id)
    assert other.get(f"/admin/parcels/details/{parcel.id}").status_code == 404
    assert other.post(f"/admin/parcels/{parcel.id}/status",
                      {"to_state": "picked_up"}, follow_redirects=False).status_code in (303, 404)
    with factory() as session:
        assert session.get(Parcel, parcel.id).status == "in_locker"  # type: ignore[union-attr]


def test_status_moves_from_the_parcel_page(signed_in, make, factory) -> None:  # type: ignore[no-untyped-def]
    parcel = make("Parcel", status="registered")
    browser = signed_in(RoleCode.SORTING_CENTER)
    page = browser.get(f"/admin/parcels/details/{parcel.id}")
    assert page.status_code == 200 and 'value="at_sorting_center"' in page.text
    moved = browser.post(f"/admin/parcels/{parcel.id}/status",
                         {"to_state": "at_sorting_center", "expected_state": "registered"})
    assert moved.status_code == 200 and "data-status-change" in moved.text
    with factory() as session:
        assert session.get(Parcel, parcel.id).status == "at_sorting_center"  # type: ignore[union-attr]


def test_staff_send_a_new_pickup_code(signed_in, make, factory) -> None:  # type: ignore[no-untyped-def]
    """A parcel that refuses codes (too many wrong ones) is unlocked from its page: a new code
    goes out by SMS, the count starts again; a merchant has no such button."""
    from schema.notifications import OutboxMessage
    from services.terminal import hash_pickup_code, verify_pickup_code

    parcel = make("Parcel", status="in_locker", recipient_phone="+375291234567",
                  recipient_language="ru", pickup_code_hash=hash_pickup_code("111111"),
                  code_failures=5, stored_until=datetime.now(UTC) + timedelta(days=2))
    merchant = signed_in(RoleCode.MERCHANT, merchant_id=parcel.merchant_id)
    assert 'id="reset-code"' not in merchant.get(f"/admin/parcels/details/{parcel.id}").text
    assert merchant.post(f"/admin/parcels/{parcel.id}/pickup-code",
                         follow_redirects=False).status_code == 403
    merchant.client.cookies.clear()
    tech = signed_in(RoleCode.TECHNICIAN)
    assert 'id="reset-code"' in tech.get(f"/admin/parcels/details/{parcel.id}").text
    done = tech.post(f"/admin/parcels/{parcel.id}/pickup-code")
    assert done.status_code == 200
    with factory() as session:
        row = session.get(Parcel, parcel.id)
        assert row is not None and row.code_failures == 0
        assert not verify_pickup_code(row.pickup_code_hash or "", "111111")
        sms = session.scalars(select(OutboxMessage).where(
            OutboxMessage.related_table == "parcels", OutboxMessage.related_id == parcel.id)).all()
        codes = [w for m in sms for w in m.body.replace(".", " ").split() if w.isdigit()
                 and len(w) == 6]
        assert any(verify_pickup_code(row.pickup_code_hash or "", c) for c in codes), sms
