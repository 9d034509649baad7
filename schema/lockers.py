"""Parcel lockers: zones, lockers and cells, tariffs, parcels, cash collection, and the
merchant's prepaid ledger and weekly payouts (R-LOCK, R-RULE-8)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from schema.base import (
    INTERNAL,
    N_,
    SHARED,
    AdminHints,
    Base,
    Currency,
    Editable,
    IdMixin,
    LabelledEnum,
    MerchantOwned,
    Money,
    Owner,
    OwnerKind,
    UTCDateTime,
    enum_column,
    label,
    owned_by_merchant,
    utcnow,
)

if TYPE_CHECKING:
    from schema.couriers import Courier
    from schema.orders import Order
    from schema.people import Merchant, User


class CellSize(LabelledEnum):
    S = "s"
    M = "m"
    L = "l"
    XL = "xl"

    __labels__ = {"s": N_("Small"), "m": N_("Medium"), "l": N_("Large"), "xl": N_("Extra large")}


class CellState(LabelledEnum):
    FREE = "free"
    RESERVED = "reserved"
    OCCUPIED = "occupied"
    OUT_OF_ORDER = "out_of_order"

    __labels__ = {
        "free": N_("Free"),
        "reserved": N_("Reserved"),
        "occupied": N_("Occupied"),
        "out_of_order": N_("Out of order"),
    }


class DropMode(LabelledEnum):
    COURIER_PICKUP = "courier_pickup"
    SELF_DROP = "self_drop"

    __labels__ = {
        "courier_pickup": N_("Courier picks up"),
        "self_drop": N_("Store drops it itself"),
    }


class LedgerKind(LabelledEnum):
    DEPOSIT = "deposit"
    CHARGE = "charge"
    CASH_COLLECTED = "cash_collected"
    FEE = "fee"
    PAYOUT = "payout"
    ADJUSTMENT = "adjustment"

    __labels__ = {
        "deposit": N_("Deposit"),
        "charge": N_("Charge"),
        "cash_collected": N_("Cash collected"),
        "fee": N_("Fee"),
        "payout": N_("Payout"),
        "adjustment": N_("Adjustment"),
    }


class PayoutStatus(LabelledEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    PAID = "paid"

    __labels__ = {"draft": N_("Draft"), "approved": N_("Approved"), "paid": N_("Paid")}


class Zone(Editable, Base):
    """A tariff zone (1 to 10)."""

    __tablename__ = "zones"
    __owner__ = SHARED
    __table_args__ = (CheckConstraint("number BETWEEN 1 AND 10", name="number_range"),)
    __admin__ = AdminHints(
        label=N_("Zone"), plural=N_("Zones"), menu=N_("Lockers"), rank=6, icon="fa-solid fa-map",
        list=("id", "number", "code", "name"), search=("code", "name"),
        sort=("number", "code", "name"), default_sort=(("number", False),),
    )

    code: Mapped[str] = mapped_column(String(32), unique=True, info=label(N_("Code")))
    name: Mapped[str] = mapped_column(String(100), info=label(N_("Name")))
    number: Mapped[int] = mapped_column(Integer, unique=True, info=label(N_("Number")))

    def __str__(self) -> str:
        return self.name


class Locker(Editable, Base):
    __tablename__ = "lockers"
    __owner__ = SHARED
    __admin__ = AdminHints(
        label=N_("Parcel locker"), plural=N_("Parcel lockers"), menu=N_("Lockers"), rank=2,
        icon="fa-solid fa-table-cells", list=("code", "name", "city", "address", "zone",
                                              "active"),
        search=("code", "name", "city", "address"), filters=("zone_id", "city", "active"),
        sort=("code", "name", "city"), default_sort=(("code", False),),
        form_exclude=("cells",),
    )

    code: Mapped[str] = mapped_column(String(32), unique=True, info=label(N_("Code")))
    name: Mapped[str] = mapped_column(String(200), index=True, info=label(N_("Name")))
    address: Mapped[str | None] = mapped_column(Text, info=label(N_("Address")))
    city: Mapped[str | None] = mapped_column(String(100), index=True, info=label(N_("City")))
    zone_id: Mapped[int | None] = mapped_column(
        ForeignKey("zones.id"), index=True, info=label(N_("Zone"))
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True, info=label(N_("Active")))
    latitude: Mapped[float | None] = mapped_column(Float, info=label(N_("Latitude")))
    longitude: Mapped[float | None] = mapped_column(Float, info=label(N_("Longitude")))
    # SHA-256 of the terminal's device key (issued like a merchant's API key, shown once).
    device_key_hash: Mapped[str | None] = mapped_column(
        String(64), unique=True, info=label(N_("Device key"), secret=True, service=True)
    )
    # Wrong pickup codes typed at this terminal; past the limit it refuses codes for a while.
    code_failures: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0",
        info=label(N_("Wrong codes at the terminal"), service=True),
    )
    code_locked_until: Mapped[datetime | None] = mapped_column(
        UTCDateTime, info=label(N_("Codes refused until"), service=True)
    )

    zone: Mapped[Zone | None] = relationship()
    cells: Mapped[list[LockerCell]] = relationship(
        back_populates="locker", cascade="all, delete-orphan", order_by="LockerCell.code"
    )

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class LockerCell(Editable, Base):
    """A cell of a locker; a technician can put it out of order (R-LOCK-1)."""

    __tablename__ = "locker_cells"
    __owner__ = SHARED
    __table_args__ = (
        UniqueConstraint("locker_id", "code"),
        # Finding a free cell of a size at a locker.
        Index("ix_locker_cells_locker_state_size", "locker_id", "state", "size"),
    )
    __admin__ = AdminHints(
        label=N_("Locker cell"), plural=N_("Locker cells"), menu=N_("Lockers"), rank=3,
        icon="fa-solid fa-box-archive", list=("id", "locker", "code", "size", "state"),
        search=("code",), filters=("locker_id", "size", "state"), sort=("id", "code"),
    )

    locker_id: Mapped[int] = mapped_column(
        ForeignKey("lockers.id", ondelete="CASCADE"), index=True, info=label(N_("Locker"))
    )
    code: Mapped[str] = mapped_column(String(16), info=label(N_("Code")))
    size: Mapped[CellSize] = mapped_column(
        enum_column(CellSize), default=CellSize.M, index=True, info=label(N_("Size"))
    )
    # Moved by the parcel journey (reserve, place, free) and the technician's out-of-order
    # action (services.cells, services.lockers), never typed into a form.
    state: Mapped[CellState] = mapped_column(
        enum_column(CellState), default=CellState.FREE, index=True,
        info=label(N_("State"), service=True),
    )

    locker: Mapped[Locker] = relationship(back_populates="cells")

    def __str__(self) -> str:
        return self.code


class LockerTariff(Editable, Base):
    """Prices by zone (and optionally cell size; empty = every size). A store that drops
    parcels itself pays storage only (R-RULE-8)."""

    __tablename__ = "locker_tariffs"
    __owner__ = SHARED
    __admin__ = AdminHints(
        label=N_("Locker tariff"), plural=N_("Locker tariffs"), menu=N_("Lockers"), rank=5,
        icon="fa-solid fa-money-check-dollar",
        list=(
            "id", "zone", "size", "pickup_price", "delivery_price", "storage_price_3_days",
            "storage_days", "unused_price", "extra_day_price", "currency",
        ),
        filters=("zone_id", "size", "currency"), sort=("id",),
    )

    zone_id: Mapped[int] = mapped_column(
        ForeignKey("zones.id"), index=True, info=label(N_("Zone"))
    )
    size: Mapped[CellSize | None] = mapped_column(
        enum_column(CellSize), info=label(N_("Cell size"))
    )
    pickup_price: Mapped[Decimal] = mapped_column(
        Money, default=0, info=label(N_("Pickup price"))
    )
    delivery_price: Mapped[Decimal] = mapped_column(
        Money, default=0, info=label(N_("Delivery price"))
    )
    storage_price_3_days: Mapped[Decimal] = mapped_column(
        Money, default=0, info=label(N_("Storage price (3 days)"))
    )
    currency: Mapped[str] = mapped_column(Currency(), default="BYN", info=label(N_("Currency")))
    storage_days: Mapped[int] = mapped_column(
        Integer, default=3, info=label(N_("Storage days"))
    )
    # A reserved cell the store never used (the reservation was released).
    unused_price: Mapped[Decimal] = mapped_column(
        Money, default=0, server_default="0", info=label(N_("Unused reservation price"))
    )
    # Each day a parcel waits beyond its storage days.
    extra_day_price: Mapped[Decimal] = mapped_column(
        Money, default=0, server_default="0", info=label(N_("Price per extra storage day"))
    )

    zone: Mapped[Zone] = relationship()

    def __str__(self) -> str:
        size = self.size.value.upper() if self.size else ""
        return f"{size} {self.pickup_price} {self.currency}".strip()


class Parcel(Editable, MerchantOwned, Base):
    """A merchant's parcel for a locker; ``status`` is a code of the parcel workflow."""

    __tablename__ = "parcels"
    __table_args__ = (
        Index("ix_parcels_merchant_status", "merchant_id", "status"),
        Index("ix_parcels_locker_status", "locker_id", "status"),
    )
    __admin__ = AdminHints(
        label=N_("Parcel"), plural=N_("Parcels"), menu=N_("Lockers"), rank=1,
        icon="fa-solid fa-box",
        list=(
            "barcode", "status", "locker", "cell", "recipient_name", "recipient_phone",
            "declared_price", "stored_until",
        ),
        list_more=("paid", "merchant"),
        search=("barcode", "recipient_name", "recipient_phone"),
        filters=(
            "status", "merchant_id", "locker_id", "courier_id", "drop_mode", "paid",
            "drop_date", "stored_until",
        ),
        sort=("barcode", "created_at", "status", "stored_until", "drop_date"),
        default_sort=(("created_at", True),),
        form_exclude=("pickup_code_hash",),
    )

    barcode: Mapped[str] = mapped_column(String(64), unique=True, info=label(N_("Barcode")))
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("orders.id"), index=True, info=label(N_("Order"))
    )
    locker_id: Mapped[int] = mapped_column(
        ForeignKey("lockers.id"), index=True, info=label(N_("Parcel locker"))
    )
    # Unique: one cell holds one parcel, whatever the services do (a parcel that leaves its
    # cell lets go of it; empty values do not collide).
    cell_id: Mapped[int | None] = mapped_column(
        ForeignKey("locker_cells.id"), unique=True, info=label(N_("Cell"), service=True)
    )
    size: Mapped[CellSize | None] = mapped_column(
        enum_column(CellSize), info=label(N_("Cell size"))
    )
    status: Mapped[str] = mapped_column(
        String(32), default="created", index=True, info=label(N_("Status"), workflow=True)
    )
    # Cash to collect from the buyer; empty when the parcel is prepaid.
    declared_price: Mapped[Decimal | None] = mapped_column(
        Money, info=label(N_("Declared price"))
    )
    # Set by the parcel's journey (payment at the locker, the cell it is given, its deadline).
    paid: Mapped[bool] = mapped_column(
        Boolean, default=False, info=label(N_("Paid"), service=True)
    )
    currency: Mapped[str] = mapped_column(Currency(), default="BYN", info=label(N_("Currency")))
    recipient_name: Mapped[str | None] = mapped_column(
        String(200), info=label(N_("Recipient"))
    )
    recipient_phone: Mapped[str | None] = mapped_column(
        String(32), index=True, info=label(N_("Recipient phone"))
    )
    # The language of the buyer's SMS (en, ru, fa).
    recipient_language: Mapped[str] = mapped_column(
        String(8), default="ru", server_default="ru", info=label(N_("Recipient's language"))
    )
    pickup_code_hash: Mapped[str | None] = mapped_column(
        String(200), info=label(N_("Pickup code"), secret=True, service=True)
    )
    drop_mode: Mapped[DropMode] = mapped_column(
        enum_column(DropMode), default=DropMode.COURIER_PICKUP, info=label(N_("Drop-off"))
    )
    drop_date: Mapped[date | None] = mapped_column(
        Date, index=True, info=label(N_("Drop-off date"))
    )
    stored_until: Mapped[datetime | None] = mapped_column(
        UTCDateTime, index=True, info=label(N_("Stored until"), service=True)
    )
    # The reserved cell is held until then for a parcel not yet placed (services.parcels).
    reserved_until: Mapped[datetime | None] = mapped_column(
        UTCDateTime, index=True, info=label(N_("Cell reserved until"), service=True)
    )
    placed_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, info=label(N_("Placed at"), service=True)
    )
    picked_up_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, info=label(N_("Picked up at"), service=True)
    )
    # The last-day reminder went out (sent once).
    reminded_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, info=label(N_("Reminder sent at"), service=True)
    )
    extended: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default="0",
        info=label(N_("Storage extended"), service=True),
    )
    # Wrong pickup codes typed for this parcel; past the limit the parcel refuses codes.
    code_failures: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0",
        info=label(N_("Wrong pickup codes"), service=True),
    )
    courier_id: Mapped[int | None] = mapped_column(
        ForeignKey("couriers.id"), index=True, info=label(N_("Courier"))
    )
    weight_g: Mapped[int | None] = mapped_column(Integer, info=label(N_("Weight, g")))

    merchant: Mapped[Merchant] = relationship()
    order: Mapped[Order | None] = relationship()
    locker: Mapped[Locker] = relationship()
    cell: Mapped[LockerCell | None] = relationship()
    courier: Mapped[Courier | None] = relationship()

    def __str__(self) -> str:
        return self.barcode


