"""Rule-table rows in, ``rules.pricing`` inputs out, and the quotes built from them.

Read-only: nothing here writes. The rule tables are read as plain rows (Core), not ORM objects:
a checkout quote reads about 130 of them, and building ORM instances was a third of its time.
Every mapping is one to one with the dataclasses of
``rules.pricing`` (that module's docstring holds the semantics); the only translation is that a
discount marked automatic, or without a code, becomes a ``DiscountRule`` whose ``code`` is
``None``. Product prices, weights and categories always come from the products table of the
merchant that asks; a cart never carries prices.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, func, or_, select
from sqlalchemy.orm import Session

from rules import pricing as rp
from schema.base import utcnow
from schema.catalog import Product, ProductVariant, Warehouse
from schema.customers import Customer
from schema.discounts import Discount, DiscountUsage, discount_products
from schema.payments import PaymentGateway, PaymentMethod
from schema.people import CurrencyRow, Setting
from schema.shipping import ShippingCostRow, ShippingMethod, shipping_method_categories
from services.errors import Refused

DEFAULT_CURRENCY = "BYN"


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


# --- row -> rule mappings (one to one) ------------------------------------------------------


def _value(enum_or_str: object) -> str:
    return str(getattr(enum_or_str, "value", enum_or_str))


def discount_rule(row: Discount | Row[Any], product_ids: Iterable[int] = ()) -> rp.DiscountRule:
    code = None if row.automatic or not (row.code or "").strip() else row.code
    return rp.DiscountRule(
        id=row.id, name=row.name, kind=_value(row.kind),  # type: ignore[arg-type]
        value=Decimal(row.value or 0), code=code, expires_at=row.expires_at,
        total_uses_allowed=row.total_uses_allowed, times_used=row.times_used or 0,
        uses_per_customer=row.uses_per_customer, min_cart_price=row.min_cart_price,
        min_item_count=row.min_item_count, target=_value(row.target),  # type: ignore[arg-type]
        customer_id=row.customer_id, customer_group_id=row.customer_group_id,
        channel=_value(row.channel),  # type: ignore[arg-type]
        product_ids=frozenset(product_ids), priority=row.priority or 0,
        combinable=bool(row.combinable), active=bool(row.active),
    )


def shipping_row(row: ShippingCostRow | Row[Any]) -> rp.ShippingRow:
    return rp.ShippingRow(
        position=row.position or 0, cost=Decimal(row.cost or 0),
        min_cart_price=Decimal(row.min_cart_price or 0), min_item_count=row.min_item_count or 0,
        min_weight_g=row.min_weight_g or 0, min_distance_m=row.min_distance_m or 0,
        out_of_range=bool(row.out_of_range),
    )


def shipping_method_rule(row: ShippingMethod | Row[Any], category_ids: Iterable[int] = (),
                         rows: Sequence[ShippingCostRow | Row[Any]] | None = None,
                         ) -> rp.ShippingMethod:
    """``rows`` default to the method's own rows (ordered by position, then id)."""
    cost_rows = row.rows if rows is None else rows
    ordered = sorted(cost_rows, key=lambda r: (r.position or 0, r.id or 0))
    return rp.ShippingMethod(
        id=row.id, name=row.name, cost_rule=_value(row.cost_rule),  # type: ignore[arg-type]
        base_cost=Decimal(row.base_cost or 0), active=bool(row.active),
        max_weight_g=row.max_weight_g, category_ids=frozenset(category_ids),
        postpaid=bool(row.postpaid), rows=tuple(shipping_row(r) for r in ordered),
    )


def payment_method_rule(row: PaymentMethod | Row[Any]) -> rp.PaymentMethod:
    value = Decimal(row.discount_value or 0)
    return rp.PaymentMethod(
        id=row.id, name=row.name, kind=_value(row.kind), active=bool(row.active),
        discount_kind=_value(row.discount_kind) if row.discount_kind and value else None,  # type: ignore[arg-type]
        discount_value=value, tax_percent=Decimal(row.tax_percent or 0),
    )


def gateway_rule(row: PaymentGateway | Row[Any]) -> rp.Gateway:
    return rp.Gateway(
        currency=row.currency, conversion_rate=Decimal(row.conversion_rate or 1),
        conversion_op=_value(row.conversion_op),  # type: ignore[arg-type]
        rounding_digits=row.rounding_digits or 0, decimals=row.decimals or 0,
        fee_percent=Decimal(row.fee_percent or 0),
    )


