"""Storage expiry (services.parcel_expiry) on SQLite and PostgreSQL: the last-day reminder goes
once; at the deadline a parcel is extended once when its merchant allows it, otherwise it moves
to "storage expired" as the workflow's system role with its history row and event, and stays
on its courier's My tasks as the return task; one failing parcel does not stop the others;
stale reservations are released."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from schema.base import utcnow
from schema.lockers import CellSize, CellState, LockerCell, Parcel, ParcelEvent, ParcelEventKind
from schema.notifications import OutboxMessage
from schema.people import Merchant, User
from schema.workflows import StatusChange
from services import parcel_expiry
from services.worker import JOBS


def _phone() -> str:
    _phone.n = getattr(_phone, "n", 0) + 1  # type: ignore[attr-defined]
    return f"+37529{_phone.n:07d}{id(_phone) % 7}"  # type: ignore[attr-defined]


@pytest.fixture
def placed(make, factory):  # type: ignore[no-untyped-def]
    """make_placed(hours_left, extension_days=0, **parcel fields): a parcel in an occupied
    cell, placed by a courier, whose storage ends ``hours_left`` hours from now."""

    def make_placed(hours_left: float, extension_days: int = 0, **kw: Any) -> Parcel:
        merchant = make("Merchant", storage_extension_days=extension_days)
        cell = make("LockerCell", size=CellSize.M, state=CellState.OCCUPIED)
        courier = kw.pop("courier", None) or make("Courier")
        now = utcnow()
        parcel = make("Parcel", merchant=merchant, status="in_locker",
                      recipient_phone=kw.pop("recipient_phone", _phone()),
                      placed_at=now - timedelta(days=2), courier_id=courier.id,
                      stored_until=now + timedelta(hours=hours_left), **kw)
        with factory() as session, session.begin():
            row = session.get(Parcel, parcel.id)
            assert row is not None
            row.cell_id, row.locker_id = cell.id, cell.locker_id
        return parcel

    return make_placed


def _get(factory: sessionmaker[Session], parcel_id: int) -> Parcel:
    with factory() as session:
        parcel = session.get(Parcel, parcel_id)
        assert parcel is not None
        return parcel


def _sms(factory: sessionmaker[Session], parcel: Parcel) -> list[str]:
    with factory() as session:
        return list(session.scalars(
            select(OutboxMessage.body).where(OutboxMessage.related_table == "parcels",
                                             OutboxMessage.related_id == parcel.id)
            .order_by(OutboxMessage.id)))


def _events(factory: sessionmaker[Session], parcel_id: int) -> list[ParcelEventKind]:
    with factory() as session:
        return list(session.scalars(select(ParcelEvent.kind)
                                    .where(ParcelEvent.parcel_id == parcel_id)))


def test_the_jobs_are_registered_for_the_worker() -> None:
    assert {"parcel_last_day_reminders", "parcel_storage_expiry",
            "parcel_stale_reservations"} <= set(JOBS)


def test_the_last_day_reminder_goes_once(placed, factory) -> None:  # type: ignore[no-untyped-def]
    due = placed(10, declared_price=Decimal("12.50"), currency="BYN", recipient_language="en")
    prepaid = placed(20, recipient_language="ru")
    later = placed(30)
    parcel_expiry.send_reminders(factory)
    parcel_expiry.send_reminders(factory)  # a second pass, a second worker: nothing more
    [text] = _sms(factory, due)
    assert due.barcode in text and "12.50" in text and "Last day" in text
    [ru_text] = _sms(factory, prepaid)
    assert prepaid.barcode in ru_text and "12.50" not in ru_text
    assert _sms(factory, later) == []
    assert _get(factory, due.id).reminded_at is not None
    assert _get(factory, later.id).reminded_at is None
    assert _get(factory, due.id).status == "in_locker"


def test_expiry_without_extension_is_the_return_task(  # type: ignore[no-untyped-def]
        placed, factory, make, make_user, browser) -> None:
    username = make_user("courier")
    with factory() as session:
        user_id = session.scalar(select(User.id).where(User.username == username))
    courier = make("Courier", user_id=user_id)
    parcel = placed(-1, courier=courier, recipient_language="fa")
    cell_id = _get(factory, parcel.id).cell_id
    assert parcel_expiry.expire_parcels(factory) >= 1
    parcel_expiry.expire_parcels(factory)  # again: nothing twice
    after = _get(factory, parcel.id)
    assert after.status == "storage_expired" and after.courier_id == courier.id
    assert after.cell_id == cell_id  # still in its cell until the courier collects it
    assert _events(factory, parcel.id) == [ParcelEventKind.EXPIRED]
    with factory() as session:
        changes = session.execute(
            select(StatusChange.from_state, StatusChange.to_state, StatusChange.user_id)
            .where(StatusChange.table_name == "parcels", StatusChange.record_id == parcel.id)
        ).all()
        assert session.get(LockerCell, cell_id).state is CellState.OCCUPIED  # type: ignore[union-attr]
    assert [tuple(c) for c in changes] == [("in_locker", "storage_expired", None)]
    assert len(_sms(factory, parcel)) == 1  # the workflow's status SMS to the buyer
    # The return task: on the courier's My tasks, with the move to "returned".
    assert browser.login(username).status_code == 302
    tasks = browser.get("/admin/my-tasks").text
    assert parcel.barcode in tasks and 'value="returned"' in tasks


def test_expiry_with_extension_extends_once(placed, factory) -> None:  # type: ignore[no-untyped-def]
    parcel = placed(-1, extension_days=2, declared_price=Decimal("5.00"), currency="BYN",
                    recipient_language="en")
    before = _get(factory, parcel.id).stored_until
    assert before is not None
    parcel_expiry.expire_parcels(factory)
    extended = _get(factory, parcel.id)
    assert extended.status == "in_locker" and extended.extended
    assert extended.stored_until == before + timedelta(days=2)
    [text] = _sms(factory, parcel)
    assert "extended" in text and "5.00" in text
    parcel_expiry.expire_parcels(factory)  # the new deadline is ahead: nothing happens
    assert _get(factory, parcel.id).status == "in_locker"
    # Past the extended deadline there is no second extension: it expires.
    parcel_expiry.expire_parcels(factory, utcnow() + timedelta(days=3))
    assert _get(factory, parcel.id).status == "storage_expired"
    assert _get(factory, parcel.id).stored_until == before + timedelta(days=2)
    assert _events(factory, parcel.id) == [ParcelEventKind.EXPIRED]


def test_one_failing_parcel_does_not_stop_the_rest(  # type: ignore[no-untyped-def]
        placed, factory, monkeypatch) -> None:
    bad, good = placed(-2), placed(-1)
    real = parcel_expiry.change_status

    def flaky(session: Session, actor: Any, **kw: Any) -> Any:
        if kw["record_id"] == bad.id:
            raise RuntimeError("a broken parcel")
        return real(session, actor, **kw)

    monkeypatch.setattr(parcel_expiry, "change_status", flaky)
    parcel_expiry.expire_parcels(factory)
    assert _get(factory, bad.id).status == "in_locker" and _events(factory, bad.id) == []
    assert _get(factory, good.id).status == "storage_expired"
    monkeypatch.setattr(parcel_expiry, "change_status", real)
    parcel_expiry.expire_parcels(factory)  # the next pass takes it
    assert _get(factory, bad.id).status == "storage_expired"


def test_stale_reservations_are_released(make, factory) -> None:  # type: ignore[no-untyped-def]
    parcels = pytest.importorskip("services.parcels", reason="services.parcels (registration "
                                  "helper) is not in the tree yet")
    if not hasattr(parcels, "release_stale_reservations"):
        pytest.skip("services.parcels.release_stale_reservations is not written yet")
    cell = make("LockerCell", size=CellSize.S, state=CellState.RESERVED)
    parcel = make("Parcel", status="registered", reserved_until=utcnow() - timedelta(hours=1))
    with factory() as session, session.begin():
        row = session.get(Parcel, parcel.id)
        assert row is not None
        row.cell_id, row.locker_id = cell.id, cell.locker_id
    assert parcel_expiry.release_reservations(factory) >= 1
    assert _get(factory, parcel.id).cell_id is None
    with factory() as session:
        assert session.get(LockerCell, cell.id).state is CellState.FREE  # type: ignore[union-attr]
        assert session.get(Merchant, parcel.merchant_id) is not None