class CashCollection(Editable, Base):
    """Cash taken out of a locker by a collector (R-LOCK-7); printed as a cash-collection act."""

    __tablename__ = "cash_collections"
    __owner__ = INTERNAL
    __admin__ = AdminHints(
        label=N_("Cash collection"), plural=N_("Cash collections"), menu=N_("Lockers"), rank=4,
        icon="fa-solid fa-sack-dollar",
        list=("id", "locker", "collector", "collected_at", "amount", "currency", "note"),
        filters=("locker_id", "collector_id", "collected_at"),
        sort=("id", "collected_at", "amount"), default_sort=(("collected_at", True),),
    )

    locker_id: Mapped[int] = mapped_column(
        ForeignKey("lockers.id"), index=True, info=label(N_("Parcel locker"))
    )
    collector_id: Mapped[int] = mapped_column(
        ForeignKey("users.id"), index=True, info=label(N_("Collector"))
    )
    collected_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, index=True, info=label(N_("Collected at"))
    )
    amount: Mapped[Decimal] = mapped_column(
        Money, default=0, index=True, info=label(N_("Amount"))
    )
    currency: Mapped[str] = mapped_column(Currency(), default="BYN", info=label(N_("Currency")))
    note: Mapped[str | None] = mapped_column(Text, info=label(N_("Note")))
    # The act (issue 13): the cash the terminal took since the last collection (``since``),
    # against the counted ``amount``; the difference needs a note.
    since: Mapped[datetime | None] = mapped_column(
        UTCDateTime, info=label(N_("Since"), service=True)
    )
    expected_amount: Mapped[Decimal] = mapped_column(
        Money, default=0, server_default="0", info=label(N_("Expected amount"), service=True)
    )
    difference: Mapped[Decimal] = mapped_column(
        Money, default=0, server_default="0", info=label(N_("Difference"), service=True)
    )

    locker: Mapped[Locker] = relationship()
    collector: Mapped[User] = relationship()

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


