"""The sorting centre's receiving page through real HTTP: a scan moves the parcel to "at sorting
centre" as the signed-in user, with its history row and the ``received`` event; the answer shows
the locker, the cell and the drop-off sticker link; the day's lists; an unknown barcode, a
parcel not expected here and a second scan are refused with the reason and write nothing; the
page's grant."""

from __future__ import annotations

from datetime import date
from itertools import count
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from schema.lockers import CellSize, CellState, Locker, LockerCell, Parcel, ParcelEvent
from schema.workflows import StatusChange
from tests.test_browser import _sign_in, chromium, live_server  # noqa: F401 (fixtures)

_serial = count(1)


def make_parcel(factory: sessionmaker[Session], merchant_id: int, status: str = "registered",
                drop_date: date | None = None) -> tuple[int, str, str, str]:
    """(id, barcode, locker code, cell code) of a parcel holding a reserved cell."""
    n = next(_serial)
    with factory() as session, session.begin():
        locker = Locker(code=f"SC-{n:04d}-{id(factory) % 1000}", name=f"Sorting locker {n}",
                        address="Lenina 5", city="Minsk")
        session.add(locker)
        session.flush()
        cell = LockerCell(locker_id=locker.id, code=f"A{n:02d}", size=CellSize.S,
                          state=CellState.RESERVED)
        session.add(cell)
        session.flush()
        parcel = Parcel(merchant_id=merchant_id, barcode=f"PDSC{n:05d}X{locker.id}",
                        locker_id=locker.id, cell_id=cell.id, size=CellSize.S, status=status,
                        currency="BYN", recipient_name=f"Recipient {n}",
                        recipient_phone="+375291112233", drop_date=drop_date or date.today())
        session.add(parcel)
        session.flush()
        return parcel.id, parcel.barcode, locker.code, cell.code


def writes(factory: sessionmaker[Session]) -> tuple[int, int]:
    with factory() as session:
        return (session.scalar(select(func.count(StatusChange.id))) or 0,
                session.scalar(select(func.count(ParcelEvent.id))) or 0)


def status_of(factory: sessionmaker[Session], parcel_id: int) -> str:
    with factory() as session:
        return str(session.scalar(select(Parcel.status).where(Parcel.id == parcel_id)))


def test_a_scan_receives_the_parcel(signed_in, make, factory) -> None:  # type: ignore[no-untyped-def]
    merchant = make("Merchant")
    pid, barcode, locker_code, cell_code = make_parcel(factory, merchant.id)
    later_id, later_barcode, _, _ = make_parcel(factory, merchant.id, "pickup_requested")
    clerk = signed_in("sorting_center")
    page = clerk.get("/admin/sorting-center")
    assert page.status_code == 200
    assert 'id="sc-barcode"' in page.text and "autofocus" in page.text
    assert barcode in page.text and later_barcode in page.text  # expected today

    # The scanner types the barcode (with its trailing blank) and presses Enter.
    answer = clerk.post("/admin/sorting-center", {"barcode": f" {barcode}\t"})
    assert answer.status_code == 200, answer.text[-500:]
    assert 'data-ok="1"' in answer.text
    assert f"Parcel {barcode} received" in answer.text
    assert locker_code in answer.text and cell_code in answer.text
    assert f"/admin/parcels/{pid}/sticker.pdf?layout=dropoff" in answer.text
    assert status_of(factory, pid) == "at_sorting_center"
    with factory() as session:
        change = session.scalars(select(StatusChange).where(
            StatusChange.table_name == "parcels", StatusChange.record_id == pid)).one()
        assert (change.from_state, change.to_state) == ("registered", "at_sorting_center")
        assert change.user_id is not None
        kinds = session.scalars(select(ParcelEvent.kind).where(
            ParcelEvent.parcel_id == pid)).all()
        assert [k.value for k in kinds] == ["received"]
    # The lists moved: received today, no longer expected.
    expected_part, received_part = answer.text.split('id="sc-received"', 1)
    assert barcode in received_part
    assert later_barcode in expected_part.split('id="sc-expected"', 1)[1]

    # The drop-off sticker the link points to prints for the sorting centre.
    sticker = clerk.get(f"/admin/parcels/{pid}/sticker.pdf?layout=dropoff")
    assert sticker.status_code == 200 and sticker.headers["content-type"] == "application/pdf"

    # A courier's pickup brought in: pickup_requested → at_sorting_center, by a manager too.
    manager = signed_in("manager")
    assert manager.post("/admin/sorting-center", {"barcode": later_barcode}).status_code == 200
    assert status_of(factory, later_id) == "at_sorting_center"


