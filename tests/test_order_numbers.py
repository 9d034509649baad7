"""One order-numbering scheme for every channel: ``<prefix>-<id>`` (services.ordering).

The API, manual entry and the demo generator number alike; the prefix is the setting
``order_number_prefix``; numbers stay unique when 20 placements race on PostgreSQL; numbers
given before the scheme stay as they are and are never handed out again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from schema.orders import Order
from schema.people import Merchant, Setting
from seed.demo import factories as f
from services.ordering import NUMBER_PREFIX_SETTING, OrderInput, place_order
from services.pricing import CartItem
from tests.test_pricing_services import Shop, build_shop


@pytest.fixture(scope="module")
def shop(factory: sessionmaker[Session]) -> Shop:
    return build_shop(factory)


@pytest.fixture
def prefix(factory: sessionmaker[Session]) -> Iterator[None]:
    """Puts the seeded prefix back after a test that changes it."""
    yield
    _set_prefix(factory, "PD")


def _set_prefix(factory: sessionmaker[Session], value: str) -> None:
    with factory() as s, s.begin():
        s.scalars(select(Setting).where(Setting.key == NUMBER_PREFIX_SETTING)).one().value = value


def _place(factory: sessionmaker[Session], shop: Shop, **kw: object) -> tuple[int, str]:
    with factory() as session, session.begin():
        order = place_order(session, shop.merchant,
                            OrderInput(cart=[CartItem(shop.small, 1)], **kw))  # type: ignore[arg-type]
        return order.id, order.number


def test_number_is_the_prefix_and_the_id(factory: sessionmaker[Session], shop: Shop) -> None:
    order_id, number = _place(factory, shop)
    assert number == f"PD-{order_id:06d}"
    with factory() as session:  # what was stored, not only what the object says
        assert session.scalar(select(Order.number).where(Order.id == order_id)) == number


def test_prefix_comes_from_the_setting(factory: sessionmaker[Session], shop: Shop,
                                       prefix: None) -> None:
    _set_prefix(factory, "  SHOP  ")
    order_id, number = _place(factory, shop, channel="admin")
    assert number == f"SHOP-{order_id:06d}"
    _set_prefix(factory, "")
    order_id, number = _place(factory, shop, channel="app")
    assert number == f"{order_id:06d}"


def test_a_number_given_before_is_never_given_again(factory: sessionmaker[Session],
                                                   shop: Shop) -> None:
    with factory() as s, f.using_session(s):
        merchant = s.get(Merchant, shop.merchant)
        old = f.OrderFactory(merchant=merchant, customer=None, number="PD-OLD-1")
        s.commit()
        next_id = old.id + 1
        # An order numbered by hand as the scheme would number the next one.
        f.OrderFactory(merchant=merchant, customer=None, number=f"PD-{next_id + 1:06d}")
        s.commit()
    order_id, number = _place(factory, shop)
    assert order_id == next_id + 1 and number == f"PD-{order_id:06d}-2"
    with factory() as session:
        assert session.scalar(select(Order.number).where(Order.id == old.id)) == "PD-OLD-1"


def test_twenty_concurrent_placements_get_distinct_numbers(
        factory: sessionmaker[Session], shop: Shop, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL; SQLite runs one writer at a time")
    threads = 20
    barrier = threading.Barrier(threads)
    results: list[tuple[int, str] | BaseException] = []
    lock = threading.Lock()

    def attempt() -> None:
        barrier.wait()
        try:
            result: tuple[int, str] | BaseException = _place(factory, shop)
        except BaseException as exc:  # reported by the assertion below
            result = exc
        with lock:
            results.append(result)

    workers = [threading.Thread(target=attempt) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert all(isinstance(r, tuple) for r in results), results
    placed = [r for r in results if isinstance(r, tuple)]
    assert len(placed) == threads
    assert len({number for _, number in placed}) == threads
    assert all(number == f"PD-{order_id:06d}" for order_id, number in placed)


def test_manual_entry_numbers_alike_and_logs_the_order_once(  # type: ignore[no-untyped-def]
        factory: sessionmaker[Session], shop: Shop, signed_in) -> None:
    """A person's order: the same scheme, and the change log shows it created with its number
    (the number is right from the INSERT: no second write, no provisional value anywhere)."""
    from schema.audit import ChangeLog
    from tests.test_manual_order import _order_form

    manager = signed_in("manager")
    form = {**_order_form(shop), "recipient_name": "Numbered by hand"}
    response = manager.post("/admin/orders/new", form, follow_redirects=False)
    assert response.status_code == 303
    with factory() as session:
        order = session.scalars(select(Order).where(
            Order.recipient_name == "Numbered by hand")).one()
        assert order.number == f"PD-{order.id:06d}" and order.version == 1
        log = session.scalars(select(ChangeLog).where(
            ChangeLog.table_name == "orders", ChangeLog.record_id == order.id)).all()
        assert [(entry.action, entry.changes["number"][1]) for entry in log] == [
            ("create", order.number)]