class Payout(Editable, MerchantOwned, Base):
    """A weekly settlement: the cash collected for the merchant minus the contract fee."""

    __tablename__ = "payouts"
    __owner__ = owned_by_merchant(tenant_writes=False)
    __table_args__ = (UniqueConstraint("merchant_id", "period_start", "period_end"),)
    __admin__ = AdminHints(
        label=N_("Payout"), plural=N_("Payouts"), menu=N_("Finance"), rank=4,
        icon="fa-solid fa-hand-holding-dollar",
        list=(
            "id", "merchant", "period_start", "period_end", "amount", "fee", "currency",
            "status", "paid_at",
        ),
        filters=("merchant_id", "status", "period_start", "paid_at"),
        sort=("id", "period_start", "amount", "paid_at"),
        default_sort=(("period_start", True),), form_exclude=("entries",),
    )

    period_start: Mapped[date] = mapped_column(
        Date, index=True, info=label(N_("Period start"))
    )
    period_end: Mapped[date] = mapped_column(Date, info=label(N_("Period end")))
    amount: Mapped[Decimal] = mapped_column(
        Money, default=0, index=True, info=label(N_("Amount"))
    )
    fee: Mapped[Decimal] = mapped_column(Money, default=0, info=label(N_("Fee")))
    currency: Mapped[str] = mapped_column(Currency(), default="BYN", info=label(N_("Currency")))
    status: Mapped[PayoutStatus] = mapped_column(
        enum_column(PayoutStatus), default=PayoutStatus.DRAFT, index=True,
        info=label(N_("Status")),
    )
    paid_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, index=True, info=label(N_("Paid at"))
    )
    # amount = cash - fee - uncovered (issue 13): the cash collected for the merchant in the
    # period, the cash fees, and the charges the prepaid balance did not cover.
    cash_total: Mapped[Decimal] = mapped_column(
        Money, default=0, server_default="0", info=label(N_("Cash collected"), service=True)
    )
    uncovered: Mapped[Decimal] = mapped_column(
        Money, default=0, server_default="0",
        info=label(N_("Charges not covered by the balance"), service=True),
    )
    approved_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, info=label(N_("Approved at"), service=True)
    )
    approved_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), info=label(N_("Approved by"), service=True)
    )
    bank_reference: Mapped[str | None] = mapped_column(
        String(100), info=label(N_("Bank reference"), service=True)
    )

    merchant: Mapped[Merchant] = relationship()
    entries: Mapped[list[LedgerEntry]] = relationship(
        back_populates="payout", order_by="LedgerEntry.id"
    )

    def __str__(self) -> str:
        return f"{self.period_start} – {self.period_end}"


