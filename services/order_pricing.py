"""Re-pricing a placed order when what it is priced from changes.

An order's money — each line's unit price, discount and total; the order's subtotal, discount
total, shipping cost, tax, payable, balance due and weight — is the pricing engine's answer
(``rules.pricing.quote``) for its lines and methods. It is never typed (those columns are
``service`` columns: no form shows them as fields). When a person or a store's API key
(someone is acting) flushes a change to an existing order's

- lines: a line added or removed, or its product, variant or quantity changed;
- shipping method, payment method, distance or customer,

the order is re-priced in that same flush, so the edit and its totals commit together or not at
all, and the change log records the new totals beside the edit. Exactly:

- a line keeps the unit price it was ordered at; a new line, or one whose product or variant
  changed, takes the catalog's price now (product price + variant delta);
- discounts are judged at the moment the order was placed (``created_at``), and only those
  the order already holds a use of (its discount-usage rows) may apply: re-pricing never takes
  a new use. A held discount counts as active and keeps the code it was entered with, and this
  order's own uses do not count against its limits; its other terms (kind, value, minimums,
  targets) are read as they are now. A held discount that no longer applies (the cart fell
  under its minimum, the new customer has used up its share) gives its use back: the usage row
  goes and the discount's counter drops by one. A new customer takes over the order's uses;
- wallet and paid amounts stay as recorded; the balance due follows the new payable, and an
  edit that would bring the payable under what was already paid is refused (a refund is a
  payment of its own, not an edit);
- a method that cannot serve the edited order refuses the whole edit with the engine's reason.

Orders being placed are priced by ``services.ordering``; this only re-prices existing ones.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, event, inspect, select, update
from sqlalchemy.orm import Session

from rules import pricing as rp
from schema.catalog import Product, ProductVariant
from schema.discounts import Discount, DiscountUsage
from schema.orders import Channel, Order, OrderLine
from services.actor import current_actor
from services.pricing import (
    PaymentUnavailable,
    PricingRefused,
    ProductNotFound,
    ShippingUnavailable,
    load_customer,
)
from services.rule_rows import load_discounts_by_id
from services.rule_snapshot import rule_snapshot

ORDER_INPUTS = ("shipping_method_id", "payment_method_id", "distance_m", "customer_id",
                "channel")
LINE_INPUTS = ("product_id", "variant_id", "quantity", "order_id")


def _changed(obj: Any, keys: tuple[str, ...]) -> bool:
    state = inspect(obj)
    return any(state.attrs[k].history.has_changes() for k in keys)


def _catalog_price(session: Session, line: OrderLine) -> Decimal:
    price = session.scalar(select(Product.price).where(Product.id == line.product_id))
    if price is None:
        raise ProductNotFound("The product %(id)s was not found in this store.",
                                  id=line.product_id)
    if line.variant_id is not None:
        delta = session.scalar(select(ProductVariant.price_delta).where(
            ProductVariant.id == line.variant_id, ProductVariant.product_id == line.product_id))
        if delta is None:
            raise ProductNotFound("The variant %(variant)s of product %(id)s was not found.",
                                      variant=line.variant_id, id=line.product_id)
        price += delta
    return Decimal(price)


def reprice_order(session: Session, order: Order, lines: list[OrderLine]) -> rp.Quote:
    """Price ``order`` with ``lines`` (its lines after the edit) and write the results."""
    for line in lines:
        state = inspect(line)
        if line.unit_price is None or state.pending or _changed(line, ("product_id",
                                                                        "variant_id")):
            line.unit_price = _catalog_price(session, line)
    products = {row.id: row for row in session.execute(
        select(Product.id, Product.category_id, Product.weight_g)
        .where(Product.id.in_({line.product_id for line in lines})))}
    rules = rule_snapshot(session)
    usages = list(session.scalars(select(DiscountUsage).where(
        DiscountUsage.order_id == order.id)))
    held = {usage.discount_id: usage for usage in usages}
    own_uses: dict[int, int] = {}
    for usage in usages:
        own_uses[usage.discount_id] = own_uses.get(usage.discount_id, 0) + 1
    # The customer's count holds this order's uses only when they were recorded for it.
    customer_own = {u.discount_id: 1 for u in usages if u.customer_id == order.customer_id}
    customer = load_customer(session, order.merchant_id, order.customer_id)
    customer = replace(customer, uses={k: v - customer_own.get(k, 0)
                                       for k, v in customer.uses.items()})
    discounts = tuple(
        replace(rule, active=True, times_used=max(rule.times_used - own_uses.get(rule.id, 0), 0),
                code=None if rule.code is None else order.discount_code)
        for rule in load_discounts_by_id(session, sorted(held))
    )
    shipping = (rules.shipping_methods([order.shipping_method_id])
                if order.shipping_method_id is not None else [])
    payment = (rules.payment_methods([order.payment_method_id])
               if order.payment_method_id is not None else [])
    if order.shipping_method_id is not None and not shipping:
        raise ShippingUnavailable("The shipping method %(id)s does not exist.",
                                  id=order.shipping_method_id)
    if order.payment_method_id is not None and not payment:
        raise PaymentUnavailable("The payment method %(id)s does not exist.",
                                 id=order.payment_method_id)
    quote = rp.quote(rp.QuoteRequest(
        lines=tuple(rp.CartLine(line.product_id, products[line.product_id].category_id,
                                Decimal(line.unit_price), line.quantity,
                                products[line.product_id].weight_g or 0) for line in lines),
        customer=customer, channel="app" if order.channel == Channel.APP else "web",
        now=order.created_at or order.ordered_at, currency=rules.currency,
        shipping_method=shipping[0] if shipping else None,
        payment_method=payment[0][0] if payment else None,
        gateway=payment[0][1] if payment else None, discount_code=order.discount_code,
        distance_m=order.distance_m, discounts=discounts,
        wallet=Decimal(order.wallet_amount or 0), paid=Decimal(order.paid_amount or 0),
        money_decimals=rules.money_decimals,
    ))
    _check_methods(order, quote)
    settled = Decimal(order.wallet_amount or 0) + Decimal(order.paid_amount or 0)
    if quote.payable < settled:
        raise PricingRefused(
            "The edited order would cost %(payable)s, less than the %(settled)s already paid; "
            "record the refund first.", payable=quote.payable, settled=settled)
    _write(session, order, lines, quote, held)
    return quote


def _check_methods(order: Order, quote: rp.Quote) -> None:
    if order.shipping_method_id is not None and (quote.shipping is None
                                                 or not quote.shipping.available):
        reason = quote.shipping.reason if quote.shipping and quote.shipping.reason else ""
        raise ShippingUnavailable(
            "The shipping method %(id)s cannot deliver this order: %(reason)s",
            id=order.shipping_method_id, reason=reason)
    if order.payment_method_id is not None and (quote.payment is None
                                                or not quote.payment.available):
        raise PaymentUnavailable("The payment method %(id)s is not active; choose another.",
                                 id=order.payment_method_id)


def _write(session: Session, order: Order, lines: list[OrderLine], quote: rp.Quote,
           held: dict[int, DiscountUsage]) -> None:
    for line, priced in zip(lines, quote.lines, strict=True):
        line.unit_price = priced.unit_price
        line.discount_amount = priced.discount
        line.line_total = priced.total
        line.currency = quote.currency
        line.weight_g = priced.weight_g * priced.quantity
    shipping = quote.shipping
    order.currency = quote.currency
    order.subtotal = quote.subtotal
    order.discount_total = quote.discount_total + quote.payment_discount
    order.shipping_cost = shipping.cost if shipping is not None else Decimal(0)
    order.postpaid_shipping = bool(shipping is not None and shipping.postpaid)
    order.tax_total = quote.tax
    order.payable = quote.payable
    order.balance_due = quote.balance
    order.total_weight_g = sum(line.weight_g * line.quantity for line in quote.lines)
    applied = {a.rule_id: a for a in quote.applied}
    for discount_id, usage in held.items():
        if discount_id in applied:
            usage.amount = applied[discount_id].amount
            usage.customer_id = order.customer_id
            continue
        gone = session.execute(delete(DiscountUsage).where(DiscountUsage.id == usage.id)
                               .execution_options(synchronize_session=False))
        if gone.rowcount:  # type: ignore[attr-defined]
            session.expunge(usage)
            session.execute(update(Discount).where(Discount.id == discount_id,
                                                   Discount.times_used > 0)
                            .values(times_used=Discount.times_used - 1)
                            .execution_options(synchronize_session=False))
    if order.discount_id is not None and order.discount_id not in applied:
        order.discount_id = next(iter(applied), None)


def _line_order(session: Session, line: OrderLine) -> Order | None:
    order = line.__dict__.get("order")
    if order is None and line.order_id is not None:
        order = session.get(Order, line.order_id)
    return order


@event.listens_for(Session, "before_flush")
def _reprice_edited_orders(session: Session, _ctx: Any, _instances: Any) -> None:
    if current_actor() is None:
        return  # seeding, demo data and tests' factories write totals as they are given
    orders: dict[int, Order] = {}
    removed: set[OrderLine] = set()
    for obj in session.dirty:
        if isinstance(obj, Order) and _changed(obj, (*ORDER_INPUTS, "lines")):
            orders[id(obj)] = obj
    for obj in list(session.new) + list(session.dirty) + list(session.deleted):
        if not isinstance(obj, OrderLine):
            continue
        if obj in session.deleted:
            removed.add(obj)
        elif obj not in session.new and not _changed(obj, LINE_INPUTS):
            continue
        with session.no_autoflush:
            order = _line_order(session, obj)
        if order is not None and not inspect(order).pending:
            orders[id(order)] = order
    if not orders:
        return
    with session.no_autoflush:
        for order in orders.values():
            current = [line for line in order.lines if line not in removed]
            current += [obj for obj in session.new if isinstance(obj, OrderLine)
                        and obj not in current and _line_order(session, obj) is order]
            reprice_order(session, order, current)
