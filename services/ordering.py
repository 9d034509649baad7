"""Placing an order: price the cart, write the order and its lines, record discount usage and
the order's first status-history row.

One call is one unit of work in the caller's transaction: nothing here commits, and a refusal
leaves the caller to roll back (refusals about the cart, the methods or the code come before
anything is written).

Discount limits hold under concurrency:

- On PostgreSQL the discount row is locked first (``SELECT ... FOR UPDATE``, in id order so two
  orders with the same discounts cannot deadlock); on SQLite the single writer lock serves.
- ``times_used`` is raised with a conditional UPDATE (``... WHERE total_uses_allowed IS NULL OR
  total_uses_allowed = 0 OR times_used < total_uses_allowed``); no row updated means no use
  was left, whatever the quote read earlier.
- The per-customer limit is counted after the lock, in the same transaction, so two orders of
  one customer cannot both take the last use.

The first history row of the order status (``schema.workflows.StatusChange``, shown on the
order page) is written in the same transaction: from nothing to the workflow's initial state, at
the moment of placing (``now``, not the order date staff may enter), by the acting user (none
for the API), with a comment in the actor's language naming the channel and, for the API, the
merchant whose key placed it.

An order with delivery kind "locker" that names a locker (``OrderInput.locker_id``, with
``parcel_size``) gets its parcel in the same transaction: ``services.parcels.register_parcel``
reserves a cell on the store's behalf; no fitting cell refuses the order (nothing written).

Order numbers are ``<prefix>-<id>`` (``PD-000123``, prefix from the setting
``order_number_prefix``) for every channel: see ``reserve_order_id`` and
``free_order_number``. Numbers given before
(``PD261201-13A4156B79``) stay as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.orm import Session

from locales import gettext
from rules import pricing as rp
from rules.workflow import initial_state
from schema.base import N_, utcnow
from schema.customers import Customer, CustomerKind
from schema.discounts import Discount, DiscountTarget, DiscountUsage
from schema.orders import Channel, DeliveryKind, Order, OrderLine, OrderType
from schema.payments import PaymentMethod, PaymentMethodKind
from schema.people import Merchant, Setting
from schema.workflows import StatusChange, Workflow
from services.actor import Actor, acting_as, current_actor
from services.parcels import LANGUAGES, ParcelInput, register_parcel
from services.pricing import (
    CartItem,
    PaymentUnavailable,
    PricingRefused,
    ShippingUnavailable,
    quote_cart,
)
from services.status import workflow_for
from services.workflow_defs import load_definition

NUMBER_PREFIX = "PD"
NUMBER_PREFIX_SETTING = "order_number_prefix"


class DiscountExhausted(PricingRefused):
    code = "discount_exhausted"


class DiscountNotApplicable(PricingRefused):
    code = "discount_not_applicable"


@dataclass(frozen=True)
class OrderInput:
    """An order as a store (or a person at the admin) sends it; prices come from the catalog."""

    cart: Sequence[CartItem]
    shipping_method_id: int | None = None
    payment_method_id: int | None = None
    customer_id: int | None = None
    channel: str = "web"  # web, app or admin (priced as web)
    discount_code: str | None = None
    distance_m: int | None = None
    delivery_kind: str = "address"
    recipient_name: str | None = None
    recipient_phone: str | None = None
    recipient_address: str | None = None
    recipient_city: str | None = None
    recipient_postcode: str | None = None
    customer_comment: str | None = None
    note: str | None = None
    wallet: Decimal = Decimal(0)
    paid: Decimal = Decimal(0)
    ordered_at: datetime | None = None  # entered by staff; default: now
    order_type: str = "regular"
    customer_kind: str = "individual"
    buyer_tax_id: str | None = None
    # Delivery kind "locker": the locker and the parcel's size; the order's parcel is
    # registered with a reserved cell in the same transaction (``_locker_parcel``).
    locker_id: int | None = None
    parcel_size: str | None = None


PLACED_BY_API = N_("Order placed through the API by %(merchant)s; channel: %(channel)s.")
PLACED = N_("Order placed; channel: %(channel)s.")


def _initial(session: Session, field_name: str) -> tuple[str, str]:
    """The workflow governing ``orders.<field_name>`` for a new order, and its initial state."""
    code = workflow_for(session, "orders", field_name, None)
    return code, initial_state(load_definition(session, code))


def _first_status_row(session: Session, order: Order, workflow: str, now: datetime,
                      ) -> StatusChange:
    actor = current_actor()
    channel = gettext(order.channel.label)
    if actor is not None and actor.user_id is None and actor.merchant_id is not None:
        # The API acts as the merchant itself: no user to name, so the comment names the store.
        name = session.scalar(select(Merchant.name).where(Merchant.id == order.merchant_id))
        comment = gettext(PLACED_BY_API) % {"merchant": name, "channel": channel}
    else:
        comment = gettext(PLACED) % {"channel": channel}
    return StatusChange(
        workflow_id=session.scalar(select(Workflow.id).where(Workflow.code == workflow)),
        table_name=Order.__tablename__, record_id=order.id, from_state=None,
        to_state=order.status, user_id=actor.user_id if actor is not None else None,
        comment=comment, at=now,
    )


def number_prefix(session: Session) -> str:
    """The setting ``order_number_prefix`` (default ``PD``), trimmed and cut to 16 characters
    (the number column holds 32); may be empty."""
    value = session.scalar(select(Setting.value).where(Setting.key == NUMBER_PREFIX_SETTING))
    return NUMBER_PREFIX if value is None else value.strip()[:16]


def order_number(prefix: str, order_id: int) -> str:
    """``<prefix>-<id, six digits at least>`` (``PD-000123``); without a prefix the digits alone."""
    return f"{prefix}-{order_id:06d}" if prefix else f"{order_id:06d}"


def reserve_order_id(session: Session) -> int:
    """The id the next order will have, taken before its INSERT so that its number is right
    from the first write (the change log records the order as created with it).

    PostgreSQL: ``nextval`` of the table's sequence, which never hands out a value twice and
    never makes one transaction wait for another; a rolled-back placement leaves a gap.
    SQLite runs one writer at a time: a write statement that changes nothing takes the write
    lock for the rest of the transaction, so the next id read under it stays free until the
    INSERT (a concurrent placement waits for the lock, as for any other write)."""
    if session.get_bind().dialect.name == "postgresql":
        return int(session.scalar(
            text("SELECT nextval(pg_get_serial_sequence('orders', 'id'))")))
    session.execute(text("UPDATE orders SET id = id WHERE 0 = 1"))
    return int(session.scalar(text("SELECT coalesce(max(id), 0) + 1 FROM orders")))


def free_order_number(session: Session, order_id: int, prefix: str | None = None) -> str:
    """The number of the order that will have ``order_id``: the prefix and the id.

    One scheme for every channel (the API, manual entry, the demo generator); unique because
    ids are. A number already held by another order (one given before this scheme, or under a
    prefix changed back) gets a ``-2``, ``-3``… suffix, checked against every merchant's
    orders (a Core query, outside the merchant scoping)."""
    if prefix is None:
        prefix = number_prefix(session)
    base = order_number(prefix, order_id)
    orders = Order.__table__
    number = base
    for suffix in range(2, 100):
        if session.execute(select(orders.c.id).where(orders.c.number == number)).first() is None:
            return number
        number = f"{base}-{suffix}"
    raise RuntimeError("could not find a free order number")  # pragma: no cover


def _check_methods(order_input: OrderInput, quote: rp.Quote) -> None:
    if order_input.shipping_method_id is not None:
        shipping = quote.shipping
        if shipping is None or not shipping.available:
            reason = shipping.reason if shipping is not None and shipping.reason else ""
            raise ShippingUnavailable(
                "The shipping method %(id)s cannot deliver this order: %(reason)s",
                id=order_input.shipping_method_id, reason=reason)
    if order_input.payment_method_id is not None:
        payment = quote.payment
        if payment is None or not payment.available:
            raise PaymentUnavailable("The payment method %(id)s is not active; choose another.",
                                     id=order_input.payment_method_id)


def _check_code(session: Session, code: str | None, quote: rp.Quote) -> None:
    """An entered code must apply; the order is refused with the reason otherwise."""
    code = (code or "").strip()
    if not code or any(a.source == "code" for a in quote.applied):
        return
    for skipped in quote.skipped:
        if skipped.rule_id is None:
            raise DiscountNotApplicable("The discount code %(code)s cannot be used: %(reason)s",
                                        code=code, reason=skipped.reason)
        discount = session.get(Discount, skipped.rule_id)
        if discount is None or discount.automatic:
            continue
        limit = discount.total_uses_allowed
        if limit and discount.times_used >= limit:
            raise DiscountExhausted("The discount code %(code)s has no uses left.", code=code)
        raise DiscountNotApplicable("The discount code %(code)s cannot be used: %(reason)s",
                                    code=code, reason=skipped.reason)


def _take_use(session: Session, applied: rp.AppliedDiscount, customer: int | None,
              logged_in: bool, code: str | None) -> Discount:
    """Lock the discount, raise its counter if a use is left, check the per-customer limit."""
    session.execute(select(Discount.id).where(Discount.id == applied.rule_id)
                    .with_for_update())  # PostgreSQL; compiles to nothing on SQLite
    result = session.execute(
        update(Discount)
        .where(Discount.id == applied.rule_id, or_(
            Discount.total_uses_allowed.is_(None), Discount.total_uses_allowed == 0,
            Discount.times_used < Discount.total_uses_allowed))
        .values(times_used=Discount.times_used + 1)
        .execution_options(synchronize_session=False)
    )
    name = code if applied.source == "code" and code else applied.name
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise DiscountExhausted("The discount code %(code)s has no uses left.", code=name)
    discount = session.get(Discount, applied.rule_id, populate_existing=True)
    assert discount is not None
    per_customer = discount.uses_per_customer
    if (per_customer and customer is not None and logged_in
            and discount.target != DiscountTarget.CUSTOMER):
        used = session.scalar(select(func.count()).select_from(DiscountUsage).where(
            DiscountUsage.discount_id == discount.id, DiscountUsage.customer_id == customer))
        if (used or 0) >= per_customer:
            raise DiscountExhausted(
                "The customer has already used the discount %(code)s the %(limit)s times "
                "allowed per customer.", code=name, limit=per_customer)
    return discount


def place_order(session: Session, merchant_id: int, order_input: OrderInput, *,
                actor: Actor | None = None, now: datetime | None = None) -> Order:
    """Price ``order_input`` and write the order with its lines and discount usage; the caller
    commits. Refusals (``services.pricing.PricingRefused`` and subclasses) carry a stable
    ``code``."""
    return place_order_quoted(session, merchant_id, order_input, actor=actor, now=now)[0]


def place_order_quoted(session: Session, merchant_id: int, order_input: OrderInput, *,
                       actor: Actor | None = None, now: datetime | None = None,
                       ) -> tuple[Order, rp.Quote]:
    """``place_order`` that also returns the quote the order was priced with."""
    if actor is not None and actor.merchant_id is not None and actor.merchant_id != merchant_id:
        raise PricingRefused("You can only place orders for your own store.")
    with acting_as(actor) if actor is not None else nullcontext():
        return _place(session, merchant_id, order_input, now or utcnow())


def _check_parties(order_input: OrderInput) -> None:
    for enum, value in ((Channel, order_input.channel), (OrderType, order_input.order_type),
                        (CustomerKind, order_input.customer_kind),
                        (DeliveryKind, order_input.delivery_kind)):
        if value not in {member.value for member in enum}:
            raise PricingRefused("%(value)s is not a valid choice.", value=value)
    if order_input.customer_kind == CustomerKind.LEGAL and not (
            order_input.buyer_tax_id or "").strip():
        raise PricingRefused("An order of a legal entity needs the buyer's tax id.")


def _place(session: Session, merchant_id: int, order_input: OrderInput, now: datetime,
           ) -> tuple[Order, rp.Quote]:
    _check_parties(order_input)
    channel = Channel(order_input.channel)
    quote = quote_cart(
        session, merchant_id, order_input.cart, customer_id=order_input.customer_id,
        channel="app" if channel == Channel.APP else "web",
        shipping_method_id=order_input.shipping_method_id,
        payment_method_id=order_input.payment_method_id,
        discount_code=order_input.discount_code, distance_m=order_input.distance_m, now=now,
        wallet=order_input.wallet, paid=order_input.paid,
    )
    _check_methods(order_input, quote)
    _check_code(session, order_input.discount_code, quote)

    logged_in = False
    if order_input.customer_id is not None:
        customer = session.get(Customer, order_input.customer_id)
        logged_in = bool(customer is not None and customer.registered)
    used = [_take_use(session, a, order_input.customer_id, logged_in, order_input.discount_code)
            for a in sorted(quote.applied, key=lambda a: a.rule_id)]
    by_id = {d.id: d for d in used}

    shipping = quote.shipping
    code_discount = next((a for a in quote.applied if a.source == "code"), None)
    first = code_discount or (quote.applied[0] if quote.applied else None)
    status_workflow, status = _initial(session, "status")
    order_id = reserve_order_id(session)
    order = Order(
        id=order_id,
        merchant_id=merchant_id,
        number=free_order_number(session, order_id),
        created_at=now,  # the instant it was priced at: re-pricing judges discounts then
        ordered_at=order_input.ordered_at or now,
        order_type=OrderType(order_input.order_type),
        customer_kind=CustomerKind(order_input.customer_kind),
        buyer_tax_id=(order_input.buyer_tax_id or "").strip() or None,
        status=status,
        shipping_status=_initial(session, "shipping_status")[1],
        channel=channel,
        delivery_kind=DeliveryKind(order_input.delivery_kind),
        customer_id=order_input.customer_id,
        shipping_method_id=order_input.shipping_method_id,
        payment_method_id=order_input.payment_method_id,
        discount_id=first.rule_id if first else None,
        discount_code=(order_input.discount_code or "").strip() or None,
        currency=quote.currency,
        subtotal=quote.subtotal,
        # The order keeps one discount column: cart discounts plus the payment-method discount,
        # so payable = subtotal − discount_total + tax_total + shipping (unless postpaid).
        discount_total=quote.discount_total + quote.payment_discount,
        shipping_cost=shipping.cost if shipping is not None else Decimal(0),
        postpaid_shipping=bool(shipping is not None and shipping.postpaid),
        tax_total=quote.tax,
        payable=quote.payable,
        wallet_amount=quote.wallet,
        paid_amount=quote.paid,
        balance_due=quote.balance,
        total_weight_g=sum(line.weight_g * line.quantity for line in quote.lines),
        distance_m=order_input.distance_m,
        recipient_name=order_input.recipient_name,
        recipient_phone=order_input.recipient_phone,
        recipient_address=order_input.recipient_address,
        recipient_city=order_input.recipient_city,
        recipient_postcode=order_input.recipient_postcode,
        customer_comment=order_input.customer_comment,
        note=order_input.note,
    )
    for item, line in zip(order_input.cart, quote.lines, strict=True):
        order.lines.append(OrderLine(
            product_id=line.product_id, variant_id=item.variant_id,
            warehouse_id=item.warehouse_id, quantity=line.quantity,
            unit_price=line.unit_price, discount_amount=line.discount, line_total=line.total,
            currency=quote.currency, weight_g=line.weight_g * line.quantity,
        ))
    session.add(order)
    session.flush()
    for applied in quote.applied:
        session.add(DiscountUsage(
            discount_id=by_id[applied.rule_id].id, order_id=order.id,
            customer_id=order_input.customer_id, amount=applied.amount,
            currency=quote.currency, used_at=now,
        ))
    session.add(_first_status_row(session, order, status_workflow, now))
    session.flush()
    _locker_parcel(session, order, order_input, now)
    return order, quote


def _locker_parcel(session: Session, order: Order, order_input: OrderInput,
                   now: datetime) -> None:
    """An order to a parcel locker that names one gets its parcel now, with a reserved cell:
    registered on the store's behalf (role merchant, whoever placed the order) for the order's
    recipient, in the customer's language, the balance due to collect when the buyer pays
    cash on delivery. Refused (and the order with it) when the locker has no fitting cell."""
    if order_input.locker_id is None:
        return
    if order.delivery_kind != DeliveryKind.LOCKER:
        raise PricingRefused("A parcel locker is chosen only for delivery to a parcel locker.")
    customer = (session.get(Customer, order_input.customer_id)
                if order_input.customer_id is not None else None)
    language = customer.language if customer is not None else None
    method = (session.get(PaymentMethod, order.payment_method_id)
              if order.payment_method_id is not None else None)
    cash = method is not None and method.kind == PaymentMethodKind.CASH_ON_DELIVERY
    placed_by = current_actor()
    register_parcel(session, Actor(
        user_id=placed_by.user_id if placed_by is not None else None,
        username=placed_by.username if placed_by is not None else "order",
        role="merchant", merchant_id=order.merchant_id,
    ), ParcelInput(
        locker_id=order_input.locker_id, size=order_input.parcel_size or "",
        recipient_name=order.recipient_name, recipient_phone=order.recipient_phone,
        recipient_language=language if language in LANGUAGES else "ru",
        declared_price=order.balance_due if cash and order.balance_due > 0 else None,
        currency=order.currency, order_id=order.id,
    ), now=now)
