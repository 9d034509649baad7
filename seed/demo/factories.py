"""factory-boy factories for Postdesk's tables, shared by the demo shop and the tests.

Every factory makes a valid row on its own (required foreign keys come from sub-factories) and
flushes it, so its id is known. Point the factories at a session first::

    from seed.demo import factories as f

    with f.using_session(session):
        f.reseed(1234)                      # same rows for the same seed
        order = f.OrderFactory(lines=3)     # totals follow the lines

Names and addresses mix the ru_RU, fa_IR and en_US Faker locales (pass ``locale=`` to pick one).
Sequences (numbers, SKUs, barcodes) are per factory class and are not reset by ``reseed``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import factory
import factory.fuzzy
import factory.random
from factory.alchemy import SQLAlchemyModelFactory
from faker import Faker
from sqlalchemy.orm import Session

from schema.catalog import Category, Product, ProductVariant, SaleMode, StockLevel, Warehouse
from schema.couriers import Courier
from schema.customers import Customer, CustomerGroup, CustomerKind
from schema.discounts import Discount, DiscountKind, DiscountTarget
from schema.lockers import CellSize, Locker, LockerCell, LockerTariff, Parcel, Zone
from schema.orders import Order, OrderLine
from schema.payments import ConversionOp, PaymentGateway, PaymentMethod, PaymentMethodKind
from schema.people import Merchant, Role, RoleCode, User
from schema.shipping import (
    CostRule,
    PostalSystem,
    PostalSystemKind,
    ShippingCostRow,
    ShippingMethod,
)

LOCALES = ("ru_RU", "fa_IR", "en_US")
CURRENCY_BY_LOCALE = {"ru_RU": "RUB", "fa_IR": "IRR", "en_US": "BYN"}
LANGUAGE_BY_LOCALE = {"ru_RU": "ru", "fa_IR": "fa", "en_US": "en"}
# Decimal places amounts are kept to, per currency (currencies.yaml); others use 2.
CURRENCY_DECIMALS = {"IRR": 0}

# ---------------------------------------------------------------------------------------------
# Session and randomness


_session: Session | None = None


def set_session(session: Session | None) -> None:
    """The session every factory adds and flushes its rows in (None to forget it)."""
    global _session
    _session = session


def get_session() -> Session:
    if _session is None:
        raise RuntimeError("no session for the factories: call factories.set_session(session)")
    return _session


@contextmanager
def using_session(session: Session) -> Iterator[Session]:
    """Use ``session`` for the factories inside the block, then restore the previous one."""
    previous = _session
    set_session(session)
    try:
        yield session
    finally:
        set_session(previous)


def reseed(seed: int) -> None:
    """Make the factories (fuzzy values and every Faker locale) repeat for ``seed``."""
    factory.random.reseed_random(seed)


def fake(locale: str | None = None) -> Faker:
    """factory-boy's shared Faker for ``locale``; it follows ``reseed``."""
    return factory.Faker._get_faker(locale)


def money(amount: Decimal | int | str, currency: str = "BYN") -> Decimal:
    """``amount`` rounded half up to the currency's decimal places."""
    places = CURRENCY_DECIMALS.get(currency, 2)
    return Decimal(amount).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def recompute_order_totals(order: Order) -> Order:
    """Make an order's totals follow its lines:

    subtotal = sum(line_total); payable = subtotal - discount_total + shipping_cost;
    balance_due = payable - paid_amount - wallet_amount; weight = sum of the lines' weights.
    """
    lines = list(order.lines)
    order.subtotal = sum((Decimal(line.line_total) for line in lines), Decimal(0))
    order.total_weight_g = sum(
        (line.actual_weight_g or line.weight_g or 0) for line in lines
    )
    order.payable = (
        order.subtotal - Decimal(order.discount_total or 0) + Decimal(order.shipping_cost or 0)
    )
    order.balance_due = (
        order.payable - Decimal(order.paid_amount or 0) - Decimal(order.wallet_amount or 0)
    )
    return order


def _pick_locale() -> factory.fuzzy.FuzzyChoice:
    return factory.fuzzy.FuzzyChoice(LOCALES)


def _faked(method: str, *args: Any, **kwargs: Any) -> factory.LazyAttribute:
    """A value from the Faker of the row's ``locale`` parameter, e.g. ``_faked("name")``."""
    return factory.LazyAttribute(
        lambda o: getattr(fake(o.locale), method)(*args, **kwargs)
    )


# A rough price scale per currency, so a fuzzy price looks like a price in it.
PRICE_SCALE = {"BYN": 1, "USD": 1, "EUR": 1, "RUB": 30, "IRR": 150000}