class LedgerEntry(Editable, MerchantOwned, Base):
    """One movement of a merchant's prepaid balance; ``amount`` is signed (+ credits the
    merchant). The merchant's ``balance`` is the running sum, so entries are written by the
    services only (readonly in the admin)."""

    __tablename__ = "ledger_entries"
    # One entry of a kind per parcel event: an event is never charged twice. One deposit per
    # bank reference: a statement line is applied once.
    __table_args__ = (Index("ix_ledger_entries_merchant_at", "merchant_id", "at"),
                      UniqueConstraint("event_id", "kind"),
                      UniqueConstraint("kind", "reference"))
    __admin__ = AdminHints(
        label=N_("Ledger entry"), plural=N_("Merchant ledger"), menu=N_("Finance"), rank=5,
        icon="fa-solid fa-book", list=("id", "at", "merchant", "kind", "amount", "currency",
                                       "parcel", "payout", "description"),
        search=("description",),
        filters=("merchant_id", "kind", "parcel_id", "payout_id", "at"),
        sort=("id", "at", "amount"), default_sort=(("at", True),), readonly=True,
    )

    kind: Mapped[LedgerKind] = mapped_column(
        enum_column(LedgerKind), index=True, info=label(N_("Kind"))
    )
    amount: Mapped[Decimal] = mapped_column(Money, info=label(N_("Amount")))
    currency: Mapped[str] = mapped_column(Currency(), default="BYN", info=label(N_("Currency")))
    parcel_id: Mapped[int | None] = mapped_column(
        ForeignKey("parcels.id"), index=True, info=label(N_("Parcel"))
    )
    payout_id: Mapped[int | None] = mapped_column(
        ForeignKey("payouts.id"), index=True, info=label(N_("Payout"))
    )
    description: Mapped[str | None] = mapped_column(Text, info=label(N_("Description")))
    at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, index=True, info=label(N_("Date"))
    )
    # The parcel event that caused it (charges, cash, fees) or the bank's reference (top-ups,
    # payouts).
    event_id: Mapped[int | None] = mapped_column(
        ForeignKey("parcel_events.id", ondelete="RESTRICT"), index=True,
        info=label(N_("Parcel event")),
    )
    reference: Mapped[str | None] = mapped_column(
        String(100), info=label(N_("Bank reference"))
    )

    merchant: Mapped[Merchant] = relationship()
    parcel: Mapped[Parcel | None] = relationship()
    payout: Mapped[Payout | None] = relationship(back_populates="entries")

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


