"""Invoices, payments received, gateway transactions and fiscal receipts (R-ORD-2, R-ORD-3,
R-COUR-3, R-DOC-1)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, String, Text
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
    UTCDateTime,
    enum_column,
    label,
    owned_through,
    utcnow,
)

if TYPE_CHECKING:
    from schema.orders import Order
    from schema.payments import PaymentGateway
    from schema.people import Merchant, User


class PaymentMethodCode(LabelledEnum):
    """How a payment was actually taken (the order's payment method is what was chosen)."""

    CASH = "cash"
    CARD = "card"
    ONLINE = "online"
    BANK_SLIP = "bank_slip"
    CHEQUE = "cheque"
    WALLET = "wallet"

    __labels__ = {
        "cash": N_("Cash"),
        "card": N_("Card"),
        "online": N_("Online"),
        "bank_slip": N_("Bank slip"),
        "cheque": N_("Cheque"),
        "wallet": N_("Wallet"),
    }


class Invoice(Editable, MerchantOwned, Base):
    __tablename__ = "invoices"
    __admin__ = AdminHints(
        label=N_("Invoice"), plural=N_("Invoices"), menu=N_("Finance"), rank=2,
        icon="fa-solid fa-file-invoice",
        list=("number", "order", "issued_at", "layout", "amount", "currency", "merchant"),
        search=("number", "note"), filters=("merchant_id", "order_id", "layout", "issued_at"),
        sort=("number", "issued_at", "amount"), default_sort=(("issued_at", True),),
    )

    order_id: Mapped[int] = mapped_column(
        ForeignKey("orders.id"), index=True, info=label(N_("Order"))
    )
    number: Mapped[str] = mapped_column(String(32), unique=True, info=label(N_("Number")))
    issued_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, index=True, info=label(N_("Issued at"))
    )
    layout: Mapped[str] = mapped_column(
        String(32), default="standard", index=True, info=label(N_("Layout"))
    )
    amount: Mapped[Decimal] = mapped_column(
        Money, default=0, index=True, info=label(N_("Amount"))
    )
    currency: Mapped[str] = mapped_column(Currency(), default="BYN", info=label(N_("Currency")))
    note: Mapped[str | None] = mapped_column(Text, info=label(N_("Note")))

    merchant: Mapped[Merchant] = relationship()
    order: Mapped[Order] = relationship()

    def __str__(self) -> str:
        return self.number


class Payment(Editable, Base):
    """Money received for an order: at checkout, by a courier on delivery, at a locker."""

    __tablename__ = "payments"
    __owner__ = owned_through("order_id")
    __admin__ = AdminHints(
        label=N_("Payment"), plural=N_("Payments"), menu=N_("Finance"), rank=1,
        icon="fa-solid fa-money-bill-wave",
        list=("id", "order", "amount", "currency", "method", "received_by", "received_at",
              "reference"),
        search=("reference",),
        filters=("order_id", "method", "received_by_id", "received_at", "currency"),
        sort=("id", "received_at", "amount"), default_sort=(("received_at", True),),
        form_exclude=("receipts",),
    )

    order_id: Mapped[int] = mapped_column(
        ForeignKey("orders.id"), index=True, info=label(N_("Order"))
    )
    amount: Mapped[Decimal] = mapped_column(
        Money, default=0, index=True, info=label(N_("Amount"))
    )
    currency: Mapped[str] = mapped_column(Currency(), default="BYN", info=label(N_("Currency")))
    method: Mapped[PaymentMethodCode] = mapped_column(
        enum_column(PaymentMethodCode), default=PaymentMethodCode.CASH, index=True,
        info=label(N_("Method")),
    )
    received_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id"), index=True, info=label(N_("Received by"))
    )
    received_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, index=True, info=label(N_("Received at"))
    )
    reference: Mapped[str | None] = mapped_column(
        String(100), index=True, info=label(N_("Reference"))
    )

    order: Mapped[Order] = relationship()
    received_by: Mapped[User | None] = relationship()
    receipts: Mapped[list[FiscalReceipt]] = relationship(
        back_populates="payment", order_by="FiscalReceipt.id"
    )

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


class GatewayTransaction(Editable, Base):
    """One attempt to pay an order through an online gateway (R-ORD-3)."""

    __tablename__ = "gateway_transactions"
    __owner__ = owned_through("order_id")
    __admin__ = AdminHints(
        label=N_("Gateway transaction"), plural=N_("Gateway transactions"), menu=N_("Finance"),
        rank=3, icon="fa-solid fa-right-left",
        list=(
            "id", "order", "gateway", "amount", "currency", "entered_at", "status",
            "gateway_message", "tracking_code",
        ),
        search=("tracking_code", "gateway_message"),
        filters=("order_id", "gateway_id", "status", "entered_at"),
        sort=("id", "entered_at", "amount"), default_sort=(("entered_at", True),),
    )

    order_id: Mapped[int] = mapped_column(
        ForeignKey("orders.id"), index=True, info=label(N_("Order"))
    )
    gateway_id: Mapped[int | None] = mapped_column(
        ForeignKey("payment_gateways.id"), index=True, info=label(N_("Gateway"))
    )
    amount: Mapped[Decimal] = mapped_column(
        Money, default=0, index=True, info=label(N_("Amount"))
    )
    currency: Mapped[str] = mapped_column(Currency(), default="BYN", info=label(N_("Currency")))
    entered_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, index=True, info=label(N_("Entered the gateway at"))
    )
    gateway_message: Mapped[str | None] = mapped_column(
        Text, info=label(N_("Gateway message"))
    )
    tracking_code: Mapped[str | None] = mapped_column(
        String(100), index=True, info=label(N_("Tracking code"))
    )
    status: Mapped[str] = mapped_column(
        String(32), default="started", index=True, info=label(N_("Status"))
    )

    order: Mapped[Order] = relationship()
    gateway: Mapped[PaymentGateway | None] = relationship()

    def __str__(self) -> str:
        return self.tracking_code or str(self.id)


class FiscalReceipt(Editable, Base):
    """The fiscal receipt record produced for a payment (seed 003, mobile cash register)."""

    __tablename__ = "fiscal_receipts"
    __owner__ = owned_through("payment_id")
    __admin__ = AdminHints(
        label=N_("Fiscal receipt"), plural=N_("Fiscal receipts"), menu=N_("Finance"), rank=6,
        icon="fa-solid fa-receipt",
        list=("number", "payment", "issued_at", "amount", "currency", "fiscal_sign"),
        search=("number", "fiscal_sign"), filters=("payment_id", "issued_at"),
        sort=("number", "issued_at", "amount"), default_sort=(("issued_at", True),),
    )

    payment_id: Mapped[int] = mapped_column(
        ForeignKey("payments.id"), index=True, info=label(N_("Payment"))
    )
    number: Mapped[str] = mapped_column(String(64), unique=True, info=label(N_("Number")))
    issued_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, index=True, info=label(N_("Issued at"))
    )
    amount: Mapped[Decimal] = mapped_column(
        Money, default=0, index=True, info=label(N_("Amount"))
    )
    currency: Mapped[str] = mapped_column(Currency(), default="BYN", info=label(N_("Currency")))
    fiscal_sign: Mapped[str | None] = mapped_column(
        String(128), index=True, info=label(N_("Fiscal sign"))
    )
    payload: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=dict, info=label(N_("Receipt data"))
    )

    payment: Mapped[Payment] = relationship(back_populates="receipts")

    def __str__(self) -> str:
        return self.number