def _fuzzy_price(low: int, high: int) -> factory.LazyAttribute:
    """A price between ``low`` and ``high`` BYN-like units, scaled to the row's currency."""

    def price(o: Any) -> Decimal:
        cents = Decimal(factory.random.randgen.randint(low * 100, high * 100)) / 100
        return money(cents * PRICE_SCALE.get(o.currency, 1), o.currency)

    return factory.LazyAttribute(price)


class BaseFactory(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = get_session
        sqlalchemy_session_persistence = "flush"


# ---------------------------------------------------------------------------------------------
# People


class MerchantFactory(BaseFactory):
    class Meta:
        model = Merchant

    class Params:
        locale = _pick_locale()

    name = factory.LazyAttributeSequence(
        lambda o, n: f"{fake(o.locale).company()} #{n}"
    )
    legal_name = factory.LazyAttribute(lambda o: o.name)
    tax_id = factory.Sequence(lambda n: f"{100000000 + n}")
    email = factory.Sequence(lambda n: f"store{n}@example.com")
    phone = _faked("phone_number")
    address = _faked("address")
    currency = factory.LazyAttribute(lambda o: CURRENCY_BY_LOCALE[o.locale])
    balance = Decimal(0)
    cash_fee_percent = Decimal("1.5")
    active = True


class RoleFactory(BaseFactory):
    """The seeded role of ``code`` (created if the seed data was not loaded)."""

    class Meta:
        model = Role
        sqlalchemy_get_or_create = ("code",)

    code = RoleCode.MANAGER
    name = factory.LazyAttribute(lambda o: RoleCode(o.code).label)


_HASHES: dict[str, str] = {}


def _password_hash(password: str | None) -> str:
    """argon2 is slow: hash each distinct password once per process."""
    if not password:
        return ""
    if password not in _HASHES:
        from services.accounts import hash_password

        _HASHES[password] = hash_password(password)
    return _HASHES[password]


class UserFactory(BaseFactory):
    """A user; ``password="..."`` sets a usable password (hashed once per distinct value)."""

    class Meta:
        model = User

    class Params:
        locale = _pick_locale()
        password = None

    username = factory.Sequence(lambda n: f"user{n}")
    password_hash = factory.LazyAttribute(lambda o: _password_hash(o.password))
    full_name = _faked("name")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    role = factory.SubFactory(RoleFactory)
    merchant = None
    language = factory.LazyAttribute(lambda o: LANGUAGE_BY_LOCALE[o.locale])
    active = True


# ---------------------------------------------------------------------------------------------
# Catalog


class WarehouseFactory(BaseFactory):
    class Meta:
        model = Warehouse

    class Params:
        locale = _pick_locale()

    merchant = factory.SubFactory(MerchantFactory)
    name = factory.Sequence(lambda n: f"Warehouse {n}")
    city = _faked("city")
    address = _faked("street_address")
    phone = _faked("phone_number")
    product_admin = None
    active = True


class CategoryFactory(BaseFactory):
    class Meta:
        model = Category

    name = factory.Sequence(lambda n: f"Category {n}")
    parent = None
    position = factory.Sequence(lambda n: n)
    description = factory.LazyAttribute(lambda o: f"{o.name}: goods of this kind")
    active = True


class ProductFactory(BaseFactory):
    """A direct-sale product on sale, priced in its merchant's currency."""

    class Meta:
        model = Product

    merchant = factory.SubFactory(MerchantFactory)
    sku = factory.Sequence(lambda n: f"SKU-{n:06d}")
    name = factory.LazyAttributeSequence(
        lambda o, n: f"{fake('en_US').word().capitalize()} {n}"
    )
    description = factory.LazyAttribute(lambda o: f"{o.name}, as described by the store.")
    picture_url = factory.LazyAttribute(lambda o: f"https://picsum.photos/seed/{o.sku}/400")
    category = factory.SubFactory(CategoryFactory)
    sale_mode = SaleMode.DIRECT
    currency = factory.LazyAttribute(lambda o: o.merchant.currency)
    price = _fuzzy_price(5, 500)
    weight_g = factory.fuzzy.FuzzyInteger(50, 5000)
    is_weighted = False
    points = factory.fuzzy.FuzzyInteger(0, 20)
    on_sale = True


class ProductVariantFactory(BaseFactory):
    class Meta:
        model = ProductVariant

    product = factory.SubFactory(ProductFactory)
    colour = factory.fuzzy.FuzzyChoice(("black", "white", "red", "blue", "green"))
    size = factory.fuzzy.FuzzyChoice(("S", "M", "L", "XL"))
    sku = factory.LazyAttributeSequence(lambda o, n: f"{o.product.sku}-V{n}")
    price_delta = Decimal(0)


class StockLevelFactory(BaseFactory):
    """Stock of a product in a warehouse of the product's merchant."""

    class Meta:
        model = StockLevel

    product = factory.SubFactory(ProductFactory)
    variant = None
    warehouse = factory.SubFactory(
        WarehouseFactory, merchant=factory.SelfAttribute("..product.merchant")
    )
    quantity = factory.fuzzy.FuzzyInteger(0, 200)
    min_quantity = 5


# ---------------------------------------------------------------------------------------------
# Customers


class CustomerGroupFactory(BaseFactory):
    class Meta:
        model = CustomerGroup

    name = factory.Sequence(lambda n: f"Group {n}")
    min_points = None
    max_points = None


class CustomerFactory(BaseFactory):
    class Meta:
        model = Customer

    class Params:
        locale = _pick_locale()

    merchant = factory.SubFactory(MerchantFactory)
    name = _faked("name")
    kind = CustomerKind.INDIVIDUAL
    phone = _faked("phone_number")
    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    address = _faked("street_address")
    city = _faked("city")
    postcode = _faked("postcode")
    group = None
    points = 0
    wallet_balance = Decimal(0)
    currency = factory.LazyAttribute(lambda o: o.merchant.currency)
    registered = True
    language = factory.LazyAttribute(lambda o: LANGUAGE_BY_LOCALE[o.locale])


# ---------------------------------------------------------------------------------------------
# Delivery: couriers, lockers, shipping, postal systems


class CourierFactory(BaseFactory):
    class Meta:
        model = Courier

    class Params:
        locale = _pick_locale()

    full_name = _faked("name")
    mobile = _faked("phone_number")
    address = _faked("street_address")
    service_area = _faked("city")
    vehicle = factory.fuzzy.FuzzyChoice(("motorbike", "car", "bicycle", "van"))
    badge_number = factory.Sequence(lambda n: f"B{n:05d}")
    active = True


class ZoneFactory(BaseFactory):
    """Zones are numbered 1..10 (a check constraint): the 11th call returns zone 1 again."""

    class Meta:
        model = Zone
        sqlalchemy_get_or_create = ("number",)

    number = factory.Sequence(lambda n: n % 10 + 1)
    code = factory.LazyAttribute(lambda o: f"Z{o.number}")
    name = factory.LazyAttribute(lambda o: f"Zone {o.number}")


class LockerFactory(BaseFactory):
    class Meta:
        model = Locker

    class Params:
        locale = _pick_locale()

    code = factory.Sequence(lambda n: f"LK-{n:04d}")
    name = factory.LazyAttribute(lambda o: f"Parcel locker {o.code}")
    city = _faked("city")
    address = _faked("street_address")
    zone = factory.SubFactory(ZoneFactory)
    active = True


class LockerCellFactory(BaseFactory):
    class Meta:
        model = LockerCell

    locker = factory.SubFactory(LockerFactory)
    code = factory.Sequence(lambda n: f"C{n:03d}")
    size = factory.fuzzy.FuzzyChoice(list(CellSize))


class LockerTariffFactory(BaseFactory):
    class Meta:
        model = LockerTariff

    zone = factory.SubFactory(ZoneFactory)
    size = None
    pickup_price = Decimal("3.00")
    delivery_price = Decimal("4.00")
    storage_price_3_days = Decimal("2.00")
    currency = "BYN"
    storage_days = 3


class PostalSystemFactory(BaseFactory):
    class Meta:
        model = PostalSystem

    kind = PostalSystemKind.CENTRAL_POST
    name = factory.Sequence(lambda n: f"Postal system {n}")
    active = True
    username = "demo"
    password = "demo-secret"
    api_key = "demo-secret"


class ShippingMethodFactory(BaseFactory):
    class Meta:
        model = ShippingMethod

    name = factory.Sequence(lambda n: f"Shipping method {n}")
    active = True
    cost_rule = CostRule.FIXED
    base_cost = Decimal(1000)
    currency = "BYN"
    postpaid = False


class ShippingCostRowFactory(BaseFactory):
    class Meta:
        model = ShippingCostRow

    shipping_method = factory.SubFactory(ShippingMethodFactory)
    position = factory.Sequence(lambda n: n)
    min_cart_price = Decimal(0)
    min_item_count = 0
    min_weight_g = 0
    min_distance_m = 0
    out_of_range = False
    cost = Decimal(0)


# ---------------------------------------------------------------------------------------------
# Payments and discounts


class PaymentGatewayFactory(BaseFactory):
    """The R-RULE-6 example: IRR gateway, x100000, rounding digits 2. Secrets are placeholders."""

    class Meta:
        model = PaymentGateway

    name = factory.Sequence(lambda n: f"Gateway {n}")
    kind = "mellat"
    terminal_id = factory.Sequence(lambda n: f"T{n:06d}")
    username = "demo"
    password = "demo-secret"
    api_key = "demo-secret"
    currency = "IRR"
    conversion_rate = Decimal(100000)
    conversion_op = ConversionOp.MULTIPLY
    rounding_digits = 2
    decimals = 0
    active = True
    fee_percent = Decimal(0)


class PaymentMethodFactory(BaseFactory):
    """Online payment with 2% off (R-RULE-5)."""

    class Meta:
        model = PaymentMethod

    kind = PaymentMethodKind.ONLINE
    name = factory.Sequence(lambda n: f"Payment method {n}")
    active = True
    discount_kind = DiscountKind.PERCENT
    discount_value = Decimal(2)
    currency = "BYN"
    tax_percent = Decimal(0)
    gateway = None


class DiscountFactory(BaseFactory):
    """A 10% code discount for everyone."""

    class Meta:
        model = Discount

    name = factory.Sequence(lambda n: f"Discount {n}")
    code = factory.Sequence(lambda n: f"CODE{n:04d}")
    automatic = False
    kind = DiscountKind.PERCENT
    value = Decimal(10)
    currency = "BYN"
    target = DiscountTarget.EVERYONE
    active = True


# ---------------------------------------------------------------------------------------------
# Orders and parcels


class OrderFactory(BaseFactory):
    """An order of a customer of the same merchant; ``OrderFactory(lines=3)`` adds lines and
    recomputes the totals (without lines every total is zero)."""

    class Meta:
        model = Order

    merchant = factory.SubFactory(MerchantFactory)
    customer = factory.SubFactory(
        CustomerFactory, merchant=factory.SelfAttribute("..merchant")
    )
    number = factory.Sequence(lambda n: f"PDT-{n:06d}")
    status = "awaiting_confirmation"
    shipping_status = "not_loaded"
    currency = factory.LazyAttribute(lambda o: o.merchant.currency)
    recipient_name = factory.LazyAttribute(lambda o: o.customer.name if o.customer else None)
    recipient_phone = factory.LazyAttribute(lambda o: o.customer.phone if o.customer else None)
    recipient_address = factory.LazyAttribute(
        lambda o: o.customer.address if o.customer else None
    )
    recipient_city = factory.LazyAttribute(lambda o: o.customer.city if o.customer else None)
    subtotal = Decimal(0)
    discount_total = Decimal(0)
    shipping_cost = Decimal(0)
    payable = Decimal(0)
    wallet_amount = Decimal(0)
    paid_amount = Decimal(0)
    balance_due = Decimal(0)

    @factory.post_generation
    def lines(obj: Order, create: bool, extracted: int | None, **kwargs: Any) -> None:
        for _ in range(extracted or 0):
            OrderLineFactory(order=obj, recompute_order=False, **kwargs)
        if extracted:
            recompute_order_totals(obj)
            if create:
                get_session().flush()


class OrderLineFactory(BaseFactory):
    """A line of a product of the order's merchant; afterwards the order's totals are
    recomputed from its lines (pass ``recompute_order=False`` to keep them)."""

    class Meta:
        model = OrderLine

    order = factory.SubFactory(OrderFactory)
    product = factory.SubFactory(
        ProductFactory, merchant=factory.SelfAttribute("..order.merchant")
    )
    variant = None
    warehouse = None
    quantity = factory.fuzzy.FuzzyInteger(1, 3)
    unit_price = factory.LazyAttribute(lambda o: o.product.price)
    discount_amount = Decimal(0)
    line_total = factory.LazyAttribute(
        lambda o: money(o.unit_price * o.quantity - o.discount_amount, o.order.currency)
    )
    currency = factory.LazyAttribute(lambda o: o.order.currency)
    weight_g = factory.LazyAttribute(lambda o: o.product.weight_g * o.quantity)

    @factory.post_generation
    def recompute_order(
        obj: OrderLine, create: bool, extracted: bool | None, **_kwargs: Any
    ) -> None:
        if extracted is False:
            return
        recompute_order_totals(obj.order)
        if create:
            get_session().flush()


class ParcelFactory(BaseFactory):
    """A parcel just created by its merchant (no cell yet)."""

    class Meta:
        model = Parcel

    class Params:
        locale = _pick_locale()

    merchant = factory.SubFactory(MerchantFactory)
    barcode = factory.Sequence(lambda n: f"PT{n:010d}")
    locker = factory.SubFactory(LockerFactory)
    cell = None
    size = CellSize.M
    status = "created"
    declared_price = None
    paid = False
    currency = factory.LazyAttribute(lambda o: o.merchant.currency)
    recipient_name = _faked("name")
    recipient_phone = _faked("phone_number")
    weight_g = factory.fuzzy.FuzzyInteger(100, 10000)