class ParcelEventKind(LabelledEnum):
    REGISTERED = "registered"
    RESERVED = "reserved"
    RELEASED = "released"
    RECEIVED = "received"
    PLACED = "placed"
    PAID = "paid"
    PICKED_UP = "picked_up"
    EXPIRED = "expired"
    RETURNED = "returned"

    __labels__ = {
        "registered": N_("Registered"),
        "reserved": N_("Cell reserved"),
        "released": N_("Reservation released"),
        "received": N_("Received at the sorting centre"),
        "placed": N_("Placed in the locker"),
        "paid": N_("Paid at the locker"),
        "picked_up": N_("Picked up"),
        "expired": N_("Storage expired"),
        "returned": N_("Returned"),
    }


class ParcelEvent(IdMixin, MerchantOwned, Base):
    """What happened to a parcel, once each: written by the journey's services in the same
    transaction as the step (R-LOCK). The merchant's money (tariffs, fees, payouts) is charged
    from these rows; ``(parcel_id, kind)`` is unique, so a repeated step cannot emit twice."""

    __tablename__ = "parcel_events"
    __table_args__ = (UniqueConstraint("parcel_id", "kind"),
                      Index("ix_parcel_events_merchant_at", "merchant_id", "at"))
    __admin__ = AdminHints(
        label=N_("Parcel event"), plural=N_("Parcel events"), menu=N_("Lockers"), rank=8,
        icon="fa-solid fa-timeline",
        list=("id", "at", "parcel", "kind", "locker", "amount", "currency"),
        filters=("kind", "merchant_id", "locker_id", "at"), sort=("id", "at"),
        default_sort=(("id", True),), readonly=True,
    )

    parcel_id: Mapped[int] = mapped_column(
        ForeignKey("parcels.id", ondelete="CASCADE"), index=True, info=label(N_("Parcel"))
    )
    kind: Mapped[ParcelEventKind] = mapped_column(
        enum_column(ParcelEventKind), index=True, info=label(N_("Event"))
    )
    locker_id: Mapped[int | None] = mapped_column(
        ForeignKey("lockers.id"), index=True, info=label(N_("Parcel locker"))
    )
    cell_size: Mapped[CellSize | None] = mapped_column(
        enum_column(CellSize), info=label(N_("Cell size"))
    )
    # The money the step moved, when it moved any (a payment at the terminal).
    amount: Mapped[Decimal | None] = mapped_column(Money, info=label(N_("Amount")))
    currency: Mapped[str | None] = mapped_column(Currency(), info=label(N_("Currency")))
    at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, index=True, info=label(N_("Date"))
    )

    parcel: Mapped[Parcel] = relationship()
    locker: Mapped[Locker | None] = relationship()

    def __str__(self) -> str:
        return f"{self.parcel_id}: {self.kind}"


