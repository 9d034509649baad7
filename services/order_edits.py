"""Edits of a placed order from its page (R-ORD-2, R-ORD-3): items, recipient, financial info,
notes. One function = one transaction's work; the caller commits or rolls back.

Exact semantics:

- Every function reads the order through the acting person's scoped session: an order of
  another merchant (or outside an operator's own orders) reads as missing and raises
  ``OrderNotFound``; an order in the bin is refused.
- The forms that change the order carry the order's ``version`` as the person saw it. When the
  order moved on since (someone else saved anything on it), ``Conflict`` is raised and nothing
  is written. The ORM's version column guards the gap between that check and the flush too
  (a concurrent commit there is the same ``Conflict``).
- Money is never typed. Items (add a line, change a quantity, remove a line) and the shipping
  and payment methods are inputs of the price: the flush re-prices the order through the engine
  (``services.order_pricing``), so the new totals commit with the edit or the whole edit is
  refused with the engine's reason (a method that cannot serve the order, a payable under what
  was already paid). The discount code is not editable: its use was counted at placement.
- What may change in which status is data, the flags of the order's current workflow states
  (``schema.workflows.WorkflowState``): each of ``orders.status`` and ``orders.shipping_status``
  is looked up in the workflow that governs it for a record in that state
  (``services.status.workflow_for``, so a Belpost order reads Belpost's states).
- Items and methods may change only while the goods have not left: both the status state and
  the shipping status state have ``items_editable`` (by default: the order statuses before
  "shipped", the shipping statuses before anything is loaded). Otherwise ``EditClosed`` says so.
- The recipient may be corrected until the order reaches the customer: refused once either
  state has ``recipient_editable`` off (by default: delivered, returned, delivered to the
  customer).
- A status no workflow knows (or a column no workflow governs) reads as the flags' defaults:
  items closed, recipient open.
- The other financial fields (order type, bank slip, cheque, payment info, payment date,
  invoice note) stay editable in every status: they record what happened, they price nothing.
- A note may be added in any status; it is never edited here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, object_session
from sqlalchemy.orm.exc import StaleDataError

from locales import ascii_number
from schema.base import utcnow
from schema.catalog import Product, ProductVariant, Warehouse
from schema.orders import Order, OrderLine, OrderNote, OrderType
from schema.payments import PaymentMethod
from schema.shipping import ShippingMethod
from schema.workflows import Workflow, WorkflowState
from services.actor import Actor
from services.errors import Conflict, InvalidInput, Refused
from services.pricing import MAX_QUANTITY
from services.status import workflow_for

# The order's columns whose states say what may be edited.
EDIT_GOVERNING_FIELDS = ("status", "shipping_status")

MAX_NOTE = 5000
_PHONE = re.compile(r"^\+?[0-9 ()\-]{3,31}$")


class OrderNotFound(Refused):
    """No such order for this person (another merchant's order reads as missing)."""


class EditClosed(Refused):
    """The order's status no longer allows this edit."""


@dataclass(frozen=True)
class RecipientInput:
    name: str | None
    phone: str | None
    address: str | None
    city: str | None
    postcode: str | None
    customer_comment: str | None


@dataclass(frozen=True)
class FinancialInput:
    order_type: str | None
    payment_method_id: int | None
    shipping_method_id: int | None
    bank_slip: str | None
    cheque: str | None
    payment_info: str | None
    payment_date: datetime | None
    invoice_note: str | None


def load_order(session: Session, order_id: int) -> Order:
    order = session.get(Order, order_id)  # scoped by the actor's merchant/role
    if order is None:
        raise OrderNotFound("The order was not found.")
    if order.deleted_at is not None:
        raise Refused("%(record)s is in the deleted list; restore it first.", record=str(order))
    return order


@dataclass(frozen=True)
class StateFlags:
    """What one state allows on the order's page; the default is a state no workflow knows."""

    items_editable: bool = False
    recipient_editable: bool = True


UNKNOWN_STATE = StateFlags()


def state_flags(session: Session, field: str, code: str | None) -> StateFlags:
    """The flags of state ``code`` of ``orders.<field>``, in the workflow governing a record in
    that state."""
    if code is None:
        return UNKNOWN_STATE
    try:
        workflow = workflow_for(session, "orders", field, code)
    except Refused:  # no workflow governs the column
        return UNKNOWN_STATE
    row = session.execute(
        select(WorkflowState.items_editable, WorkflowState.recipient_editable)
        .join(Workflow, Workflow.id == WorkflowState.workflow_id)
        .where(Workflow.code == workflow, WorkflowState.code == code)).first()
    return UNKNOWN_STATE if row is None else StateFlags(bool(row[0]), bool(row[1]))


def _flags(order: Order, session: Session | None) -> list[StateFlags]:
    session = session or object_session(order)
    if session is None:
        raise ValueError("the order must belong to a session to read its workflow states")
    return [state_flags(session, field, getattr(order, field))
            for field in EDIT_GOVERNING_FIELDS]


def items_editable(order: Order, session: Session | None = None) -> bool:
    """Whether the items and methods may change: every governing state allows it.
    ``session`` defaults to the order's own."""
    return all(flags.items_editable for flags in _flags(order, session))


def recipient_editable(order: Order, session: Session | None = None) -> bool:
    """Whether the recipient may be corrected: no governing state forbids it."""
    return all(flags.recipient_editable for flags in _flags(order, session))


def _check_version(order: Order, version: int | None) -> None:
    if version is not None and order.version != version:
        raise Conflict(
            "Someone else changed order %(order)s while you were editing it. Nothing was "
            "saved: look at the order as it is now and make your change again.",
            order=order.number)


def _require_items_editable(order: Order) -> None:
    if not items_editable(order):
        raise EditClosed(
            "The items and methods of order %(order)s can no longer change: its goods have "
            "left the store. Record a return or a new order instead.", order=order.number)


def _flush(session: Session, order: Order) -> None:
    """Flush (re-pricing happens here); a concurrent save in between is a conflict."""
    try:
        session.flush()
    except StaleDataError:
        raise Conflict(
            "Someone else changed order %(order)s while you were editing it. Nothing was "
            "saved: look at the order as it is now and make your change again.",
            order=order.number) from None


def _text(value: str | None, limit: int) -> str | None:
    value = (value or "").strip() or None
    if value is not None and len(value) > limit:
        raise InvalidInput("A field is longer than %(limit)s characters.", limit=limit)
    return value


def _quantity(quantity: int | None) -> int:
    if quantity is None or not 1 <= quantity <= MAX_QUANTITY:
        raise InvalidInput("The quantity must be a whole number from 1 to %(max)s.",
                           max=MAX_QUANTITY)
    return quantity


# --- items ---------------------------------------------------------------------------------
def find_sellable(session: Session, merchant_id: int, code: str) -> tuple[int, int | None]:
    """A product (and variant) of the order's store by exact SKU: a variant's SKU first, then a
    product's. Returns (product id, variant id or None)."""
    code = ascii_number(code).strip()
    row = session.execute(
        select(ProductVariant.product_id, ProductVariant.id)
        .join(Product, Product.id == ProductVariant.product_id)
        .where(Product.merchant_id == merchant_id, ProductVariant.sku == code)).first()
    if row is not None:
        return row[0], row[1]
    product_id = session.scalar(select(Product.id).where(
        Product.merchant_id == merchant_id, Product.sku == code))
    if product_id is None:
        raise InvalidInput("No product or variant of this store has the SKU %(sku)s.", sku=code)
    return product_id, None


def search_sellables(session: Session, merchant_id: int, text: str,
                     limit: int = 20) -> list[dict[str, str]]:
    """What the add-line field suggests: products and variants whose name or SKU holds the
    text, each with the SKU that adds it."""
    pattern = f"%{ascii_number(text).strip()}%"
    products = session.scalars(
        select(Product).where(Product.merchant_id == merchant_id,
                              or_(Product.name.ilike(pattern), Product.sku.ilike(pattern)))
        .order_by(Product.name).limit(limit)).all()
    found = [{"sku": p.sku, "label": p.name} for p in products]
    variants = session.execute(
        select(ProductVariant, Product.name).join(Product)
        .where(Product.merchant_id == merchant_id, ProductVariant.sku.is_not(None),
               or_(Product.name.ilike(pattern), ProductVariant.sku.ilike(pattern)))
        .order_by(Product.name).limit(limit)).all()
    found += [{"sku": v.sku or "", "label": " / ".join(
        x for x in (name, v.colour, v.size) if x)} for v, name in variants]
    return found[:limit]


def add_line(session: Session, actor: Actor, order_id: int, version: int | None, sku: str,
             quantity: int | None, warehouse_id: int | None = None) -> Order:
    """Add a product or variant (found by SKU in the order's store); the same product and
    variant from the same warehouse adds to that line's quantity. Re-priced at flush."""
    order = load_order(session, order_id)
    _check_version(order, version)
    _require_items_editable(order)
    quantity = _quantity(1 if quantity is None else quantity)  # the field left empty: one
    if not (sku or "").strip():
        raise InvalidInput("Enter the SKU of the product to add.")
    product_id, variant_id = find_sellable(session, order.merchant_id, sku)
    if warehouse_id is not None and session.scalar(select(Warehouse.id).where(
            Warehouse.id == warehouse_id, Warehouse.merchant_id == order.merchant_id)) is None:
        raise InvalidInput("Choose a warehouse of this store.")
    same = next((line for line in order.lines if line.product_id == product_id
                 and line.variant_id == variant_id and line.warehouse_id == warehouse_id), None)
    if same is not None:
        same.quantity = _quantity(same.quantity + quantity)
    else:
        order.lines.append(OrderLine(product_id=product_id, variant_id=variant_id,
                                     warehouse_id=warehouse_id, quantity=quantity,
                                     currency=order.currency))
    order.updated_at = utcnow()  # the order's version moves with its lines
    _flush(session, order)
    return order


def _line(order: Order, line_id: int) -> OrderLine:
    line = next((line for line in order.lines if line.id == line_id), None)
    if line is None:
        raise InvalidInput("That line is not in order %(order)s.", order=order.number)
    return line


def set_line_quantity(session: Session, actor: Actor, order_id: int, version: int | None,
                      line_id: int, quantity: int | None) -> Order:
    order = load_order(session, order_id)
    _check_version(order, version)
    _require_items_editable(order)
    _line(order, line_id).quantity = _quantity(quantity)
    order.updated_at = utcnow()
    _flush(session, order)
    return order


def remove_line(session: Session, actor: Actor, order_id: int, version: int | None,
                line_id: int) -> Order:
    order = load_order(session, order_id)
    _check_version(order, version)
    _require_items_editable(order)
    line = _line(order, line_id)
    if len(order.lines) == 1:
        raise Refused("An order keeps at least one line; to drop them all, cancel the order.")
    order.lines.remove(line)
    session.delete(line)  # listed as deleted before the flush, so the re-pricing leaves it out
    order.updated_at = utcnow()
    _flush(session, order)
    return order


# --- recipient and financial info ----------------------------------------------------------
def edit_recipient(session: Session, actor: Actor, order_id: int, version: int | None,
                   data: RecipientInput) -> Order:
    order = load_order(session, order_id)
    _check_version(order, version)
    if not recipient_editable(order):
        raise EditClosed("Order %(order)s has reached its recipient; the recipient can no "
                         "longer change.", order=order.number)
    name = _text(data.name, 200)
    if name is None:
        raise InvalidInput("Enter the recipient's name.")
    phone = _text(ascii_number(data.phone or ""), 32)
    if phone is not None and not _PHONE.match(phone):
        raise InvalidInput("Enter the phone number with digits only (a leading + and spaces, "
                           "dashes or brackets are fine).")
    order.recipient_name = name
    order.recipient_phone = phone
    order.recipient_address = _text(data.address, 2000)
    order.recipient_city = _text(data.city, 100)
    order.recipient_postcode = _text(ascii_number(data.postcode or ""), 16)
    order.customer_comment = _text(data.customer_comment, MAX_NOTE)
    _flush(session, order)
    return order


def edit_financial(session: Session, actor: Actor, order_id: int, version: int | None,
                   data: FinancialInput) -> Order:
    """Order type, payment and shipping method, bank slip, cheque, payment info and date,
    invoice note. A new method re-prices the order (only while its items may change)."""
    order = load_order(session, order_id)
    _check_version(order, version)
    try:
        order_type = OrderType(data.order_type) if data.order_type else order.order_type
    except ValueError:
        raise InvalidInput("Choose an order type from the list.") from None
    methods_changed = (data.payment_method_id != order.payment_method_id
                       or data.shipping_method_id != order.shipping_method_id)
    if methods_changed:
        _require_items_editable(order)
        if data.payment_method_id is not None and session.scalar(
                select(PaymentMethod.id).where(PaymentMethod.id == data.payment_method_id,
                                               PaymentMethod.active.is_(True))) is None:
            raise InvalidInput("Choose an active payment method.")
        if data.shipping_method_id is not None and session.scalar(
                select(ShippingMethod.id).where(ShippingMethod.id == data.shipping_method_id,
                                                ShippingMethod.active.is_(True))) is None:
            raise InvalidInput("Choose an active shipping method.")
    order.order_type = order_type
    order.payment_method_id = data.payment_method_id
    order.shipping_method_id = data.shipping_method_id
    order.bank_slip = _text(data.bank_slip, 100)
    order.cheque = _text(data.cheque, 100)
    order.payment_info = _text(data.payment_info, MAX_NOTE)
    order.payment_date = data.payment_date
    order.invoice_note = _text(data.invoice_note, MAX_NOTE)
    _flush(session, order)
    return order


# --- notes ---------------------------------------------------------------------------------
def add_note(session: Session, actor: Actor, order_id: int, text: str | None) -> OrderNote:
    order = load_order(session, order_id)
    body = (text or "").strip()
    if not body:
        raise InvalidInput("Write the note before saving it.")
    if len(body) > MAX_NOTE:
        raise InvalidInput("A note holds at most %(limit)s characters.", limit=MAX_NOTE)
    note = OrderNote(order_id=order.id, author_id=actor.user_id, text=body)
    session.add(note)
    session.flush()
    return note
