"""Points from delivered orders and groups by thresholds (R-RULE-2)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from schema.customers import Customer, CustomerGroup, PointEntry
from schema.orders import Order
from schema.people import RoleCode
from services.actor import Actor, acting_as
from services.effects import EFFECTS
from services.errors import Refused
from services.points import award_points, group_for, order_points, regroup
from services.status import change_status
from tests.conftest import unique

MANAGER = Actor(user_id=None, username="manager", role=RoleCode.MANAGER.value)
# Ranges far from anything else the suite creates.
BASE = 7_000_000


@pytest.fixture(scope="module")
def groups(factory: sessionmaker[Session]) -> dict[str, int]:
    with factory() as session, session.begin():
        low = CustomerGroup(name=unique("pts low "), min_points=BASE, max_points=BASE + 49)
        high = CustomerGroup(name=unique("pts high "), min_points=BASE + 50,
                             max_points=BASE + 10_000)
        manual = CustomerGroup(name=unique("VIP "))
        session.add_all([low, high, manual])
        session.flush()
        return {"low": low.id, "high": high.id, "manual": manual.id}


def _order(factory: sessionmaker[Session], points: int, lines: tuple[tuple[int, int], ...],
           status: str = "shipped", group_id: int | None = None) -> tuple[int, int]:
    """An order (status ``status``) of a customer with ``points``; lines are (product points,
    quantity). Returns (order id, customer id)."""
    from seed.demo import factories as f

    with factory() as session, f.using_session(session):
        order = f.OrderFactory(status=status, customer__points=points,
                               customer__group_id=group_id)
        for product_points, quantity in lines:
            f.OrderLineFactory(order=order, quantity=quantity, product__points=product_points)
        session.commit()
        return order.id, order.customer_id


def test_delivery_awards_points_once_and_regroups(
    factory: sessionmaker[Session], groups: dict[str, int]
) -> None:
    order_id, customer_id = _order(factory, BASE + 10, ((5, 2), (7, 3), (0, 4)))  # 10+21+0
    with acting_as(MANAGER), factory() as session, session.begin():
        change_status(session, MANAGER, table="orders", record_id=order_id, field="status",
                      to_state="delivered")
    with factory() as session:
        customer = session.get(Customer, customer_id)
        assert customer.points == BASE + 41 and customer.group_id == groups["low"]
        entries = session.scalars(select(PointEntry).where(PointEntry.order_id == order_id)).all()
        assert [(e.customer_id, e.points) for e in entries] == [(customer_id, 31)]

    # Running the award again (a retried effect, a re-delivery) gives nothing more.
    with acting_as(MANAGER), factory() as session, session.begin():
        assert award_points(session, session.get(Order, order_id)) is None
    with factory() as session:
        assert session.get(Customer, customer_id).points == BASE + 41
        assert len(session.scalars(
            select(PointEntry).where(PointEntry.order_id == order_id)).all()) == 1


def test_crossing_a_threshold_moves_the_customer_up(
    factory: sessionmaker[Session], groups: dict[str, int]
) -> None:
    order_id, customer_id = _order(factory, BASE + 45, ((10, 1),), status="sent_to_postal",
                                   group_id=groups["low"])
    with acting_as(MANAGER), factory() as session, session.begin():
        change_status(session, MANAGER, table="orders", record_id=order_id, field="status",
                      to_state="delivered")
    with factory() as session:
        customer = session.get(Customer, customer_id)
        assert (customer.points, customer.group_id) == (BASE + 55, groups["high"])


def test_regroup_by_thresholds_and_manual_groups_stay(
    factory: sessionmaker[Session], groups: dict[str, int]
) -> None:
    with acting_as(MANAGER), factory() as session, session.begin():
        assert group_for(session, BASE).id == groups["low"]  # type: ignore[union-attr]
        assert group_for(session, BASE + 49).id == groups["low"]  # type: ignore[union-attr]
        assert group_for(session, BASE + 50).id == groups["high"]  # type: ignore[union-attr]
        assert group_for(session, BASE + 20_000) is None
        _order_id, customer_id = _order(factory, BASE + 60, ())
        customer = session.get(Customer, customer_id)
        customer.group_id = groups["low"]
        regroup(session, customer)
        assert customer.group_id == groups["high"]
        customer.points, customer.group_id = BASE + 20_000, groups["high"]
        regroup(session, customer)
        assert customer.group_id is None  # out of every range: leaves its thresholds group
        customer.points, customer.group_id = BASE + 10, groups["manual"]
        regroup(session, customer)
        assert customer.group_id == groups["manual"]  # given by hand: kept


def test_nothing_to_award_writes_nothing(factory: sessionmaker[Session]) -> None:
    order_id, customer_id = _order(factory, 0, ((0, 3),))
    with acting_as(MANAGER), factory() as session, session.begin():
        order = session.get(Order, order_id)
        assert order_points(session, order) == 0
        assert award_points(session, order) is None
        assert not session.scalars(select(PointEntry).where(PointEntry.order_id == order_id)).all()
        assert session.get(Customer, customer_id).points == 0


def test_the_effect_is_registered_and_refuses_other_records(make) -> None:  # type: ignore[no-untyped-def]
    effect = EFFECTS["award_points"]
    assert effect.label == "Award the customer the order's points"
    with pytest.raises(Refused, match="Only orders"):
        effect.run(None, MANAGER, make("Customer"), "Delivered")  # type: ignore[arg-type]