class PaymentMethodAtLocker(LabelledEnum):
    CASH = "cash"
    CARD = "card"

    __labels__ = {"cash": N_("Cash"), "card": N_("Card")}


class ParcelPayment(IdMixin, MerchantOwned, Base):
    """The buyer's payment for a cash-on-delivery parcel, reported by the locker terminal
    (R-LOCK-6). One per parcel. ``change`` is what the buyer paid over the amount due, credited
    to the buyer's phone-number account (``PhoneCredit``)."""

    __tablename__ = "parcel_payments"
    __table_args__ = (UniqueConstraint("parcel_id"),
                      Index("ix_parcel_payments_locker_at", "locker_id", "at"))
    __admin__ = AdminHints(
        label=N_("Payment at a locker"), plural=N_("Payments at lockers"), menu=N_("Lockers"),
        rank=7, icon="fa-solid fa-cash-register",
        list=("id", "at", "parcel", "locker", "method", "amount", "change", "currency"),
        filters=("method", "merchant_id", "locker_id", "at"), sort=("id", "at", "amount"),
        default_sort=(("id", True),), readonly=True,
    )

    parcel_id: Mapped[int] = mapped_column(
        ForeignKey("parcels.id", ondelete="CASCADE"), info=label(N_("Parcel"))
    )
    locker_id: Mapped[int] = mapped_column(
        ForeignKey("lockers.id"), index=True, info=label(N_("Parcel locker"))
    )
    method: Mapped[PaymentMethodAtLocker] = mapped_column(
        enum_column(PaymentMethodAtLocker), info=label(N_("Method"))
    )
    amount: Mapped[Decimal] = mapped_column(Money, info=label(N_("Amount due")))
    tendered: Mapped[Decimal] = mapped_column(Money, info=label(N_("Paid")))
    change: Mapped[Decimal] = mapped_column(Money, default=0, info=label(N_("Change credited")))
    currency: Mapped[str] = mapped_column(Currency(), info=label(N_("Currency")))
    at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, index=True, info=label(N_("Date"))
    )

    parcel: Mapped[Parcel] = relationship()
    locker: Mapped[Locker] = relationship()

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