def customer_rule(row: Customer | None, uses: dict[int, int] | None = None) -> rp.Customer:
    """A customer with an account counts as logged in; no customer is a guest."""
    if row is None:
        return rp.Customer()
    return rp.Customer(id=row.id, group_id=row.group_id, logged_in=bool(row.registered),
                       uses=dict(uses or {}))


# --- loading ------------------------------------------------------------------------------


def system_currency(session: Session) -> tuple[str, int]:
    """The system currency (Setting ``system_currency``) and its decimal places."""
    setting = select(Setting.value).where(Setting.key == "system_currency").scalar_subquery()
    code_expr = func.upper(func.trim(func.coalesce(setting, DEFAULT_CURRENCY)))
    code, decimals = session.execute(  # one round trip: this runs on every quote
        select(code_expr, select(CurrencyRow.decimals).where(CurrencyRow.code == code_expr)
               .scalar_subquery())
    ).one()
    return code, 2 if decimals is None else int(decimals)


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
    row = session.scalar(select(Customer).where(Customer.id == customer_id,
                                                Customer.merchant_id == merchant_id))
    if row is None:
        raise CustomerNotFound("The customer %(id)s was not found in this store.",
                               id=customer_id)
    return customer_rule(row, customer_uses(session, row.id))


BOOKKEEPING = frozenset({"created_at", "updated_at", "version", "description"})


def _rule_columns(table: Any) -> list[Any]:
    """A rule table's columns the engine reads: not its timestamps, version or description."""
    return [c for c in table.__table__.c if c.name not in BOOKKEEPING]


def load_discounts(session: Session, discount_code: str | None) -> tuple[rp.DiscountRule, ...]:
    """Active automatic discounts, and the discount with the entered code whatever its state
    (so the quote can say why it does not apply)."""
    automatic = Discount.active.is_(True) & or_(
        Discount.automatic.is_(True), Discount.code.is_(None), func.trim(Discount.code) == "")
    entered = (discount_code or "").strip().casefold()
    condition = automatic
    if entered:
        condition = or_(automatic, func.lower(func.trim(Discount.code)) == entered)
    rows = session.execute(select(*_rule_columns(Discount)).where(condition)
                           .order_by(Discount.id)).all()
    products: dict[int, set[int]] = {}
    if rows:
        for discount_id, product_id in session.execute(
            select(discount_products.c.discount_id, discount_products.c.product_id)
            .where(discount_products.c.discount_id.in_([r.id for r in rows]))
        ):
            products.setdefault(discount_id, set()).add(product_id)
    return tuple(discount_rule(r, products.get(r.id, ())) for r in rows)


def price_cart(session: Session, merchant_id: int, cart: Sequence[CartItem]) -> tuple[
        PricedLine, ...]:
    """Each cart line priced from this merchant's catalog; another merchant's product (or an
    unknown one) is refused."""
    if not cart:
        raise InvalidCart("The cart is empty: add at least one product.")
    for item in cart:
        if item.quantity < 1:
            raise InvalidCart("The quantity of product %(id)s must be at least 1.",
                              id=item.product_id)
    ids = {item.product_id for item in cart}
    products = {p.id: p for p in session.scalars(
        select(Product).where(Product.id.in_(ids), Product.merchant_id == merchant_id))}
    warehouse_ids = {item.warehouse_id for item in cart if item.warehouse_id is not None}
    if warehouse_ids:
        known = set(session.scalars(select(Warehouse.id).where(
            Warehouse.id.in_(warehouse_ids), Warehouse.merchant_id == merchant_id)))
        for missing in sorted(warehouse_ids - known):
            raise ProductNotFound("The warehouse %(id)s was not found in this store.",
                                  id=missing)
    variant_ids = {item.variant_id for item in cart if item.variant_id is not None}
    variants = {v.id: v for v in session.scalars(
        select(ProductVariant).where(ProductVariant.id.in_(variant_ids)))} if variant_ids else {}
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
    return tuple(lines)


def load_inputs(session: Session, merchant_id: int, cart: Sequence[CartItem], *,
                customer_id: int | None = None, discount_code: str | None = None,
                ) -> PricingInputs:
    currency, decimals = system_currency(session)
    return PricingInputs(
        lines=price_cart(session, merchant_id, cart),
        customer=load_customer(session, merchant_id, customer_id),
        discounts=load_discounts(session, discount_code),
        currency=currency, money_decimals=decimals,
    )


