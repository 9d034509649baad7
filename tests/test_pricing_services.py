"""services.pricing: rows map one to one onto rules.pricing, so a quote through the database
gives the amounts of the worked examples (R-RULE-4, R-RULE-5) and of the pure engine."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session, sessionmaker

from rules import pricing as rp
from schema.customers import Customer
from schema.discounts import DiscountUsage
from schema.people import Merchant
from seed.demo import factories as f
from services.actor import Actor, acting_as
from services.pricing import (
    CartItem,
    CustomerNotFound,
    ProductNotFound,
    ShippingUnavailable,
    delivery_options,
    load_customer,
    quote_cart,
)
from services.rule_rows import load_discounts, load_payment_methods, load_shipping_methods

D = Decimal
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class Shop:
    merchant: int
    other_merchant: int
    customer: int
    big: int  # 50000, 700 g
    mid: int  # 30000, 750 g
    small: int  # 1000, 25 g
    variant: int  # of mid, +250.50
    foreign: int  # another merchant's product
    motor: int  # fixed 1000
    pishtaz: int  # 200 per gram; cart >= 100000 -> 3500
    bike: int  # fixed 300; out of range for carts >= 5000
    online: int  # 2 % off
    cash: int  # nothing off, 9 % tax
    code: str  # 10 % off the small product only, code discount
    code_id: int


def build_shop(factory: sessionmaker[Session], **discount: object) -> Shop:
    """A merchant with three products, the R-RULE-4/5 methods and a code discount; every row
    in one committed transaction. ``discount`` overrides the code discount's fields."""
    with factory() as s, f.using_session(s):
        merchant = f.MerchantFactory(currency="BYN")
        other = f.MerchantFactory(currency="BYN")
        category = f.CategoryFactory()
        big = f.ProductFactory(merchant=merchant, category=category, price=D(50000), weight_g=700)
        mid = f.ProductFactory(merchant=merchant, category=category, price=D(30000), weight_g=750)
        small = f.ProductFactory(merchant=merchant, category=category, price=D(1000), weight_g=25)
        variant = f.ProductVariantFactory(product=mid, price_delta=D("250.50"))
        foreign = f.ProductFactory(merchant=other, category=category, price=D(10))
        customer = f.CustomerFactory(merchant=merchant, registered=True)
        motor = f.ShippingMethodFactory(cost_rule="fixed", base_cost=D(1000))
        pishtaz = f.ShippingMethodFactory(cost_rule="by_weight", base_cost=D(200))
        f.ShippingCostRowFactory(shipping_method=pishtaz, position=1, min_cart_price=D(100000),
                                 cost=D(3500))
        bike = f.ShippingMethodFactory(cost_rule="fixed", base_cost=D(300))
        f.ShippingCostRowFactory(shipping_method=bike, position=1, min_cart_price=D(5000),
                                 out_of_range=True)
        online = f.PaymentMethodFactory(kind="online", discount_kind="percent",
                                        discount_value=D(2), tax_percent=D(0))
        cash = f.PaymentMethodFactory(kind="cash_on_delivery", discount_value=D(0),
                                      tax_percent=D(9))
        fields = {"kind": "percent", "value": D(10), **discount}
        code = f.DiscountFactory(**fields)
        if "products" not in discount:
            code.products = [small]
        s.flush()
        shop = Shop(merchant.id, other.id, customer.id, big.id, mid.id, small.id, variant.id,
                    foreign.id, motor.id, pishtaz.id, bike.id, online.id, cash.id, code.code,
                    code.id)
        s.commit()
        return shop


@pytest.fixture
def shop(factory: sessionmaker[Session]) -> Shop:
    return build_shop(factory)


def engine_quote(session: Session, shop: Shop, lines: tuple[rp.CartLine, ...],
                 **kw: object) -> rp.Quote:
    """The same quote built by hand from the pure engine's dataclasses."""
    base: dict[str, object] = {"customer": rp.Customer(), "channel": "web", "now": NOW,
                               "currency": "BYN", "discounts": load_discounts(session, None)}
    base.update(kw)
    return rp.quote(rp.QuoteRequest(lines=lines, **base))  # type: ignore[arg-type]


def test_rrule4_pishtaz_through_the_database_equals_the_engine(session: Session,
                                                                shop: Shop) -> None:
    pishtaz = load_shipping_methods(session, [shop.pishtaz])[0]
    assert pishtaz == rp.ShippingMethod(
        shop.pishtaz, pishtaz.name, "by_weight", D(200),
        rows=(rp.ShippingRow(position=1, cost=D(3500), min_cart_price=D(100000)),))

    q = quote_cart(session, shop.merchant, [CartItem(shop.big, 2)],
                   shipping_method_id=shop.pishtaz, now=NOW)
    assert q.shipping is not None
    assert (q.shipping.available, q.shipping.cost, q.shipping.row_position) == (
        True, D("3500.00"), 1)
    assert q.payable == D("103500.00")
    category = q.lines[0].category_id
    assert q == engine_quote(session, shop, (rp.CartLine(shop.big, category, D(50000), 2, 700),),
                             shipping_method=pishtaz)

    cheaper = quote_cart(session, shop.merchant, [CartItem(shop.mid, 2), CartItem(shop.small, 1)],
                         shipping_method_id=shop.pishtaz, now=NOW)
    assert cheaper.shipping is not None
    assert (cheaper.shipping.cost, cheaper.shipping.row_position) == (D("305000.00"), None)
    assert cheaper.payable == D("61000.00") + D("305000.00")