class PhoneCredit(IdMixin, Base):
    """Change from a locker payment credited to the buyer's mobile account (R-LOCK-6). The
    merchant whose parcel was paid reads it; only the terminal's payment service writes it."""

    __tablename__ = "phone_credits"
    __owner__ = Owner(OwnerKind.PARENT, via="payment_id", tenant_writes=False)
    __admin__ = AdminHints(
        label=N_("Mobile account credit"), plural=N_("Mobile account credits"),
        menu=N_("Lockers"), rank=9, icon="fa-solid fa-mobile-screen",
        list=("id", "at", "phone", "amount", "currency", "payment"),
        search=("phone",), filters=("at",), sort=("id", "at"), default_sort=(("id", True),),
        readonly=True,
    )

    phone: Mapped[str] = mapped_column(String(32), index=True, info=label(N_("Phone")))
    amount: Mapped[Decimal] = mapped_column(Money, info=label(N_("Amount")))
    currency: Mapped[str] = mapped_column(Currency(), info=label(N_("Currency")))
    payment_id: Mapped[int] = mapped_column(
        ForeignKey("parcel_payments.id", ondelete="CASCADE"), unique=True,
        info=label(N_("Payment at a locker")),
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, info=label(N_("Date")))

    payment: Mapped[ParcelPayment] = relationship()

    def __str__(self) -> str:
        return f"{self.phone} {self.amount} {self.currency}"


class MaintenanceAction(LabelledEnum):
    OUT_OF_ORDER = "out_of_order"
    BACK_IN_SERVICE = "back_in_service"
    PARCEL_MOVED = "parcel_moved"
    NOTE = "note"

    __labels__ = {
        "out_of_order": N_("Put out of order"),
        "back_in_service": N_("Back in service"),
        "parcel_moved": N_("Parcel moved to another cell"),
        "note": N_("Note"),
    }