def test_refusals_say_why_and_write_nothing(signed_in, make, factory) -> None:  # type: ignore[no-untyped-def]
    merchant = make("Merchant")
    placed_id, placed, _, _ = make_parcel(factory, merchant.id, "in_locker")
    _pid, barcode, _, _ = make_parcel(factory, merchant.id)
    clerk = signed_in("sorting_center")
    before = writes(factory)

    unknown = clerk.post("/admin/sorting-center", {"barcode": "NO-SUCH-PARCEL-42"})
    assert unknown.status_code == 422
    assert 'data-ok="0"' in unknown.text
    assert "No parcel has the barcode NO-SUCH-PARCEL-42" in unknown.text

    wrong_state = clerk.post("/admin/sorting-center", {"barcode": placed})
    assert wrong_state.status_code == 422
    assert f"Parcel {placed} is not expected at the sorting centre" in wrong_state.text
    assert "In locker" in wrong_state.text  # the status, as the workflow names it
    assert status_of(factory, placed_id) == "in_locker"

    empty = clerk.post("/admin/sorting-center", {"barcode": "   "})
    assert empty.status_code == 422 and "Scan a parcel" in empty.text
    assert writes(factory) == before

    # Scanned twice: the second scan is refused and writes nothing more.
    assert clerk.post("/admin/sorting-center", {"barcode": barcode}).status_code == 200
    after_first = writes(factory)
    again = clerk.post("/admin/sorting-center", {"barcode": barcode})
    assert again.status_code == 422 and "not expected" in again.text
    assert writes(factory) == after_first


def test_the_page_needs_its_grant(signed_in, make, factory) -> None:  # type: ignore[no-untyped-def]
    merchant = make("Merchant")
    pid, barcode, _, _ = make_parcel(factory, merchant.id)
    for role in ("courier", "technician"):
        person = signed_in(role)
        assert person.get("/admin/sorting-center").status_code in (403, 404), role
        assert person.post("/admin/sorting-center", {"barcode": barcode}).status_code in (
            403, 404), role
    merchant_user = signed_in("merchant", merchant_id=merchant.id)
    assert merchant_user.post("/admin/sorting-center", {"barcode": barcode}).status_code in (
        403, 404)
    assert status_of(factory, pid) == "registered"


def test_scanning_without_a_mouse_in_chromium(  # type: ignore[no-untyped-def]
    live_server: str, chromium: Any, make_user, make, factory  # noqa: F811
) -> None:
    """Only the keyboard, as a scanner types: the input has the focus on load and after every
    scan, the outcome flashes green or red, the lists follow."""
    merchant = make("Merchant")
    pid, barcode, _locker, cell_code = make_parcel(factory, merchant.id)
    page = chromium.new_page()
    try:
        _sign_in(page, live_server, make_user("sorting_center"))
        page.goto(f"{live_server}/admin/sorting-center")
        assert page.evaluate("document.activeElement.id") == "sc-barcode"
        page.keyboard.type(barcode)
        page.keyboard.press("Enter")
        page.wait_for_selector('#sc-outcome[data-ok="1"]')
        assert cell_code in page.inner_text("#sc-outcome")
        assert barcode in page.inner_text("#sc-received")
        assert page.evaluate("document.activeElement.id") == "sc-barcode"
        assert page.input_value("#sc-barcode") == ""
        assert status_of(factory, pid) == "at_sorting_center"
        # A click elsewhere, then a scan: the keys still reach the input.
        page.click("h3.card-title")
        page.keyboard.type("NOPE-123")
        page.keyboard.press("Enter")
        page.wait_for_selector('#sc-outcome[data-ok="0"]')
        assert "NOPE-123" in page.inner_text("#sc-outcome .alert-danger")
        assert page.evaluate("document.activeElement.id") == "sc-barcode"
    finally:
        page.close()
