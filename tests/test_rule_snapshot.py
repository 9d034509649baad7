"""services.rule_snapshot: the shipping and payment rules kept per process are never older than
the tables — every kind of change, committed by another session, shows in the next quote."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from schema.catalog import Category, Product
from schema.discounts import Discount
from schema.payments import PaymentGateway, PaymentMethod
from schema.people import Setting
from schema.shipping import ShippingCostRow, ShippingMethod, shipping_method_categories
from seed.demo import factories as f
from services.pricing import CartItem, delivery_options, quote_cart
from services.rule_snapshot import rule_snapshot
from tests.test_pricing_services import Shop, build_shop

D = Decimal


@pytest.fixture
def shop(factory: sessionmaker[Session]) -> Shop:
    return build_shop(factory)


def _pishtaz_cost(factory: sessionmaker[Session], shop: Shop) -> Decimal:
    with factory() as s:
        quote = quote_cart(s, shop.merchant, [CartItem(shop.big, 2)],
                           shipping_method_id=shop.pishtaz)
        return quote.shipping.cost


def _committed(factory: sessionmaker[Session], change: Callable[[Session], object]) -> None:
    with factory() as s, s.begin():
        change(s)


def test_an_unchanged_database_reuses_the_snapshot(factory: sessionmaker[Session],
                                                   shop: Shop) -> None:
    with factory() as s:
        first = rule_snapshot(s)
    with factory() as s:
        assert rule_snapshot(s) is first


def test_an_edited_cost_row_shows_in_the_next_quote(factory: sessionmaker[Session],
                                                    shop: Shop) -> None:
    assert _pishtaz_cost(factory, shop) == D(3500)

    def cheaper(s: Session) -> None:
        row = s.scalars(select(ShippingCostRow).where(
            ShippingCostRow.shipping_method_id == shop.pishtaz)).one()
        row.cost = D(2900)

    _committed(factory, cheaper)
    assert _pishtaz_cost(factory, shop) == D(2900)


def test_a_deleted_and_a_new_row_show_in_the_next_quote(factory: sessionmaker[Session],
                                                        shop: Shop) -> None:
    assert _pishtaz_cost(factory, shop) == D(3500)

    def replace_row(s: Session) -> None:
        s.execute(delete(ShippingCostRow).where(
            ShippingCostRow.shipping_method_id == shop.pishtaz))
        s.add(ShippingCostRow(shipping_method_id=shop.pishtaz, position=1,
                              min_cart_price=D(100000), cost=D(4100)))

    _committed(factory, replace_row)
    assert _pishtaz_cost(factory, shop) == D(4100)


def test_a_method_switched_off_disappears_from_the_options(factory: sessionmaker[Session],
                                                           shop: Shop) -> None:
    def offered(kind: str) -> set[int]:
        with factory() as s:
            options = delivery_options(s, shop.merchant, [CartItem(shop.big, 1)])
            return {o.method_id for o in getattr(options, kind)}

    assert shop.motor in offered("shipping") and shop.cash in offered("payment")

    def switch_off(s: Session) -> None:
        s.get_one(ShippingMethod, shop.motor).active = False
        s.get_one(PaymentMethod, shop.cash).active = False

    _committed(factory, switch_off)
    assert shop.motor not in offered("shipping")
    assert shop.cash not in offered("payment")


def test_category_links_changed_without_touching_the_method_show(
        factory: sessionmaker[Session], shop: Shop) -> None:
    with factory() as s, f.using_session(s):
        first, second = f.CategoryFactory(), f.CategoryFactory()
        s.commit()
        first_id, second_id = first.id, second.id
    _committed(factory, lambda s: s.execute(insert(shipping_method_categories).values(
        shipping_method_id=shop.bike, category_id=first_id)))
    with factory() as s:
        assert rule_snapshot(s).shipping_methods([shop.bike])[0].category_ids == {first_id}

    def relink(s: Session) -> None:  # the same number of links, another category
        s.execute(update(shipping_method_categories).where(
            shipping_method_categories.c.shipping_method_id == shop.bike).values(
            category_id=second_id))

    _committed(factory, relink)
    with factory() as s:
        assert rule_snapshot(s).shipping_methods([shop.bike])[0].category_ids == {second_id}
        assert s.get(Category, second_id) is not None


def test_a_gateway_rate_and_the_system_currency_show(factory: sessionmaker[Session],
                                                     shop: Shop) -> None:
    with factory() as s, f.using_session(s):
        gateway = f.PaymentGatewayFactory(conversion_rate=D(1))
        s.get_one(PaymentMethod, shop.online).gateway_id = gateway.id
        s.commit()
        gateway_id = gateway.id

    def rate(s: Session) -> None:
        s.get_one(PaymentGateway, gateway_id).conversion_rate = D(10)

    _committed(factory, rate)
    with factory() as s:
        (_, found), = rule_snapshot(s).payment_methods([shop.online])
        assert found is not None and found.conversion_rate == D(10)
        before = rule_snapshot(s).currency

    def currency(s: Session) -> None:
        setting = s.scalar(select(Setting).where(Setting.key == "system_currency"))
        if setting is None:
            s.add(Setting(key="system_currency", value="IRR"))
        else:
            setting.value = "IRR" if before != "IRR" else "BYN"

    _committed(factory, currency)
    with factory() as s:
        assert rule_snapshot(s).currency == ("IRR" if before != "IRR" else "BYN")

    def restore(s: Session) -> None:
        s.scalars(select(Setting).where(Setting.key == "system_currency")).one().value = before

    _committed(factory, restore)


def test_an_automatic_discount_used_up_by_an_order_is_skipped_at_the_next_quote(
        factory: sessionmaker[Session], shop: Shop) -> None:
    """``times_used`` is raised with a conditional UPDATE (services.ordering) that does not
    bump the version; its ``updated_at`` still moves."""
    with factory() as s, f.using_session(s):
        # Only on this shop's product, so the other tests' carts never meet it.
        automatic = f.DiscountFactory(code=None, automatic=True, value=D(5),
                                      total_uses_allowed=1)
        automatic.products = [s.get_one(Product, shop.big)]
        s.commit()
        discount_id = automatic.id

    def quoted() -> tuple[set[int], set[int]]:
        with factory() as s:
            quote = quote_cart(s, shop.merchant, [CartItem(shop.big, 1)])
            return {d.rule_id for d in quote.applied}, {d.rule_id for d in quote.skipped}

    try:
        applied, _ = quoted()
        assert discount_id in applied
        _committed(factory, lambda s: s.execute(update(Discount).where(
            Discount.id == discount_id).values(times_used=Discount.times_used + 1)))
        applied, skipped = quoted()
        assert discount_id not in applied and discount_id in skipped
    finally:
        _committed(factory, lambda s: s.execute(delete(Discount).where(
            Discount.id == discount_id)))
    applied, skipped = quoted()
    assert discount_id not in applied | skipped


def test_categories_swapped_through_the_relationship_show(factory: sessionmaker[Session],
                                                          shop: Shop) -> None:
    """{1, 4} -> {2, 3} keeps the number of links and their sums: the method's version moves."""
    with factory() as s, f.using_session(s):
        one, two, three, four = (f.CategoryFactory() for _ in range(4))
        s.get_one(ShippingMethod, shop.bike).categories = [one, four]
        s.commit()
        ids = [c.id for c in (one, two, three, four)]
    with factory() as s:
        assert rule_snapshot(s).shipping_methods([shop.bike])[0].category_ids == {ids[0], ids[3]}
        version = s.get_one(ShippingMethod, shop.bike).version

    def swap(s: Session) -> None:
        s.get_one(ShippingMethod, shop.bike).categories = [s.get_one(Category, ids[1]),
                                                           s.get_one(Category, ids[2])]

    _committed(factory, swap)
    with factory() as s:
        assert rule_snapshot(s).shipping_methods([shop.bike])[0].category_ids == {ids[1], ids[2]}
        # Only the links changed, yet the row's version moved (concurrent edits conflict).
        assert s.get_one(ShippingMethod, shop.bike).version == version + 1


def test_pending_edits_are_not_kept_under_the_committed_revision(
        factory: sessionmaker[Session], shop: Shop) -> None:
    with factory() as s:
        s.scalars(select(ShippingCostRow).where(
            ShippingCostRow.shipping_method_id == shop.pishtaz)).one().cost = D(1)
        rule_snapshot(s)  # the edit is pending, never committed
        s.rollback()
    assert _pishtaz_cost(factory, shop) == D(3500)