class LockerMaintenance(IdMixin, Base):
    """A locker's maintenance log: what a technician did to which cell, when and why (R-LOCK-1).
    Append-only, written by services.lockers."""

    __tablename__ = "locker_maintenance"
    __owner__ = INTERNAL
    __table_args__ = (Index("ix_locker_maintenance_locker_at", "locker_id", "at"),)
    __admin__ = AdminHints(
        label=N_("Maintenance entry"), plural=N_("Maintenance log"), menu=N_("Lockers"),
        rank=10, icon="fa-solid fa-screwdriver-wrench",
        list=("id", "at", "locker", "cell", "action", "user", "reason"),
        search=("reason",), filters=("locker_id", "action", "user_id", "at"),
        sort=("id", "at"), default_sort=(("id", True),), readonly=True,
    )

    locker_id: Mapped[int] = mapped_column(
        ForeignKey("lockers.id", ondelete="CASCADE"), info=label(N_("Parcel locker"))
    )
    cell_id: Mapped[int | None] = mapped_column(
        ForeignKey("locker_cells.id", ondelete="SET NULL"), info=label(N_("Cell"))
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True, info=label(N_("User"))
    )
    action: Mapped[MaintenanceAction] = mapped_column(
        enum_column(MaintenanceAction), index=True, info=label(N_("Action"))
    )
    reason: Mapped[str | None] = mapped_column(Text, info=label(N_("Reason")))
    at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, index=True, info=label(N_("Date"))
    )

    locker: Mapped[Locker] = relationship()
    cell: Mapped[LockerCell | None] = relationship()
    user: Mapped[User | None] = relationship()

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action}"


class TerminalSession(IdMixin, Base):
    """A courier signed in at a locker terminal with badge and PIN (R-LOCK-4). The terminal
    holds the token; only its SHA-256 is stored. A session ends at ``expires_at``."""

    __tablename__ = "terminal_sessions"
    __owner__ = INTERNAL
    __admin__ = AdminHints(
        label=N_("Terminal session"), plural=N_("Terminal sessions"), menu=N_("Lockers"),
        rank=11, icon="fa-solid fa-id-badge",
        list=("id", "locker", "courier", "started_at", "expires_at"),
        filters=("locker_id", "courier_id", "started_at"), sort=("id", "started_at"),
        default_sort=(("id", True),), readonly=True,
    )

    locker_id: Mapped[int] = mapped_column(
        ForeignKey("lockers.id", ondelete="CASCADE"), index=True, info=label(N_("Parcel locker"))
    )
    courier_id: Mapped[int] = mapped_column(
        ForeignKey("couriers.id", ondelete="CASCADE"), info=label(N_("Courier"))
    )
    token_hash: Mapped[str] = mapped_column(
        String(64), unique=True, info=label(N_("Token"), secret=True)
    )
    started_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, info=label(N_("Started at"))
    )
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, info=label(N_("Ends at")))

    locker: Mapped[Locker] = relationship()
    courier: Mapped[Courier] = relationship()

    def __str__(self) -> str:
        return f"{self.locker_id}/{self.courier_id} {self.started_at:%Y-%m-%d %H:%M}"


class TerminalRequest(IdMixin, Base):
    """The answer a terminal got for one idempotency key: a retried request (the network lost
    the answer) gets the same answer again and changes nothing twice."""

    __tablename__ = "terminal_requests"
    __owner__ = INTERNAL
    __admin__ = AdminHints(
        label=N_("Terminal request"), plural=N_("Terminal requests"), menu=N_("Lockers"),
        rank=12, icon="fa-solid fa-repeat",
        list=("id", "at", "locker", "operation", "status_code", "key"),
        search=("key", "operation"), filters=("locker_id", "operation", "status_code", "at"),
        sort=("id", "at"), default_sort=(("id", True),), readonly=True,
    )
    __table_args__ = (UniqueConstraint("locker_id", "key"),)

    locker_id: Mapped[int] = mapped_column(
        ForeignKey("lockers.id", ondelete="CASCADE"), info=label(N_("Parcel locker"))
    )
    key: Mapped[str] = mapped_column(String(100), info=label(N_("Idempotency key")))
    operation: Mapped[str] = mapped_column(String(64), info=label(N_("Operation")))
    status_code: Mapped[int] = mapped_column(Integer, info=label(N_("Status code")))
    response: Mapped[str] = mapped_column(Text, info=label(N_("Answer")))
    at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, index=True, info=label(N_("Date"))
    )

    locker: Mapped[Locker] = relationship()

    def __str__(self) -> str:
        return f"{self.operation} {self.key}"
