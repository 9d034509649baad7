"""Quotes: a cart priced from the merchant's catalog with the rule tables (``rules.pricing``).

Read-only: nothing here writes. Product prices, weights and categories always come from the
products table of the merchant that asks; a cart never carries prices. The shipping and payment
methods, the automatic discounts and the system currency come from ``services.rule_snapshot``
(kept per process, checked against the database on every quote); the discount whose code was
entered and the customer are read for each quote.

Bounds: whatever the caller (the API validates the same bounds first, the admin's form does
not), a value no order could hold is refused with a ``PricingRefused`` before it reaches the
database — where it would otherwise be an OverflowError (SQLite, past 2**63) or "integer out of
range" (PostgreSQL, past 2**31 - 1). Ids are INTEGER columns: an id outside 1..``MAX_ID`` is
"not found", like any id the store does not have. A quantity over ``MAX_QUANTITY``, a distance
outside 0..``MAX_DISTANCE_M`` or a cart heavier than ``MAX_WEIGHT_G`` is an invalid cart; so is
a quote with an amount over ``MAX_AMOUNT``, the most ``schema.base.Money`` stores. A system
currency with more decimal places than Money keeps (``MONEY_SCALE``) refuses every quote. An
entered code a text column cannot hold (a NUL, a lone surrogate) is looked up as no code at
all, so it is reported as a code no discount has.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from rules import pricing as rp
from schema.base import MONEY_SCALE, utcnow
from schema.catalog import Product, ProductVariant, Warehouse
from schema.customers import Customer
from schema.discounts import DiscountUsage
from services.errors import Refused
from services.rule_rows import customer_rule, load_code_discounts, with_entered
from services.rule_snapshot import RuleSnapshot, rule_snapshot


class PricingRefused(Refused):
    """A refusal with a stable ``code`` the API reports as it is."""

    code = "refused"


class ProductNotFound(PricingRefused):
    code = "product_not_found"


class CustomerNotFound(PricingRefused):
    code = "customer_not_found"


class ShippingUnavailable(PricingRefused):
    code = "shipping_unavailable"


class PaymentUnavailable(PricingRefused):
    code = "payment_unavailable"


class InvalidCart(PricingRefused):
    code = "invalid_request"


MAX_ID = 2**31 - 1  # ids are INTEGER: int4 on PostgreSQL
MAX_QUANTITY = 100_000
MAX_DISTANCE_M = 40_075_000  # once around the equator
MAX_WEIGHT_G = 2**31 - 1  # the order's total weight is an INTEGER column
MAX_AMOUNT = Decimal(2**63 - 1).scaleb(-MONEY_SCALE)  # Money: BIGINT in 1/10**MONEY_SCALE


def valid_id(value: int | None) -> bool:
    """Whether ``value`` can be the id of a row (a None is no id, and valid as such)."""
    return value is None or 1 <= value <= MAX_ID


def _storable_text(value: str) -> bool:
    if "\x00" in value:  # PostgreSQL's text cannot hold it
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_distance(distance_m: int | None) -> None:
    if distance_m is not None and not 0 <= distance_m <= MAX_DISTANCE_M:
        raise InvalidCart("The distance must be between 0 and %(max)s metres.",
                          max=MAX_DISTANCE_M)


def _within(amounts: Iterable[Decimal]) -> None:
    for amount in amounts:
        if amount > MAX_AMOUNT or amount < -MAX_AMOUNT:
            raise InvalidCart("The amounts of this cart are larger than an order can hold.")


def _check_methods(q: rp.Quote) -> rp.Quote:
    """``q`` if the amounts its methods decide fit ``schema.base.Money``."""
    _within((q.payment_discount, q.tax, q.payable, q.balance,
             q.shipping.cost if q.shipping is not None else rp.ZERO))
    return q


def check_amounts(q: rp.Quote) -> rp.Quote:
    """``q`` if every amount in the system currency fits ``schema.base.Money``. Their places
    need no check: each is a catalog price (stored as Money) or quantized to the currency's
    decimals, which ``load_inputs`` holds to ``MONEY_SCALE``."""
    _within((q.subtotal, q.discount_total, q.wallet, q.paid))
    _within(x for line in q.lines for x in (line.unit_price, line.total, line.discount))
    return _check_methods(q)


@dataclass(frozen=True)
class CartItem:
    """What a store sends: which product (and variant) and how many; never a price."""

    product_id: int
    quantity: int
    variant_id: int | None = None
    warehouse_id: int | None = None  # which of the merchant's warehouses ships it


@dataclass(frozen=True)
class PricedLine:
    """A cart line as priced from the catalog, with the variant kept for the order line."""

    item: CartItem
    line: rp.CartLine


@dataclass(frozen=True)
class PricingInputs:
    """Everything a quote needs that does not depend on the chosen methods."""

    lines: tuple[PricedLine, ...]
    customer: rp.Customer
    discounts: tuple[rp.DiscountRule, ...]
    currency: str
    money_decimals: int

    def request(self, *, channel: rp.Channel, now: datetime,
                shipping_method: rp.ShippingMethod | None = None,
                payment_method: rp.PaymentMethod | None = None,
                gateway: rp.Gateway | None = None, discount_code: str | None = None,
                distance_m: int | None = None, wallet: Decimal = rp.ZERO,
                paid: Decimal = rp.ZERO) -> rp.QuoteRequest:
        return rp.QuoteRequest(
            lines=tuple(p.line for p in self.lines), customer=self.customer, channel=channel,
            now=now, currency=self.currency, shipping_method=shipping_method,
            payment_method=payment_method, discount_code=discount_code, distance_m=distance_m,
            discounts=self.discounts, gateway=gateway, wallet=wallet, paid=paid,
            money_decimals=self.money_decimals,
        )


# --- loading ------------------------------------------------------------------------------


def customer_uses(session: Session, customer_id: int) -> dict[int, int]:
    """discount id -> how many orders of this customer used it."""
    rows = session.execute(
        select(DiscountUsage.discount_id, func.count())
        .where(DiscountUsage.customer_id == customer_id)
        .group_by(DiscountUsage.discount_id)
    ).all()
    return {discount_id: count for discount_id, count in rows}


def load_customer(session: Session, merchant_id: int, customer_id: int | None) -> rp.Customer:
    if customer_id is None:
        return rp.Customer()
    if not valid_id(customer_id):
        raise CustomerNotFound("The customer %(id)s was not found in this store.",
                               id=customer_id)
    row = session.scalar(select(Customer).where(Customer.id == customer_id,
                                                Customer.merchant_id == merchant_id))
    if row is None:
        raise CustomerNotFound("The customer %(id)s was not found in this store.",
                               id=customer_id)
    return customer_rule(row, customer_uses(session, row.id))


# What pricing reads of the catalog, as plain rows from statements built once.
_PRODUCTS = select(Product.id, Product.category_id, Product.price, Product.weight_g).where(
    Product.id.in_(bindparam("ids", expanding=True)), Product.merchant_id == bindparam("merchant"))
_VARIANTS = select(ProductVariant.id, ProductVariant.product_id, ProductVariant.price_delta
                   ).where(ProductVariant.id.in_(bindparam("ids", expanding=True)))


def price_cart(session: Session, merchant_id: int, cart: Sequence[CartItem]) -> tuple[
        PricedLine, ...]:
    """Each cart line priced from this merchant's catalog; another merchant's product (or an
    unknown one) is refused."""
    if not cart:
        raise InvalidCart("The cart is empty: add at least one product.")
    for item in cart:
        if not valid_id(item.product_id):
            raise ProductNotFound("The product %(id)s was not found in this store.",
                                  id=item.product_id)
        if not valid_id(item.variant_id):
            raise ProductNotFound("The variant %(variant)s of product %(id)s was not found.",
                                  variant=item.variant_id, id=item.product_id)
        if not valid_id(item.warehouse_id):
            raise ProductNotFound("The warehouse %(id)s was not found in this store.",
                                  id=item.warehouse_id)
        if item.quantity < 1:
            raise InvalidCart("The quantity of product %(id)s must be at least 1.",
                              id=item.product_id)
        if item.quantity > MAX_QUANTITY:
            raise InvalidCart("The quantity of product %(id)s must be at most %(max)s.",
                              id=item.product_id, max=MAX_QUANTITY)
    products = {p.id: p for p in session.execute(
        _PRODUCTS, {"ids": list({item.product_id for item in cart}), "merchant": merchant_id})}
    warehouse_ids = {item.warehouse_id for item in cart if item.warehouse_id is not None}
    if warehouse_ids:
        known = set(session.scalars(select(Warehouse.id).where(
            Warehouse.id.in_(warehouse_ids), Warehouse.merchant_id == merchant_id)))
        for missing in sorted(warehouse_ids - known):
            raise ProductNotFound("The warehouse %(id)s was not found in this store.",
                                  id=missing)
    variant_ids = {item.variant_id for item in cart if item.variant_id is not None}
    variants = {v.id: v for v in session.execute(
        _VARIANTS, {"ids": list(variant_ids)})} if variant_ids else {}
    lines = []
    for item in cart:
        product = products.get(item.product_id)
        if product is None:
            raise ProductNotFound("The product %(id)s was not found in this store.",
                                  id=item.product_id)
        price = Decimal(product.price or 0)
        if item.variant_id is not None:
            variant = variants.get(item.variant_id)
            if variant is None or variant.product_id != product.id:
                raise ProductNotFound("The variant %(variant)s of product %(id)s was not found.",
                                      variant=item.variant_id, id=product.id)
            price += Decimal(variant.price_delta or 0)
        lines.append(PricedLine(item, rp.CartLine(product.id, product.category_id, price,
                                                  item.quantity, product.weight_g or 0)))
    if sum(p.line.weight_g * p.line.quantity for p in lines) > MAX_WEIGHT_G:
        raise InvalidCart("The cart weighs more than %(max)s g, more than an order can hold.",
                          max=MAX_WEIGHT_G)
    return tuple(lines)


def load_inputs(session: Session, merchant_id: int, cart: Sequence[CartItem], *,
                customer_id: int | None = None, discount_code: str | None = None,
                rules: RuleSnapshot | None = None) -> PricingInputs:
    rules = rules or rule_snapshot(session)
    if rules.money_decimals > MONEY_SCALE:
        raise PricingRefused("The system currency has %(decimals)s decimal places; amounts are "
                             "stored with at most %(max)s.", decimals=rules.money_decimals,
                             max=MONEY_SCALE)
    lookup = discount_code if discount_code is None or _storable_text(discount_code) else None
    return PricingInputs(
        lines=price_cart(session, merchant_id, cart),
        customer=load_customer(session, merchant_id, customer_id),
        discounts=with_entered(rules.discounts, load_code_discounts(session, lookup)),
        currency=rules.currency, money_decimals=rules.money_decimals,
    )


def _shipping(rules: RuleSnapshot, method_id: int | None) -> rp.ShippingMethod | None:
    if method_id is None:
        return None
    found = rules.shipping_methods([method_id])
    if not found:
        raise ShippingUnavailable("The shipping method %(id)s does not exist.", id=method_id)
    return found[0]


def _payment(rules: RuleSnapshot, method_id: int | None,
             ) -> tuple[rp.PaymentMethod | None, rp.Gateway | None]:
    if method_id is None:
        return None, None
    found = rules.payment_methods([method_id])
    if not found:
        raise PaymentUnavailable("The payment method %(id)s does not exist.", id=method_id)
    return found[0]


# --- quotes -------------------------------------------------------------------------------


def quote_cart(
    session: Session, merchant_id: int, cart: Sequence[CartItem], *,
    customer_id: int | None = None, channel: rp.Channel = "web",
    shipping_method_id: int | None = None, payment_method_id: int | None = None,
    discount_code: str | None = None, distance_m: int | None = None,
    now: datetime | None = None, wallet: Decimal = rp.ZERO, paid: Decimal = rp.ZERO,
) -> rp.Quote:
    """The full breakdown of ``cart`` for ``merchant_id`` with the chosen methods."""
    check_distance(distance_m)
    rules = rule_snapshot(session)
    inputs = load_inputs(session, merchant_id, cart, customer_id=customer_id,
                         discount_code=discount_code, rules=rules)
    payment, gateway = _payment(rules, payment_method_id)
    return check_amounts(rp.quote(inputs.request(
        channel=channel, now=now or utcnow(), shipping_method=_shipping(rules,
                                                                       shipping_method_id),
        payment_method=payment, gateway=gateway, discount_code=discount_code,
        distance_m=distance_m, wallet=wallet, paid=paid,
    )))


@dataclass(frozen=True)
class Option:
    """One offered method and the quote of the cart with it."""

    method_id: int
    name: str
    kind: str  # shipping: the cost rule; payment: the payment kind
    quote: rp.Quote


@dataclass(frozen=True)
class DeliveryOptions:
    quote: rp.Quote  # with the chosen methods (if any)
    shipping: tuple[Option, ...]
    payment: tuple[Option, ...]


def delivery_options(
    session: Session, merchant_id: int, cart: Sequence[CartItem], *,
    customer_id: int | None = None, channel: rp.Channel = "web",
    shipping_method_id: int | None = None, payment_method_id: int | None = None,
    discount_code: str | None = None, distance_m: int | None = None,
    now: datetime | None = None,
) -> DeliveryOptions:
    """The quote of every active shipping method and every active payment method for ``cart``
    (what a store plugin asks at checkout). Each shipping option is quoted with the chosen
    payment method (if any) and each payment option with the chosen shipping method."""
    check_distance(distance_m)
    rules = rule_snapshot(session)
    inputs = load_inputs(session, merchant_id, cart, customer_id=customer_id,
                         discount_code=discount_code, rules=rules)
    chosen_shipping = _shipping(rules, shipping_method_id)
    chosen_payment, chosen_gateway = _payment(rules, payment_method_id)
    base = inputs.request(channel=channel, now=now or utcnow(), discount_code=discount_code,
                          distance_m=distance_m, shipping_method=chosen_shipping,
                          payment_method=chosen_payment, gateway=chosen_gateway)
    cart = rp.discount_cart(base)  # the same for every method: computed (and checked) once
    quote = check_amounts(rp.quote(base, cart))
    shipping = tuple(
        Option(m.id, m.name, m.cost_rule,
               _check_methods(rp.quote(replace(base, shipping_method=m), cart)))
        for m in rules.shipping_methods(active_only=True)
    )
    payment = tuple(
        Option(m.id, m.name, m.kind,
               _check_methods(rp.quote(replace(base, payment_method=m, gateway=g), cart)))
        for m, g in rules.payment_methods(active_only=True)
    )
    return DeliveryOptions(quote, shipping, payment)
