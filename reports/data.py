"""Plain data the document templates read, and its assembly from the schema.

Templates never touch the ORM: a context holds these frozen dataclasses (Decimal amounts with
their currency, aware datetimes, already-translated workflow labels), so it can be built in one
session under the person's scoping and rendered anywhere, including a worker process.
Choice labels (``LabelledEnum.label``) stay English msgids here; templates translate them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from schema.couriers import Courier
from schema.customers import CustomerKind
from schema.invoices import Invoice
from schema.orders import Order, OrderLine
from schema.payments import PaymentMethodKind
from schema.people import Merchant
from services.records import status_labels


@dataclass(frozen=True)
class Party:
    name: str
    legal_name: str | None = None
    tax_id: str | None = None
    address: str | None = None
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class LineData:
    position: int
    name: str
    sku: str
    variant: str | None
    quantity: int
    unit_price: Decimal
    discount: Decimal
    total: Decimal
    weight_g: int


@dataclass(frozen=True)
class OrderData:
    id: int
    number: str
    tracking_number: str | None
    ordered_at: datetime
    currency: str
    status: str
    shipping_status: str
    courier_status: str | None
    order_type: str
    customer_kind: str
    is_legal: bool
    delivery: str
    merchant: Party
    buyer: Party
    recipient: Party
    customer_comment: str | None
    invoice_note: str | None
    payment_method: str | None
    shipping_method: str | None
    courier: str | None
    destination: str | None
    discount_code: str | None
    lines: tuple[LineData, ...]
    subtotal: Decimal
    discount_total: Decimal
    shipping_cost: Decimal
    tax_total: Decimal
    payable: Decimal
    wallet_amount: Decimal
    paid_amount: Decimal
    balance_due: Decimal
    postpaid_shipping: bool
    total_weight_g: int
    invoice_number: str
    invoice_date: datetime
    # What the courier takes in cash at the door (``cash_to_collect``); zero when paid.
    cash_to_collect: Decimal = Decimal(0)

    @property
    def code(self) -> str:
        """What the barcode and QR code carry: the tracking number, else the order number."""
        return self.tracking_number or self.number

    @property
    def item_count(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def goods_total(self) -> Decimal:
        """The goods' price after discounts, without delivery: what a refusal refunds."""
        return self.subtotal - self.discount_total


# The payment kinds whose money a courier takes at the door. Online, bank-slip and cheque orders
# are paid before the road and deferred ones are invoiced later: a courier asking for their
# balance would have the buyer pay twice.
COLLECTED_AT_THE_DOOR = frozenset({PaymentMethodKind.CASH_ON_DELIVERY})


def cash_to_collect(kind: PaymentMethodKind | None, balance_due: Decimal) -> Decimal:
    """What a courier must take in cash for an order: its balance due when it is paid on
    delivery, else nothing (an order with no payment method recorded included)."""
    if kind in COLLECTED_AT_THE_DOOR and balance_due > 0:
        return balance_due
    return Decimal(0)


def parcel_cash_to_collect(declared_price: Decimal | None, paid: bool) -> Decimal:
    """A parcel's price still owed by its recipient: empty or paid means nothing."""
    if paid or declared_price is None or declared_price <= 0:
        return Decimal(0)
    return declared_price


def merchant_party(merchant: Merchant) -> Party:
    return Party(name=merchant.name, legal_name=merchant.legal_name, tax_id=merchant.tax_id,
                 address=merchant.address, phone=merchant.phone, email=merchant.email)


def _join(*parts: str | None) -> str | None:
    text = ", ".join(p.strip() for p in parts if p and p.strip())
    return text or None


def _line(position: int, line: OrderLine) -> LineData:
    variant = None
    if line.variant is not None:
        variant = " / ".join(v for v in (line.variant.colour, line.variant.size) if v) or None
    return LineData(
        position=position, name=line.product.name,
        sku=(line.variant.sku if line.variant is not None and line.variant.sku
             else line.product.sku),
        variant=variant, quantity=line.quantity, unit_price=line.unit_price,
        discount=line.discount_amount, total=line.line_total,
        weight_g=line.actual_weight_g or line.weight_g or 0,
    )


def load_orders(session: Session, ids: Sequence[int]) -> list[Order]:
    """The orders of ``ids`` the session may see (scoping applies), in the order asked."""
    rows = session.scalars(
        select(Order).where(Order.id.in_(list(ids)), Order.deleted_at.is_(None))
        .options(
            selectinload(Order.lines).options(joinedload(OrderLine.product),
                                              joinedload(OrderLine.variant)),
            joinedload(Order.merchant), joinedload(Order.customer),
            joinedload(Order.payment_method), joinedload(Order.shipping_method),
            joinedload(Order.courier), joinedload(Order.locker), joinedload(Order.pickup_point),
        )
    ).unique().all()
    by_id = {order.id: order for order in rows}
    return [by_id[i] for i in ids if i in by_id]


