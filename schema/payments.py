"""Payment methods offered at checkout and the online gateways behind them (R-RULE-5,
R-RULE-6)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from schema.base import (
    N_,
    SHARED,
    AdminHints,
    Base,
    Currency,
    Editable,
    Encrypted,
    LabelledEnum,
    Money,
    enum_column,
    label,
)
from schema.discounts import DiscountKind


class PaymentMethodKind(LabelledEnum):
    ONLINE = "online"
    BANK_SLIP = "bank_slip"
    CASH_ON_DELIVERY = "cash_on_delivery"
    CHEQUE = "cheque"
    DEFERRED = "deferred"

    __labels__ = {
        "online": N_("Online payment"),
        "bank_slip": N_("Bank slip"),
        "cash_on_delivery": N_("Cash on delivery"),
        "cheque": N_("Cheque"),
        "deferred": N_("Deferred payment"),
    }


class ConversionOp(LabelledEnum):
    MULTIPLY = "multiply"
    DIVIDE = "divide"

    __labels__ = {"multiply": N_("Multiply"), "divide": N_("Divide")}


class PaymentGateway(Editable, Base):
    """An online payment gateway account.

    ``kind`` is the code of the gateway integration (pluggable, e.g. ``mellat``, ``zarinpal``);
    amounts in the system currency are converted to ``currency`` by ``conversion_op`` with
    ``conversion_rate`` and rounded to ``rounding_digits`` (2: 1223 -> 1200, 1288 -> 1300).
    """

    __tablename__ = "payment_gateways"
    __owner__ = SHARED
    __table_args__ = (
        CheckConstraint(
            "certificate_name IS NULL OR lower(certificate_name) LIKE '%.json'"
            " OR lower(certificate_name) LIKE '%.pem'",
            name="certificate_extension",
        ),
    )
    __admin__ = AdminHints(
        label=N_("Payment gateway"), plural=N_("Payment gateways"), menu=N_("Settings"), rank=2,
        icon="fa-solid fa-building-columns",
        list=("id", "name", "kind", "terminal_id", "currency", "fee_percent", "active"),
        search=("name", "kind", "terminal_id"), filters=("kind", "currency", "active"),
        sort=("id", "name", "kind"),
    )

    name: Mapped[str] = mapped_column(String(100), info=label(N_("Name")))
    kind: Mapped[str] = mapped_column(String(32), index=True, info=label(N_("Gateway")))
    terminal_id: Mapped[str | None] = mapped_column(String(100), info=label(N_("Terminal id")))
    username: Mapped[str | None] = mapped_column(String(100), info=label(N_("Username")))
    password: Mapped[str | None] = mapped_column(
        Encrypted, info=label(N_("Password"), secret=True)
    )
    api_key: Mapped[str | None] = mapped_column(
        Encrypted, info=label(N_("API key"), secret=True)
    )
    # Only .json or .pem files are accepted.
    certificate: Mapped[str | None] = mapped_column(
        Encrypted, info=label(N_("Certificate"), secret=True)
    )
    certificate_name: Mapped[str | None] = mapped_column(
        String(200), info=label(N_("Certificate file name"))
    )
    currency: Mapped[str] = mapped_column(Currency(), default="BYN", info=label(N_("Currency")))
    conversion_rate: Mapped[Decimal] = mapped_column(
        Money, default=1, info=label(N_("Conversion rate"))
    )
    conversion_op: Mapped[ConversionOp] = mapped_column(
        enum_column(ConversionOp), default=ConversionOp.MULTIPLY,
        info=label(N_("Conversion")),
    )
    rounding_digits: Mapped[int] = mapped_column(
        Integer, default=0, info=label(N_("Rounding digits"))
    )
    decimals: Mapped[int] = mapped_column(Integer, default=0, info=label(N_("Decimals")))
    active: Mapped[bool] = mapped_column(Boolean, default=False, info=label(N_("Active")))
    fee_percent: Mapped[Decimal] = mapped_column(
        Money, default=0, info=label(N_("Gateway fee, %"))
    )

    def __str__(self) -> str:
        return self.name


class PaymentMethod(Editable, Base):
    """A way to pay offered at checkout, with its discount and tax (online: 2% off)."""

    __tablename__ = "payment_methods"
    __owner__ = SHARED
    __admin__ = AdminHints(
        label=N_("Payment method"), plural=N_("Payment methods"), menu=N_("Settings"), rank=1,
        icon="fa-solid fa-credit-card",
        list=(
            "id", "name", "kind", "discount_kind", "discount_value", "tax_percent", "gateway",
            "active",
        ),
        search=("name",), filters=("kind", "active", "gateway_id"), sort=("id", "name", "kind"),
    )

    kind: Mapped[PaymentMethodKind] = mapped_column(
        enum_column(PaymentMethodKind), index=True, info=label(N_("Kind"))
    )
    name: Mapped[str] = mapped_column(String(100), info=label(N_("Name")))
    active: Mapped[bool] = mapped_column(Boolean, default=True, info=label(N_("Active")))
    discount_kind: Mapped[DiscountKind] = mapped_column(
        enum_column(DiscountKind), default=DiscountKind.PERCENT,
        info=label(N_("Discount kind")),
    )
    discount_value: Mapped[Decimal] = mapped_column(
        Money, default=0, info=label(N_("Discount"))
    )
    # The currency of a fixed-amount discount.
    currency: Mapped[str] = mapped_column(Currency(), default="BYN", info=label(N_("Currency")))
    tax_percent: Mapped[Decimal] = mapped_column(Money, default=0, info=label(N_("Tax, %")))
    description: Mapped[str | None] = mapped_column(Text, info=label(N_("Description")))
    gateway_id: Mapped[int | None] = mapped_column(
        ForeignKey("payment_gateways.id"), index=True, info=label(N_("Payment gateway"))
    )

    gateway: Mapped[PaymentGateway | None] = relationship()

    def __str__(self) -> str:
        return self.name