def test_rrule4_out_of_range_and_motor(session: Session, shop: Shop) -> None:
    q = quote_cart(session, shop.merchant, [CartItem(shop.big, 1)], shipping_method_id=shop.bike,
                   now=NOW)
    assert q.shipping is not None and not q.shipping.available
    assert q.payable == D("50000.00")
    motor = quote_cart(session, shop.merchant, [CartItem(shop.small, 1)],
                       shipping_method_id=shop.motor, now=NOW)
    assert motor.shipping is not None and motor.shipping.cost == D("1000.00")
    assert motor.payable == D("2000.00")


def test_rrule5_online_payment_through_the_database(session: Session, shop: Shop) -> None:
    (online, gateway), = load_payment_methods(session, [shop.online])
    assert online == rp.PaymentMethod(shop.online, online.name, "online",
                                      discount_kind="percent", discount_value=D(2))
    assert gateway is None
    q = quote_cart(session, shop.merchant, [CartItem(shop.big, 2)], shipping_method_id=shop.motor,
                   payment_method_id=shop.online, now=NOW)
    assert q.payment_discount == D("2000.00")
    assert q.payable == D("99000.00")
    motor = load_shipping_methods(session, [shop.motor])[0]
    category = q.lines[0].category_id
    assert q == engine_quote(session, shop, (rp.CartLine(shop.big, category, D(50000), 2, 700),),
                             shipping_method=motor, payment_method=online)


def test_gateway_maps_from_the_payment_methods_gateway(factory: sessionmaker[Session],
                                                       shop: Shop) -> None:
    with factory() as s, f.using_session(s):
        method = f.PaymentMethodFactory(gateway=f.PaymentGatewayFactory(), discount_value=D(0))
        s.commit()
        method_id = method.id
    with factory() as session:
        q = quote_cart(session, shop.merchant, [CartItem(shop.small, 1)],
                       payment_method_id=method_id, now=NOW)
    # R-RULE-6: x100000, rounded to hundreds, IRR without decimals.
    assert q.gateway == rp.GatewayQuote("IRR", D("100000000.00"), D("100000000.00"), D(0),
                                        D(100000000))


def test_variant_price_delta_and_code_discount_on_its_products(session: Session,
                                                               shop: Shop) -> None:
    q = quote_cart(session, shop.merchant,
                   [CartItem(shop.mid, 1, shop.variant), CartItem(shop.small, 3)],
                   discount_code=f"  {shop.code.lower()} ", now=NOW)
    assert [line.unit_price for line in q.lines] == [D("30250.50"), D(1000)]
    assert [(a.rule_id, a.amount, a.applies_to) for a in q.applied] == [
        (shop.code_id, D("300.00"), (shop.small,))]
    assert q.payable == D("30250.50") + D("3000") - D("300")


def test_unknown_code_is_listed_as_skipped(session: Session, shop: Shop) -> None:
    q = quote_cart(session, shop.merchant, [CartItem(shop.small, 1)], discount_code="NOPE-XYZ",
                   now=NOW)
    assert [(s.rule_id, str(s.reason)) for s in q.skipped] == [
        (None, "No discount has the code NOPE-XYZ.")]


def test_customer_maps_with_its_usage_counts(factory: sessionmaker[Session], shop: Shop) -> None:
    with factory() as s, f.using_session(s):
        order = f.OrderFactory(merchant=s.get(Merchant, shop.merchant),
                               customer=s.get(Customer, shop.customer))
        s.add(DiscountUsage(discount_id=shop.code_id, order_id=order.id,
                            customer_id=shop.customer, amount=D(1)))
        s.commit()
    with factory() as session:
        customer = load_customer(session, shop.merchant, shop.customer)
        assert customer == rp.Customer(id=shop.customer, group_id=None, logged_in=True,
                                       uses={shop.code_id: 1})
        with pytest.raises(CustomerNotFound):
            load_customer(session, shop.other_merchant, shop.customer)


def test_another_merchants_product_is_refused(session: Session, shop: Shop) -> None:
    with pytest.raises(ProductNotFound) as caught:
        quote_cart(session, shop.merchant, [CartItem(shop.small, 1), CartItem(shop.foreign, 1)])
    assert str(caught.value) == f"The product {shop.foreign} was not found in this store."
    assert caught.value.code == "product_not_found"
    with pytest.raises(ProductNotFound):  # a variant of a product of another line
        quote_cart(session, shop.merchant, [CartItem(shop.small, 1, shop.variant)])
    # The same with the central scoping on, acting as the merchant.
    with acting_as(Actor(None, "api", "merchant", shop.merchant)), pytest.raises(
            ProductNotFound):
        quote_cart(session, shop.merchant, [CartItem(shop.foreign, 1)])


def test_unknown_shipping_method_is_refused(session: Session, shop: Shop) -> None:
    with pytest.raises(ShippingUnavailable):
        quote_cart(session, shop.merchant, [CartItem(shop.small, 1)],
                   shipping_method_id=10**9)


def test_delivery_options_quote_every_active_method(session: Session, shop: Shop) -> None:
    options = delivery_options(session, shop.merchant, [CartItem(shop.big, 2)],
                               payment_method_id=shop.online, now=NOW)
    shipping = {o.method_id: o.quote for o in options.shipping}
    payment = {o.method_id: o.quote for o in options.payment}
    assert shipping[shop.pishtaz].payable == D("100000") - D("2000") + D("3500")
    assert shipping[shop.bike].shipping is not None
    assert not shipping[shop.bike].shipping.available
    assert payment[shop.online].payment_discount == D("2000.00")
    assert payment[shop.cash].tax == D("9000.00")
    assert options.quote.shipping is None
    same = quote_cart(session, shop.merchant, [CartItem(shop.big, 2)],
                      shipping_method_id=shop.pishtaz, payment_method_id=shop.online, now=NOW)
    assert replace(same) == shipping[shop.pishtaz]