def latest_invoices(session: Session, order_ids: Sequence[int]) -> dict[int, Invoice]:
    found: dict[int, Invoice] = {}
    for invoice in session.scalars(
        select(Invoice).where(Invoice.order_id.in_(list(order_ids)))
        .order_by(Invoice.issued_at, Invoice.id)
    ):
        found[invoice.order_id] = invoice
    return found


def order_data(session: Session, orders: Sequence[Order], lang: str) -> list[OrderData]:
    """The plain data of each order, with workflow labels in ``lang``."""
    labels = status_labels(session, lang)
    invoices = latest_invoices(session, [o.id for o in orders])

    def state(column: str, code: str | None) -> str:
        if code is None:
            return ""
        found = labels.get(("orders", column, code))
        return found.text if found is not None else code

    result = []
    for order in orders:
        customer = order.customer
        buyer = Party(
            name=(customer.name if customer is not None else order.recipient_name) or "",
            tax_id=order.buyer_tax_id or (customer.tax_id if customer is not None else None),
            address=_join(customer.address, customer.city, customer.postcode)
            if customer is not None else None,
            phone=customer.phone if customer is not None else None,
            email=customer.email if customer is not None else None,
        )
        destination = None
        if order.locker is not None:
            destination = _join(str(order.locker), order.locker.address, order.locker.city)
        elif order.pickup_point is not None:
            point = order.pickup_point
            destination = _join(point.name, point.address, point.city)
        invoice = invoices.get(order.id)
        result.append(OrderData(
            id=order.id, number=order.number, tracking_number=order.tracking_number,
            ordered_at=order.ordered_at, currency=order.currency,
            status=state("status", order.status),
            shipping_status=state("shipping_status", order.shipping_status),
            courier_status=state("courier_status", order.courier_status) or None,
            order_type=order.order_type.label, customer_kind=order.customer_kind.label,
            is_legal=order.customer_kind == CustomerKind.LEGAL,
            delivery=order.delivery_kind.label,
            merchant=merchant_party(order.merchant), buyer=buyer,
            recipient=Party(
                name=order.recipient_name or buyer.name, phone=order.recipient_phone,
                address=_join(order.recipient_address, order.recipient_city,
                              order.recipient_postcode)),
            customer_comment=order.customer_comment, invoice_note=order.invoice_note,
            payment_method=order.payment_method.name if order.payment_method else None,
            shipping_method=order.shipping_method.name if order.shipping_method else None,
            courier=order.courier.full_name if order.courier else None,
            destination=destination, discount_code=order.discount_code,
            lines=tuple(_line(i, line) for i, line in enumerate(order.lines, start=1)),
            subtotal=order.subtotal, discount_total=order.discount_total,
            shipping_cost=order.shipping_cost, tax_total=order.tax_total,
            payable=order.payable, wallet_amount=order.wallet_amount,
            paid_amount=order.paid_amount, balance_due=order.balance_due,
            postpaid_shipping=order.postpaid_shipping, total_weight_g=order.total_weight_g,
            invoice_number=invoice.number if invoice is not None else order.number,
            invoice_date=invoice.issued_at if invoice is not None else order.ordered_at,
            cash_to_collect=cash_to_collect(
                order.payment_method.kind if order.payment_method else None, order.balance_due),
        ))
    return result


@dataclass(frozen=True)
class CourierData:
    id: int
    full_name: str
    mobile: str
    badge_number: str | None
    vehicle: str | None
    service_area: str | None


def courier_data(courier: Courier) -> CourierData:
    return CourierData(id=courier.id, full_name=courier.full_name, mobile=courier.mobile,
                       badge_number=courier.badge_number, vehicle=courier.vehicle,
                       service_area=courier.service_area)


@dataclass(frozen=True)
class Money:
    """An amount with its currency (a total per currency on multi-currency documents)."""

    amount: Decimal
    currency: str


def totals_by_currency(pairs: Sequence[tuple[Decimal, str]]) -> tuple[Money, ...]:
    sums: dict[str, Decimal] = {}
    for amount, currency in pairs:
        sums[currency] = sums.get(currency, Decimal(0)) + amount
    return tuple(Money(amount, currency) for currency, amount in sorted(sums.items()))


def day_bounds(day: date) -> tuple[datetime, datetime]:
    from datetime import UTC, time, timedelta

    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)
