"""What the order page shows (R-ORD-2, R-ORD-3), loaded in one session with a fixed number of
queries whatever the order's size: the order with its lines (product, variant, warehouse), its
customer, methods and merchant; the stock of its products per warehouse; the customer's
previous orders; its gateway transactions; its notes; the choices of its small forms.

Reads only. Every query runs in the person's scoped session, so another merchant's rows never
appear (the order itself reads as missing for them).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from schema.base import N_
from schema.catalog import StockLevel, Warehouse
from schema.invoices import GatewayTransaction
from schema.orders import Order, OrderLine, OrderNote, OrderType
from schema.payments import PaymentMethod
from schema.shipping import ShippingMethod
from services.order_edits import items_editable, recipient_editable

PREVIOUS_ORDERS = 20  # the customer's most recent ones; the orders list has the rest
# What a gateway transaction's status code says to a person; an unknown code shows as it is.
TRANSACTION_STATES = {"started": N_("Entered the gateway"), "paid": N_("Paid"),
                      "failed": N_("Failed"), "cancelled": N_("Cancelled by the buyer")}


def load_order_page(session: Session, order_id: int) -> dict[str, Any]:
    """The order and everything around it, or {} when this person has no such order."""
    order = session.scalar(
        select(Order).where(Order.id == order_id, Order.deleted_at.is_(None))
        .options(
            selectinload(Order.lines).selectinload(OrderLine.product),
            selectinload(Order.lines).selectinload(OrderLine.variant),
            selectinload(Order.lines).selectinload(OrderLine.warehouse),
            selectinload(Order.customer), selectinload(Order.merchant),
            selectinload(Order.payment_method), selectinload(Order.shipping_method),
            selectinload(Order.operator), selectinload(Order.courier),
            selectinload(Order.postal_system), selectinload(Order.pickup_point),
            selectinload(Order.locker), selectinload(Order.parent)))
    if order is None:
        return {}
    products = {line.product_id for line in order.lines}
    # Stock of the order's products in every warehouse of the store: each line's own variant's
    # row and the product's rows without a variant.
    wanted = {(line.product_id, line.variant_id) for line in order.lines}
    stock = [row for row in session.scalars(
        select(StockLevel).where(StockLevel.product_id.in_(products))
        .options(selectinload(StockLevel.warehouse), selectinload(StockLevel.product),
                 selectinload(StockLevel.variant))
        .order_by(StockLevel.product_id, StockLevel.variant_id, StockLevel.warehouse_id))
        if (row.product_id, row.variant_id) in wanted or row.variant_id is None] \
        if products else []
    previous = session.scalars(
        select(Order).where(Order.customer_id == order.customer_id, Order.id != order.id,
                            Order.deleted_at.is_(None))
        .order_by(Order.ordered_at.desc()).limit(PREVIOUS_ORDERS)).all() \
        if order.customer_id is not None else []
    transactions = session.scalars(
        select(GatewayTransaction).where(GatewayTransaction.order_id == order.id)
        .options(selectinload(GatewayTransaction.gateway))
        .order_by(GatewayTransaction.entered_at.desc())).all()
    notes = session.scalars(
        select(OrderNote).where(OrderNote.order_id == order.id)
        .options(selectinload(OrderNote.author)).order_by(OrderNote.id.desc())).all()
    return {
        "order": order,
        "lines": list(order.lines),
        "stock": stock,
        "previous_orders": previous,
        "transactions": transactions,
        "transaction_states": TRANSACTION_STATES,
        "notes": notes,
        "items_editable": items_editable(order),
        "recipient_editable": recipient_editable(order),
        "order_types": list(OrderType),
        "payment_methods": _with_current(session.scalars(
            select(PaymentMethod).where(PaymentMethod.active.is_(True))
            .order_by(PaymentMethod.name)).all(), order.payment_method),
        "shipping_methods": _with_current(session.scalars(
            select(ShippingMethod).where(ShippingMethod.active.is_(True))
            .order_by(ShippingMethod.name)).all(), order.shipping_method),
        "warehouses": session.scalars(
            select(Warehouse).where(Warehouse.merchant_id == order.merchant_id,
                                    Warehouse.active.is_(True))
            .order_by(Warehouse.name)).all(),
    }


def _with_current(active: Any, current: Any) -> list[Any]:
    """The active choices plus the order's own (an inactive method stays shown as chosen)."""
    rows = list(active)
    if current is not None and current not in rows:
        rows.insert(0, current)
    return rows
