"""services.ordering.place_order: exact totals, discount usage, refusals that write nothing, and
discount limits under concurrency (PostgreSQL)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from schema.discounts import Discount, DiscountUsage
from schema.orders import Order, OrderLine
from services.errors import Refused
from services.ordering import (
    DiscountExhausted,
    DiscountNotApplicable,
    OrderInput,
    place_order,
)
from services.pricing import CartItem, PaymentUnavailable, ShippingUnavailable
from tests.test_pricing_services import Shop, build_shop

D = Decimal
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def shop(factory: sessionmaker[Session]) -> Shop:
    return build_shop(factory)


def _set_discount(factory: sessionmaker[Session], discount_id: int, **values: object) -> None:
    with factory() as s, s.begin():
        discount = s.get(Discount, discount_id)
        assert discount is not None
        for key, value in values.items():
            setattr(discount, key, value)


def _counts(session: Session) -> tuple[int, int, int]:
    return (session.scalar(select(func.count()).select_from(Order)) or 0,
            session.scalar(select(func.count()).select_from(OrderLine)) or 0,
            session.scalar(select(func.count()).select_from(DiscountUsage)) or 0)


def test_order_is_placed_with_exact_totals_and_usage(factory: sessionmaker[Session],
                                                     shop: Shop) -> None:
    order_input = OrderInput(
        cart=[CartItem(shop.big, 2), CartItem(shop.small, 3)],
        shipping_method_id=shop.pishtaz, payment_method_id=shop.online,
        customer_id=shop.customer, discount_code=shop.code, recipient_name="Ann",
    )
    with factory() as session, session.begin():
        order = place_order(session, shop.merchant, order_input, now=NOW)
        order_id = order.id
    with factory() as session:
        order = session.get(Order, order_id)
        assert order is not None
        # 100000 + 3000 = 103000; code: 10 % of the small line = 300; goods 102700 (>= 100000,
        # so Pishtaz row 1: 3500); online 2 % of 102700 = 2054.
        assert (order.subtotal, order.discount_total, order.shipping_cost, order.tax_total,
                order.payable, order.balance_due) == (
            D("103000.00"), D("300.00") + D("2054.00"), D("3500.00"), D(0),
            D("103000") - D("300") - D("2054") + D("3500"), D("104146.00"))
        assert order.number.startswith("PD") and order.merchant_id == shop.merchant
        assert (order.status, order.shipping_status) == ("awaiting_confirmation", "not_loaded")
        assert (order.discount_id, order.discount_code, order.currency) == (
            shop.code_id, shop.code, "BYN")
        assert order.total_weight_g == 2 * 700 + 3 * 25
        assert [(line.product_id, line.quantity, line.unit_price, line.line_total,
                 line.discount_amount) for line in order.lines] == [
            (shop.big, 2, D(50000), D("100000.00"), D(0)),
            (shop.small, 3, D(1000), D("3000.00"), D("300.00"))]
        usage = session.scalars(select(DiscountUsage).where(
            DiscountUsage.order_id == order_id)).one()
        assert (usage.discount_id, usage.customer_id, usage.amount) == (
            shop.code_id, shop.customer, D("300.00"))
        discount = session.get(Discount, shop.code_id)
        assert discount is not None and discount.times_used == 1


def test_order_numbers_are_unique(factory: sessionmaker[Session], shop: Shop) -> None:
    numbers = set()
    for _ in range(5):
        with factory() as session, session.begin():
            numbers.add(place_order(session, shop.merchant,
                                    OrderInput(cart=[CartItem(shop.small, 1)])).number)
    assert len(numbers) == 5


@pytest.mark.parametrize("change", ["out_of_range", "inactive_payment", "foreign", "code"])
def test_refusals_write_nothing(factory: sessionmaker[Session], shop: Shop, change: str) -> None:
    order_input = OrderInput(cart=[CartItem(shop.big, 1)], shipping_method_id=shop.motor,
                             payment_method_id=shop.online, customer_id=shop.customer,
                             discount_code=shop.code)
    expected: type[Refused] = DiscountNotApplicable  # the code is for the small product only
    if change == "out_of_range":
        order_input = OrderInput(cart=[CartItem(shop.big, 1)], shipping_method_id=shop.bike)
        expected = ShippingUnavailable
    elif change == "inactive_payment":
        with factory() as s, s.begin():
            from schema.payments import PaymentMethod

            method = s.get(PaymentMethod, shop.cash)
            assert method is not None
            method.active = False
        order_input = OrderInput(cart=[CartItem(shop.big, 1)], payment_method_id=shop.cash)
        expected = PaymentUnavailable
    elif change == "foreign":
        order_input = OrderInput(cart=[CartItem(shop.big, 1), CartItem(shop.foreign, 1)])
        from services.pricing import ProductNotFound

        expected = ProductNotFound
    with factory() as session:
        before = _counts(session)
    with factory() as session:
        with pytest.raises(expected) as caught:
            with session.begin():
                place_order(session, shop.merchant, order_input, now=NOW)
    with factory() as session:
        assert _counts(session) == before
        discount = session.get(Discount, shop.code_id)
        assert discount is not None and discount.times_used == 0
    if change == "out_of_range":
        assert str(caught.value) == (
            f"The shipping method {shop.bike} cannot deliver this order: The shipping method "
            "is not offered for this order: cost row 1 marks it out of range.")
        assert caught.value.code == "shipping_unavailable"  # type: ignore[attr-defined]
    if change == "code":
        assert "None of the discount's products is in the cart." in str(caught.value)


def test_total_limit_refuses_with_no_uses_left(factory: sessionmaker[Session],
                                               shop: Shop) -> None:
    _set_discount(factory, shop.code_id, total_uses_allowed=1)
    order_input = OrderInput(cart=[CartItem(shop.small, 1)], discount_code=shop.code)
    with factory() as session, session.begin():
        place_order(session, shop.merchant, order_input)
    with factory() as session, pytest.raises(DiscountExhausted) as caught, session.begin():
        place_order(session, shop.merchant, order_input)
    assert str(caught.value) == f"The discount code {shop.code} has no uses left."
    assert caught.value.code == "discount_exhausted"


def test_per_customer_limit(factory: sessionmaker[Session], shop: Shop) -> None:
    _set_discount(factory, shop.code_id, uses_per_customer=2)
    order_input = OrderInput(cart=[CartItem(shop.small, 1)], discount_code=shop.code,
                             customer_id=shop.customer)
    for _ in range(2):
        with factory() as session, session.begin():
            place_order(session, shop.merchant, order_input)
    with factory() as session, pytest.raises(DiscountNotApplicable) as caught, session.begin():
        place_order(session, shop.merchant, order_input)
    assert "already used this discount the 2 times allowed per customer" in str(caught.value)
    # A guest is not limited per customer (R-RULE-1: only logged-in customers are counted).
    with factory() as session, session.begin():
        place_order(session, shop.merchant, OrderInput(cart=[CartItem(shop.small, 1)],
                                                       discount_code=shop.code))
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(DiscountUsage).where(
            DiscountUsage.discount_id == shop.code_id,
            DiscountUsage.customer_id == shop.customer)) == 2


def _race(factory: sessionmaker[Session], shop: Shop, order_input: OrderInput,
          threads: int) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def attempt() -> None:
        barrier.wait()
        try:
            with factory() as session, session.begin():
                place_order(session, shop.merchant, order_input)
            result = "ok"
        except Refused as exc:
            result = str(exc)
        except Exception as exc:  # reported in the assertion
            result = f"error: {exc!r}"
        with lock:
            outcomes[result] += 1

    workers = [threading.Thread(target=attempt) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    return outcomes


def test_concurrent_orders_never_exceed_the_total_limit(
        factory: sessionmaker[Session], backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("row locks and concurrent writers need PostgreSQL; SQLite serialises "
                    "writers and its correctness comes from the conditional UPDATE, tested "
                    "above")
    shop = build_shop(factory, total_uses_allowed=8, times_used=3)  # 5 uses left
    outcomes = _race(factory, shop, OrderInput(cart=[CartItem(shop.small, 1)],
                                               discount_code=shop.code), 50)
    assert outcomes == Counter({"ok": 5,
                                f"The discount code {shop.code} has no uses left.": 45})
    with factory() as session:
        discount = session.get(Discount, shop.code_id)
        assert discount is not None and discount.times_used == 8
        assert session.scalar(select(func.count()).select_from(DiscountUsage).where(
            DiscountUsage.discount_id == shop.code_id)) == 5


def test_concurrent_orders_never_exceed_the_per_customer_limit(
        factory: sessionmaker[Session], backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("row locks and concurrent writers need PostgreSQL")
    shop = build_shop(factory, uses_per_customer=2)
    outcomes = _race(factory, shop, OrderInput(cart=[CartItem(shop.small, 1)],
                                               discount_code=shop.code,
                                               customer_id=shop.customer), 20)
    assert outcomes["ok"] == 2, outcomes
    assert sum(n for text, n in outcomes.items() if "times allowed per customer" in text) == 18
