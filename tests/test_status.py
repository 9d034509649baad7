"""The one way to change a status: checks, history, effects, refusals, concurrency."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from schema.base import utcnow
from schema.catalog import StockLevel
from schema.lockers import (
    CellState,
    LedgerEntry,
    LockerCell,
    Parcel,
    ParcelEvent,
    ParcelEventKind,
)
from schema.notifications import OutboxMessage
from schema.orders import Order, OrderMessage
from schema.people import Merchant, RoleCode
from schema.workflows import StatusChange
from services.actor import Actor, acting_as
from services.errors import Conflict, Refused
from services.status import change_status
from tests.locker_money import set_tariff

MANAGER = Actor(user_id=None, username="manager", role=RoleCode.MANAGER.value)
MARKETER = Actor(user_id=None, username="marketer", role=RoleCode.MARKETER.value)


def _change(factory: sessionmaker[Session], actor: Actor, **kw: object) -> StatusChange:
    with acting_as(actor), factory() as session, session.begin():
        return change_status(session, actor, **kw)  # type: ignore[arg-type]


def _outbox_for(session: Session, order: Order) -> int:
    return session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.related_table == "orders", OutboxMessage.related_id == order.id)) or 0


def test_allowed_change_moves_status_writes_history_and_runs_effects(
    make, factory: sessionmaker[Session]  # type: ignore[no-untyped-def]
) -> None:
    order = make("Order", lines=1, recipient_phone="+375291234567")
    change = _change(factory, MANAGER, table="orders", record_id=order.id, field="status",
                     to_state="confirmed", comment="paid online")
    with factory() as session:
        stored = session.get(Order, order.id)
        assert stored.status == "confirmed" and stored.version == order.version + 1
        row = session.get(StatusChange, change.id)
        assert (row.from_state, row.to_state, row.comment) == (
            "awaiting_confirmation", "confirmed", "paid online")
        assert row.at is not None and row.table_name == "orders"
        # confirmed notifies the customer: queued with the change, shown on the messages tab
        assert _outbox_for(session, stored) == 1
        message = session.scalar(select(OrderMessage).where(OrderMessage.order_id == order.id))
        assert message is not None and message.recipient == "+375291234567"


def test_refused_change_says_why_and_changes_nothing(make, factory: sessionmaker[Session]) -> None:  # type: ignore[no-untyped-def]
    order = make("Order", lines=1)
    with pytest.raises(Refused) as refused:
        _change(factory, MANAGER, table="orders", record_id=order.id, field="status",
                to_state="delivered")
    assert "does not allow" in str(refused.value)
    with factory() as session:
        assert session.get(Order, order.id).status == "awaiting_confirmation"
        assert not session.scalars(select(StatusChange).where(
            StatusChange.table_name == "orders", StatusChange.record_id == order.id)).all()


def test_role_guard_and_required_comment(make, factory: sessionmaker[Session]) -> None:  # type: ignore[no-untyped-def]
    order = make("Order", lines=1)
    with pytest.raises(Refused, match="role"):
        _change(factory, MARKETER, table="orders", record_id=order.id, field="status",
                to_state="confirmed")
    with pytest.raises(Refused, match="comment"):
        _change(factory, MANAGER, table="orders", record_id=order.id, field="status",
                to_state="not_confirmed")
    _change(factory, MANAGER, table="orders", record_id=order.id, field="status",
            to_state="not_confirmed", comment="the bank slip amount does not match")


def test_shipping_status_needs_a_comment_and_a_date(make, factory: sessionmaker[Session]) -> None:  # type: ignore[no-untyped-def]
    order = make("Order", lines=1)
    with pytest.raises(Refused, match="date"):
        _change(factory, MANAGER, table="orders", record_id=order.id, field="shipping_status",
                to_state="left_warehouse", comment="truck 7")
    change = _change(factory, MANAGER, table="orders", record_id=order.id,
                     field="shipping_status", to_state="left_warehouse", comment="truck 7",
                     effective_date=date(2026, 11, 20))
    assert change.effective_date == date(2026, 11, 20)


def test_a_stale_decision_is_a_conflict(make, factory: sessionmaker[Session]) -> None:  # type: ignore[no-untyped-def]
    order = make("Order", lines=1)
    _change(factory, MANAGER, table="orders", record_id=order.id, field="status",
            to_state="confirmed")
    with pytest.raises(Conflict, match="meanwhile"):
        _change(factory, MANAGER, table="orders", record_id=order.id, field="status",
                to_state="not_confirmed", comment="x", expected_state="awaiting_confirmation")


def test_concurrent_changes_exactly_one_wins(backend: str, make,  # type: ignore[no-untyped-def]
                                             factory: sessionmaker[Session]) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers; real concurrency is proven on PostgreSQL")
    for _ in range(5):
        order = make("Order", lines=1)
        ready = threading.Barrier(2)
        outcomes: list[str] = []

        def attempt(target: str, comment: str | None, order_id: int = order.id,
                    ready: threading.Barrier = ready, outcomes: list[str] = outcomes) -> None:
            with acting_as(MANAGER), factory() as session:
                session.get(Order, order_id)
                ready.wait()
                try:  # both transactions are open and have read the order
                    change_status(session, MANAGER, table="orders", record_id=order_id,
                                  field="status", to_state=target, comment=comment)
                    session.commit()
                    outcomes.append("won")
                except Conflict:
                    session.rollback()
                    outcomes.append("conflict")

        threads = [threading.Thread(target=attempt, args=("confirmed", None)),
                   threading.Thread(target=attempt, args=("not_confirmed", "slip rejected"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["conflict", "won"]
        with factory() as session:
            changes = session.scalars(select(StatusChange).where(
                StatusChange.table_name == "orders", StatusChange.record_id == order.id)).all()
            assert len(changes) == 1
            assert session.get(Order, order.id).status == changes[0].to_state


def test_return_stock_effect(factory: sessionmaker[Session]) -> None:
    from seed.demo import factories as f

    with factory() as session, f.using_session(session):
        order = f.OrderFactory(status="delivered")
        warehouse = f.WarehouseFactory(merchant=order.merchant)
        line = f.OrderLineFactory(order=order, warehouse=warehouse, quantity=2)
        level = f.StockLevelFactory(product=line.product, warehouse=warehouse, variant=None,
                                    quantity=5)
        session.commit()
        order_id, level_id = order.id, level.id
    _change(factory, MANAGER, table="orders", record_id=order_id, field="status",
            to_state="returned", comment="customer refused the goods")
    with factory() as session:
        assert session.get(StockLevel, level_id).quantity == 7


def test_parcel_effects_release_the_cell_and_record_the_charged_event(  # type: ignore[no-untyped-def]
    make, factory: sessionmaker[Session]
) -> None:
    """A manager returns an expired parcel by hand: the cell is freed, the journey's
    ``returned`` event is written, and the late days are charged from it (issue 13)."""
    parcel = make("Parcel", status="storage_expired")
    with factory() as session, session.begin():
        stored = session.get(Parcel, parcel.id)
        cell = session.scalars(select(LockerCell).where(LockerCell.locker_id == stored.locker_id)
                               ).first() or LockerCell(locker_id=stored.locker_id, code="Z9")
        cell.state = CellState.OCCUPIED
        session.add(cell)
        session.flush()
        stored.cell_id = cell.id
        stored.size = cell.size
        stored.stored_until = utcnow() - timedelta(days=1, hours=1)  # 2 days started
        set_tariff(session, stored.locker.zone_id, cell.size, currency=stored.merchant.currency,
                   extra_day_price=Decimal("0.70"))
        balance_before = session.get(Merchant, stored.merchant_id).balance
        cell_id, merchant_id = cell.id, stored.merchant_id
    _change(factory, MANAGER, table="parcels", record_id=parcel.id, field="status",
            to_state="returned", comment="not collected")
    with factory() as session:
        assert session.get(Parcel, parcel.id).cell_id is None
        assert session.get(LockerCell, cell_id).state is CellState.FREE
        event = session.scalar(select(ParcelEvent).where(
            ParcelEvent.parcel_id == parcel.id, ParcelEvent.kind == ParcelEventKind.RETURNED))
        assert event is not None
        entry = session.scalar(select(LedgerEntry).where(LedgerEntry.event_id == event.id))
        assert entry is not None and entry.amount == Decimal("-1.40")
        assert session.get(Merchant, merchant_id).balance == balance_before + entry.amount


def test_a_rolled_back_change_leaves_no_message(make, factory: sessionmaker[Session]) -> None:  # type: ignore[no-untyped-def]
    order = make("Order", lines=1, recipient_phone="+375290000000")
    with acting_as(MANAGER), factory() as session:
        session.begin()
        change_status(session, MANAGER, table="orders", record_id=order.id, field="status",
                      to_state="confirmed")
        session.rollback()
    with factory() as session:
        assert session.get(Order, order.id).status == "awaiting_confirmation"
        assert _outbox_for(session, session.get(Order, order.id)) == 0
