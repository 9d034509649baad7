"""Orders with their lines, notes, messages, documents and operator assignments (R-ORD)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, ColumnElement, ForeignKey, Index, Integer, String, Text, or_, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from schema.base import (
    N_,
    AdminHints,
    Base,
    Currency,
    Editable,
    LabelledEnum,
    MerchantOwned,
    Money,
    SoftDeleted,
    UTCDateTime,
    enum_column,
    label,
    owned_through,
    utcnow,
)
from schema.customers import CustomerKind

if TYPE_CHECKING:
    from schema.customers import Customer
    from schema.people import Merchant, User


def operator_choices() -> ColumnElement[bool]:
    """The users who can be an order's operator, as the orders list's Operator filter offers
    them: users whose role is operator or manager, and whoever is already the operator of an
    order (in the asking person's scope: the session's scoping narrows that subquery too), so
    an order assigned to someone whose role changed can still be found."""
    from schema.people import Role, RoleCode, User

    operator_roles = select(Role.id).where(Role.code.in_((RoleCode.OPERATOR, RoleCode.MANAGER)))
    return or_(User.role_id.in_(operator_roles),
               select(Order.id).where(Order.operator_id == User.id).exists())


class OrderType(LabelledEnum):
    REGULAR = "regular"
    URGENT = "urgent"

    __labels__ = {"regular": N_("Regular"), "urgent": N_("Urgent")}


class DeliveryKind(LabelledEnum):
    PICKUP_POINT = "pickup_point"
    ADDRESS = "address"
    LOCKER = "locker"

    __labels__ = {
        "pickup_point": N_("Post office / pickup point"),
        "address": N_("To the address"),
        "locker": N_("Parcel locker"),
    }


class Channel(LabelledEnum):
    WEB = "web"
    APP = "app"
    ADMIN = "admin"

    __labels__ = {"web": N_("Website"), "app": N_("App"), "admin": N_("Entered by staff")}


class MessageKind(LabelledEnum):
    SMS = "sms"
    EMAIL = "email"

    __labels__ = {"sms": N_("SMS"), "email": N_("E-mail")}


class Order(Editable, MerchantOwned, SoftDeleted, Base):
    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_merchant_ordered", "merchant_id", "ordered_at"),
        Index("ix_orders_status_ordered", "status", "ordered_at"),
    )
    __admin__ = AdminHints(
        label=N_("Order"), plural=N_("Orders"), menu=N_("Sales"), rank=1,
        icon="fa-solid fa-cart-shopping",
        # "notes": the latest note of each order (admin.views, one query per page).
        list=(
            "number", "ordered_at", "customer", "status", "shipping_status", "payable",
            "payment_method", "notes",
        ),
        list_more=(
            "tracking_number", "courier_status", "currency", "operator", "courier",
            "recipient_name", "recipient_phone", "recipient_city", "delivery_kind",
            "shipping_method", "channel", "order_type", "merchant", "note",
        ),
        export=(
            "number", "tracking_number", "ordered_at", "status", "shipping_status",
            "courier_status", "payable", "currency", "payment_method", "customer", "operator",
            "note",
        ),
        search=("number", "tracking_number", "recipient_name", "recipient_phone"),
        filters=(
            "status", "shipping_status", "ordered_at", "customer_id", "courier_status",
            "payment_method_id", "operator_id", "courier_id", "merchant_id", "order_type",
            "delivery_kind", "currency", "children",
        ),
        sort=("number", "ordered_at", "created_at", "payable", "status", "shipping_status"),
        default_sort=(("ordered_at", True),),
        form_exclude=("deleted_at", "children"),
    )

    number: Mapped[str] = mapped_column(String(32), unique=True, info=label(N_("Order number")))
    tracking_number: Mapped[str | None] = mapped_column(
        String(64), index=True, info=label(N_("Tracking number"))
    )
    ordered_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, index=True, info=label(N_("Order date"))
    )
    # Status codes belong to workflows that are data (schema.workflows); stored as codes.
    status: Mapped[str] = mapped_column(
        String(32), default="awaiting_confirmation", index=True,
        info=label(N_("Order status"), workflow=True),
    )
    shipping_status: Mapped[str] = mapped_column(
        String(32), default="not_loaded", index=True,
        info=label(N_("Shipping status"), workflow=True),
    )
    courier_status: Mapped[str | None] = mapped_column(
        String(32), index=True, info=label(N_("Courier status"), workflow=True)
    )
    order_type: Mapped[OrderType] = mapped_column(
        enum_column(OrderType), default=OrderType.REGULAR, info=label(N_("Order type"))
    )
    customer_kind: Mapped[CustomerKind] = mapped_column(
        enum_column(CustomerKind), default=CustomerKind.INDIVIDUAL,
        info=label(N_("Customer kind")),
    )
    buyer_tax_id: Mapped[str | None] = mapped_column(String(32), info=label(N_("Buyer tax id")))
    channel: Mapped[Channel] = mapped_column(
        enum_column(Channel), default=Channel.WEB, info=label(N_("Channel"))
    )
    delivery_kind: Mapped[DeliveryKind] = mapped_column(
        enum_column(DeliveryKind), default=DeliveryKind.ADDRESS, info=label(N_("Delivery"))
    )

    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id"), index=True, info=label(N_("Customer"))
    )
    operator_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id"), index=True,
        info=label(N_("Operator"), choices_where=operator_choices),
    )
    courier_id: Mapped[int | None] = mapped_column(
        ForeignKey("couriers.id"), index=True, info=label(N_("Courier"))
    )
    shipping_method_id: Mapped[int | None] = mapped_column(
        ForeignKey("shipping_methods.id"), index=True, info=label(N_("Shipping method"))
    )
    payment_method_id: Mapped[int | None] = mapped_column(
        ForeignKey("payment_methods.id"), index=True, info=label(N_("Payment method"))
    )
    postal_system_id: Mapped[int | None] = mapped_column(
        ForeignKey("postal_systems.id"), index=True, info=label(N_("Postal system"))
    )
    discount_id: Mapped[int | None] = mapped_column(
        ForeignKey("discounts.id"), index=True, info=label(N_("Discount"), service=True)
    )
    locker_id: Mapped[int | None] = mapped_column(
        ForeignKey("lockers.id"), index=True, info=label(N_("Parcel locker"))
    )
    pickup_point_id: Mapped[int | None] = mapped_column(
        ForeignKey("pickup_points.id"), index=True, info=label(N_("Pickup point"))
    )
    # A split order's sub-orders point at their parent, one per product administrator.
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("orders.id"), index=True, info=label(N_("Parent order"))
    )
    product_admin_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id"), index=True, info=label(N_("Product administrator"))
    )

    # Financial info (R-ORD-2): editable.
    payment_info: Mapped[str | None] = mapped_column(Text, info=label(N_("Payment info")))
    bank_slip: Mapped[str | None] = mapped_column(String(100), info=label(N_("Bank slip")))
    cheque: Mapped[str | None] = mapped_column(String(100), info=label(N_("Cheque")))
    # The code and discount taken at placement: their uses are counted, so never retyped.
    discount_code: Mapped[str | None] = mapped_column(
        String(64), index=True, info=label(N_("Discount code"), service=True)
    )
    payment_date: Mapped[datetime | None] = mapped_column(
        UTCDateTime, info=label(N_("Payment date"))
    )

    # Totals, all in ``currency``.
    currency: Mapped[str] = mapped_column(
        Currency(), default="BYN", info=label(N_("Currency"), service=True)
    )
    subtotal: Mapped[Decimal] = mapped_column(
        Money, default=0, info=label(N_("Subtotal"), service=True)
    )
    discount_total: Mapped[Decimal] = mapped_column(
        Money, default=0, info=label(N_("Discounts"), service=True)
    )
    shipping_cost: Mapped[Decimal] = mapped_column(
        Money, default=0, info=label(N_("Shipping cost"), service=True)
    )
    tax_total: Mapped[Decimal] = mapped_column(
        Money, default=0, info=label(N_("Tax"), service=True)
    )
    payable: Mapped[Decimal] = mapped_column(
        Money, default=0, index=True, info=label(N_("Payable"), service=True)
    )
    wallet_amount: Mapped[Decimal] = mapped_column(
        Money, default=0, info=label(N_("Wallet"), service=True)
    )
    paid_amount: Mapped[Decimal] = mapped_column(
        Money, default=0, info=label(N_("Paid at order time"), service=True)
    )
    balance_due: Mapped[Decimal] = mapped_column(
        Money, default=0, info=label(N_("Balance due"), service=True)
    )
    total_weight_g: Mapped[int] = mapped_column(
        Integer, default=0, info=label(N_("Weight, g"), service=True)
    )
    distance_m: Mapped[int | None] = mapped_column(Integer, info=label(N_("Distance, m")))
    postpaid_shipping: Mapped[bool] = mapped_column(
        Boolean, default=False, info=label(N_("Shipping paid on delivery"), service=True)
    )

    # Recipient (editable, with the customer's comment).
    recipient_name: Mapped[str | None] = mapped_column(
        String(200), info=label(N_("Recipient"))
    )
    recipient_phone: Mapped[str | None] = mapped_column(
        String(32), index=True, info=label(N_("Recipient phone"))
    )
    recipient_address: Mapped[str | None] = mapped_column(
        Text, info=label(N_("Recipient address"))
    )
    recipient_city: Mapped[str | None] = mapped_column(String(100), info=label(N_("City")))
    recipient_postcode: Mapped[str | None] = mapped_column(
        String(16), info=label(N_("Postcode"))
    )
    customer_comment: Mapped[str | None] = mapped_column(
        Text, info=label(N_("Customer's comment"))
    )
    note: Mapped[str | None] = mapped_column(Text, info=label(N_("Note")))
    invoice_note: Mapped[str | None] = mapped_column(Text, info=label(N_("Invoice note")))

    merchant: Mapped[Merchant] = relationship()
    customer: Mapped[Customer | None] = relationship()
    operator: Mapped[User | None] = relationship(foreign_keys=[operator_id])
    product_admin: Mapped[User | None] = relationship(foreign_keys=[product_admin_id])
    courier: Mapped[Courier | None] = relationship()  # noqa: F821
    shipping_method: Mapped[ShippingMethod | None] = relationship()  # noqa: F821
    payment_method: Mapped[PaymentMethod | None] = relationship()  # noqa: F821
    postal_system: Mapped[PostalSystem | None] = relationship()  # noqa: F821
    discount: Mapped[Discount | None] = relationship()  # noqa: F821
    locker: Mapped[Locker | None] = relationship()  # noqa: F821
    pickup_point: Mapped[PickupPoint | None] = relationship()  # noqa: F821
    parent: Mapped[Order | None] = relationship(remote_side="Order.id", back_populates="children")
    children: Mapped[list[Order]] = relationship(
        back_populates="parent", info=label(N_("Sub-orders"))
    )
    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderLine.id"
    )

    def __str__(self) -> str:
        return self.number


class OrderLine(Editable, Base):
    __tablename__ = "order_lines"
    __owner__ = owned_through("order_id")
    __admin__ = AdminHints(
        label=N_("Order line"), plural=N_("Order lines"), menu=N_("Sales"), rank=7,
        icon="fa-solid fa-list", list=("id", "order", "product", "variant", "warehouse",
                                       "quantity", "unit_price", "line_total"),
        filters=("order_id", "warehouse_id"), sort=("id",),
    )

    order_id: Mapped[int] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), index=True, info=label(N_("Order"))
    )
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id"), index=True, info=label(N_("Product"))
    )
    variant_id: Mapped[int | None] = mapped_column(
        ForeignKey("product_variants.id"), info=label(N_("Variant"))
    )
    warehouse_id: Mapped[int | None] = mapped_column(
        ForeignKey("warehouses.id"), index=True, info=label(N_("Warehouse"))
    )
    quantity: Mapped[int] = mapped_column(Integer, default=1, info=label(N_("Quantity")))
    # Priced by the engine (services.order_pricing), never typed.
    unit_price: Mapped[Decimal] = mapped_column(
        Money, info=label(N_("Unit price"), service=True)
    )
    discount_amount: Mapped[Decimal] = mapped_column(
        Money, default=0, info=label(N_("Discount"), service=True)
    )
    line_total: Mapped[Decimal] = mapped_column(
        Money, default=0, info=label(N_("Line total"), service=True)
    )
    currency: Mapped[str] = mapped_column(
        Currency(), default="BYN", info=label(N_("Currency"), service=True)
    )
    weight_g: Mapped[int] = mapped_column(
        Integer, default=0, info=label(N_("Weight, g"), service=True)
    )
    # Weighted goods (R-ORD-12): the picker records the real weight.
    actual_weight_g: Mapped[int | None] = mapped_column(
        Integer, info=label(N_("Actual weight, g"))
    )

    order: Mapped[Order] = relationship(back_populates="lines")
    product: Mapped[Product] = relationship()  # noqa: F821
    variant: Mapped[ProductVariant | None] = relationship()  # noqa: F821
    warehouse: Mapped[Warehouse | None] = relationship()  # noqa: F821

    def __str__(self) -> str:
        return f"{self.order_id}/{self.id}"


class OrderNote(Editable, Base):
    __tablename__ = "order_notes"
    __owner__ = owned_through("order_id")
    __admin__ = AdminHints(
        label=N_("Order note"), plural=N_("Order notes"), menu=N_("Sales"), rank=3,
        icon="fa-solid fa-note-sticky", list=("id", "order", "author", "text", "created_at"),
        filters=("order_id",), sort=("id", "created_at"),
    )

    order_id: Mapped[int] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), index=True, info=label(N_("Order"))
    )
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id"), info=label(N_("Author"))
    )
    text: Mapped[str] = mapped_column(Text, info=label(N_("Text")))

    order: Mapped[Order] = relationship()
    author: Mapped[User | None] = relationship()

    def __str__(self) -> str:
        return self.text if len(self.text) <= 60 else self.text[:59] + "…"


class OrderMessage(Editable, Base):
    """A message sent to the customer about an order (R-ORD-3 "messages")."""

    __tablename__ = "order_messages"
    __owner__ = owned_through("order_id")
    __admin__ = AdminHints(
        label=N_("Customer message"), plural=N_("Customer messages"), menu=N_("Sales"), rank=4,
        icon="fa-solid fa-envelope",
        list=("id", "order", "operator", "sent_at", "kind", "title", "recipient"),
        filters=("order_id", "kind"), sort=("id", "sent_at"),
    )

    order_id: Mapped[int] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), index=True, info=label(N_("Order"))
    )
    operator_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id"), info=label(N_("Operator"))
    )
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, info=label(N_("Date")))
    kind: Mapped[MessageKind] = mapped_column(
        enum_column(MessageKind), default=MessageKind.SMS, info=label(N_("Type"))
    )
    title: Mapped[str] = mapped_column(String(200), default="", info=label(N_("Title")))
    recipient: Mapped[str] = mapped_column(String(200), info=label(N_("Recipient")))
    body: Mapped[str] = mapped_column(Text, default="", info=label(N_("Text")))
    outbox_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbox.id"), info=label(N_("Outbox message"))
    )

    order: Mapped[Order] = relationship()
    operator: Mapped[User | None] = relationship()

    def __str__(self) -> str:
        return self.title or self.recipient or f"#{self.id}"


class OrderDocument(Editable, Base):
    __tablename__ = "order_documents"
    __owner__ = owned_through("order_id")
    __admin__ = AdminHints(
        label=N_("Order document"), plural=N_("Order documents"), menu=N_("Sales"), rank=5,
        icon="fa-solid fa-file-lines", list=("id", "order", "kind", "title", "created_at"),
        filters=("order_id", "kind"), sort=("id", "created_at"),
    )

    order_id: Mapped[int] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), index=True, info=label(N_("Order"))
    )
    kind: Mapped[str] = mapped_column(String(32), info=label(N_("Kind")))
    title: Mapped[str] = mapped_column(String(200), info=label(N_("Title")))
    path: Mapped[str | None] = mapped_column(String(500), info=label(N_("File")))
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id"), info=label(N_("Created by"))
    )

    order: Mapped[Order] = relationship()

    def __str__(self) -> str:
        return self.title or self.kind


class OperatorAssignment(Editable, Base):
    """Who handed the order to whom, with a comment (R-ORD-3 "assignment history")."""

    __tablename__ = "operator_assignments"
    __owner__ = owned_through("order_id")
    __admin__ = AdminHints(
        label=N_("Operator assignment"), plural=N_("Operator assignments"), menu=N_("Sales"),
        rank=6, icon="fa-solid fa-people-arrows",
        list=("id", "order", "from_operator", "to_operator", "comment", "created_at"),
        filters=("order_id", "to_operator_id"), sort=("id", "created_at"),
    )

    order_id: Mapped[int] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), index=True, info=label(N_("Order"))
    )
    from_operator_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id"), info=label(N_("From operator"))
    )
    to_operator_id: Mapped[int] = mapped_column(
        ForeignKey("users.id"), index=True, info=label(N_("To operator"))
    )
    assigned_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id"), info=label(N_("Assigned by"))
    )
    comment: Mapped[str | None] = mapped_column(Text, info=label(N_("Comment")))

    order: Mapped[Order] = relationship()
    from_operator: Mapped[User | None] = relationship(foreign_keys=[from_operator_id])
    to_operator: Mapped[User] = relationship(foreign_keys=[to_operator_id])