def _categories(session: Session, method_ids: Sequence[int]) -> dict[int, set[int]]:
    found: dict[int, set[int]] = {}
    if method_ids:
        for method_id, category_id in session.execute(
            select(shipping_method_categories.c.shipping_method_id,
                   shipping_method_categories.c.category_id)
            .where(shipping_method_categories.c.shipping_method_id.in_(method_ids))
        ):
            found.setdefault(method_id, set()).add(category_id)
    return found


def load_shipping_methods(session: Session, ids: Sequence[int] | None = None, *,
                          active_only: bool = False) -> list[rp.ShippingMethod]:
    """The methods (by ``ids``, or every one) with their rows in position order."""
    stmt = select(*_rule_columns(ShippingMethod)).order_by(ShippingMethod.id)
    if ids is not None:
        stmt = stmt.where(ShippingMethod.id.in_(ids))
    if active_only:
        stmt = stmt.where(ShippingMethod.active.is_(True))
    methods = session.execute(stmt).all()
    method_ids = [m.id for m in methods]
    cost_rows: dict[int, list[Row[Any]]] = {}
    if method_ids:
        for row in session.execute(select(*_rule_columns(ShippingCostRow)).where(
                ShippingCostRow.shipping_method_id.in_(method_ids))):
            cost_rows.setdefault(row.shipping_method_id, []).append(row)
    categories = _categories(session, method_ids)
    return [shipping_method_rule(m, categories.get(m.id, ()), cost_rows.get(m.id, []))
            for m in methods]


def load_payment_methods(session: Session, ids: Sequence[int] | None = None, *,
                         active_only: bool = False,
                         ) -> list[tuple[rp.PaymentMethod, rp.Gateway | None]]:
    """The methods (by ``ids``, or every one) with their gateway, if any."""
    stmt = select(*_rule_columns(PaymentMethod)).order_by(PaymentMethod.id)
    if ids is not None:
        stmt = stmt.where(PaymentMethod.id.in_(ids))
    if active_only:
        stmt = stmt.where(PaymentMethod.active.is_(True))
    methods = session.execute(stmt).all()
    gateway_ids = {m.gateway_id for m in methods if m.gateway_id is not None}
    gateways = {}
    if gateway_ids:
        g = PaymentGateway
        gateways = {row.id: gateway_rule(row) for row in session.execute(  # secrets not read
            select(g.id, g.currency, g.conversion_rate, g.conversion_op, g.rounding_digits,
                   g.decimals, g.fee_percent).where(g.id.in_(gateway_ids)))}
    return [(payment_method_rule(m), gateways.get(m.gateway_id)) for m in methods]


def _shipping(session: Session, method_id: int | None) -> rp.ShippingMethod | None:
    if method_id is None:
        return None
    found = load_shipping_methods(session, [method_id])
    if not found:
        raise ShippingUnavailable("The shipping method %(id)s does not exist.", id=method_id)
    return found[0]


def _payment(session: Session, method_id: int | None,
             ) -> tuple[rp.PaymentMethod | None, rp.Gateway | None]:
    if method_id is None:
        return None, None
    found = load_payment_methods(session, [method_id])
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
    inputs = load_inputs(session, merchant_id, cart, customer_id=customer_id,
                         discount_code=discount_code)
    payment, gateway = _payment(session, payment_method_id)
    return rp.quote(inputs.request(
        channel=channel, now=now or utcnow(), shipping_method=_shipping(session,
                                                                       shipping_method_id),
        payment_method=payment, gateway=gateway, discount_code=discount_code,
        distance_m=distance_m, wallet=wallet, paid=paid,
    ))


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
    inputs = load_inputs(session, merchant_id, cart, customer_id=customer_id,
                         discount_code=discount_code)
    chosen_shipping = _shipping(session, shipping_method_id)
    chosen_payment, chosen_gateway = _payment(session, payment_method_id)
    base = inputs.request(channel=channel, now=now or utcnow(), discount_code=discount_code,
                          distance_m=distance_m, shipping_method=chosen_shipping,
                          payment_method=chosen_payment, gateway=chosen_gateway)
    cart = rp.discount_cart(base)  # the same for every method: computed once
    shipping = tuple(
        Option(m.id, m.name, m.cost_rule, rp.quote(replace(base, shipping_method=m), cart))
        for m in load_shipping_methods(session, active_only=True)
    )
    payment = tuple(
        Option(m.id, m.name, m.kind, rp.quote(replace(base, payment_method=m, gateway=g), cart))
        for m, g in load_payment_methods(session, active_only=True)
    )
    return DeliveryOptions(rp.quote(base, cart), shipping, payment)
