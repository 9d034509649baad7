"""The catalog: categories, warehouses with their product administrators, products, variants,
stock by warehouse, and suppliers (R-RULE-9, R-ORD-7, R-ORD-10, R-LOCK-9)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
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
    LabelledEnum,
    MerchantOwned,
    Money,
    enum_column,
    label,
    owned_through,
)

if TYPE_CHECKING:
    from schema.people import Merchant, User


class SaleMode(LabelledEnum):
    DIRECT = "direct"
    ON_REQUEST = "on_request"

    __labels__ = {
        "direct": N_("Direct sale (stock controlled)"),
        "on_request": N_("On request (stock not controlled)"),
    }


class Category(Editable, Base):
    """A product category; categories form a tree through ``parent_id``."""

    __tablename__ = "categories"
    __owner__ = SHARED
    __admin__ = AdminHints(
        label=N_("Category"), plural=N_("Categories"), menu=N_("Catalog"), rank=4,
        icon="fa-solid fa-folder-tree", list=("id", "name", "parent", "position", "active"),
        search=("name",), filters=("parent_id", "active"), sort=("id", "name", "position"),
        default_sort=(("position", False),), form_exclude=("children",),
    )

    name: Mapped[str] = mapped_column(String(200), index=True, info=label(N_("Name")))
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("categories.id"), index=True,
        info=label(N_("Parent category")),
    )
    position: Mapped[int] = mapped_column(
        Integer, default=0, index=True, info=label(N_("Position"))
    )
    description: Mapped[str | None] = mapped_column(Text, info=label(N_("Description")))
    active: Mapped[bool] = mapped_column(Boolean, default=True, info=label(N_("Active")))

    parent: Mapped[Category | None] = relationship(
        remote_side="Category.id", back_populates="children"
    )
    children: Mapped[list[Category]] = relationship(
        back_populates="parent", order_by="Category.position"
    )

    def __str__(self) -> str:
        return self.name


class Warehouse(Editable, MerchantOwned, Base):
    """A merchant's warehouse; its product administrator handles the sub-orders it supplies."""

    __tablename__ = "warehouses"
    __table_args__ = (UniqueConstraint("merchant_id", "name"),)
    __admin__ = AdminHints(
        label=N_("Warehouse"), plural=N_("Warehouses"), menu=N_("Catalog"), rank=5,
        icon="fa-solid fa-warehouse",
        list=("id", "name", "city", "product_admin", "merchant", "active"),
        search=("name", "city", "address"),
        filters=("merchant_id", "product_admin_id", "active"), sort=("id", "name", "city"),
    )

    name: Mapped[str] = mapped_column(String(200), info=label(N_("Name")))
    address: Mapped[str | None] = mapped_column(Text, info=label(N_("Address")))
    city: Mapped[str | None] = mapped_column(String(100), index=True, info=label(N_("City")))
    phone: Mapped[str | None] = mapped_column(String(32), info=label(N_("Phone")))
    product_admin_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id"), index=True, info=label(N_("Product administrator"))
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True, info=label(N_("Active")))

    merchant: Mapped[Merchant] = relationship()
    product_admin: Mapped[User | None] = relationship()

    def __str__(self) -> str:
        return self.name


class Product(Editable, MerchantOwned, Base):
    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("merchant_id", "sku"),)
    __admin__ = AdminHints(
        label=N_("Product"), plural=N_("Products"), menu=N_("Catalog"), rank=1,
        icon="fa-solid fa-box",
        list=("sku", "name", "category", "price", "on_sale", "sale_mode"),
        list_more=("id", "currency", "weight_g", "is_weighted", "points", "merchant"),
        search=("sku", "name"),
        filters=("category_id", "sale_mode", "on_sale", "is_weighted", "merchant_id"),
        sort=("id", "sku", "name", "price"),
        form_exclude=("variants", "stock_levels"),
    )

    sku: Mapped[str] = mapped_column(String(64), index=True, info=label(N_("SKU")))
    name: Mapped[str] = mapped_column(String(300), index=True, info=label(N_("Name")))
    description: Mapped[str | None] = mapped_column(Text, info=label(N_("Description")))
    picture_url: Mapped[str | None] = mapped_column(String(500), info=label(N_("Picture")))
    category_id: Mapped[int | None] = mapped_column(
        ForeignKey("categories.id"), index=True, info=label(N_("Category"))
    )
    sale_mode: Mapped[SaleMode] = mapped_column(
        enum_column(SaleMode), default=SaleMode.DIRECT, index=True,
        info=label(N_("Sale mode")),
    )
    price: Mapped[Decimal] = mapped_column(
        Money, default=0, index=True, info=label(N_("Price"))
    )
    currency: Mapped[str] = mapped_column(Currency(), default="BYN", info=label(N_("Currency")))
    weight_g: Mapped[int] = mapped_column(Integer, default=0, info=label(N_("Weight, g")))
    # Weighted goods (R-ORD-12): ``price`` is per kilogram and the picker records the weight.
    is_weighted: Mapped[bool] = mapped_column(
        Boolean, default=False, index=True, info=label(N_("Sold by weight"))
    )
    # R-RULE-2: customers earn points per unit bought.
    points: Mapped[int] = mapped_column(Integer, default=0, info=label(N_("Points per unit")))
    # R-RULE-9: only with a description and a picture; a direct-sale product leaves the sale
    # when its stock falls below the minimum (decided in rules, applied in services).
    on_sale: Mapped[bool] = mapped_column(
        Boolean, default=False, index=True, info=label(N_("On sale"))
    )

    merchant: Mapped[Merchant] = relationship()
    category: Mapped[Category | None] = relationship()
    variants: Mapped[list[ProductVariant]] = relationship(
        back_populates="product", cascade="all, delete-orphan", order_by="ProductVariant.id"
    )
    stock_levels: Mapped[list[StockLevel]] = relationship(
        back_populates="product", cascade="all, delete-orphan", order_by="StockLevel.id"
    )

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class ProductVariant(Editable, Base):
    """A colour/size of a product; its price is the product's price plus ``price_delta``
    (in the product's currency)."""

    __tablename__ = "product_variants"
    __owner__ = owned_through("product_id")
    __admin__ = AdminHints(
        label=N_("Product variant"), plural=N_("Product variants"), menu=N_("Catalog"), rank=3,
        icon="fa-solid fa-shirt",
        list=("id", "product", "colour", "size", "sku", "price_delta"),
        search=("sku", "colour", "size"), filters=("product_id",), sort=("id", "sku"),
    )

    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True, info=label(N_("Product"))
    )
    colour: Mapped[str | None] = mapped_column(String(64), info=label(N_("Colour")))
    size: Mapped[str | None] = mapped_column(String(32), info=label(N_("Size")))
    sku: Mapped[str | None] = mapped_column(String(64), index=True, info=label(N_("SKU")))
    price_delta: Mapped[Decimal] = mapped_column(
        Money, default=0, info=label(N_("Price difference"))
    )

    product: Mapped[Product] = relationship(back_populates="variants")

    def __str__(self) -> str:
        parts = [p for p in (self.colour, self.size) if p]
        return " / ".join(parts) or self.sku or str(self.id)


class StockLevel(Editable, Base):
    """Stock of a product (or one of its variants) in one warehouse."""

    __tablename__ = "stock_levels"
    __owner__ = owned_through("warehouse_id")
    __table_args__ = (
        UniqueConstraint("product_id", "variant_id", "warehouse_id"),
        # NULLs are distinct in a unique constraint: one row per product and warehouse when
        # the product has no variant needs its own partial index (both databases).
        Index(
            "uq_stock_levels_product_warehouse_no_variant", "product_id", "warehouse_id",
            unique=True,
            postgresql_where=text("variant_id IS NULL"), sqlite_where=text("variant_id IS NULL"),
        ),
    )
    __admin__ = AdminHints(
        label=N_("Stock level"), plural=N_("Stock levels"), menu=N_("Catalog"), rank=2,
        icon="fa-solid fa-cubes",
        list=("id", "product", "variant", "warehouse", "quantity", "min_quantity"),
        filters=("product_id", "warehouse_id"), sort=("id", "quantity"),
    )

    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True, info=label(N_("Product"))
    )
    variant_id: Mapped[int | None] = mapped_column(
        ForeignKey("product_variants.id", ondelete="CASCADE"), index=True,
        info=label(N_("Variant")),
    )
    warehouse_id: Mapped[int] = mapped_column(
        ForeignKey("warehouses.id"), index=True, info=label(N_("Warehouse"))
    )
    quantity: Mapped[int] = mapped_column(
        Integer, default=0, index=True, info=label(N_("Quantity"))
    )
    min_quantity: Mapped[int] = mapped_column(
        Integer, default=0, info=label(N_("Minimum quantity"))
    )

    product: Mapped[Product] = relationship(back_populates="stock_levels")
    variant: Mapped[ProductVariant | None] = relationship()
    warehouse: Mapped[Warehouse] = relationship()

    def __str__(self) -> str:
        return str(self.quantity)


class Supplier(Editable, Base):
    """A supplier whose shipments a pickup point imports without an integration (R-LOCK-9)."""

    __tablename__ = "suppliers"
    __owner__ = INTERNAL
    __admin__ = AdminHints(
        label=N_("Supplier"), plural=N_("Suppliers"), menu=N_("Catalog"), rank=6,
        icon="fa-solid fa-truck-ramp-box",
        list=("id", "name", "tax_id", "contact_name", "phone", "active"),
        search=("name", "tax_id", "contact_name", "phone", "email"), filters=("active",),
        sort=("id", "name"),
    )

    name: Mapped[str] = mapped_column(String(200), index=True, info=label(N_("Name")))
    tax_id: Mapped[str | None] = mapped_column(String(32), index=True, info=label(N_("Tax id")))
    contact_name: Mapped[str | None] = mapped_column(
        String(200), info=label(N_("Contact person"))
    )
    phone: Mapped[str | None] = mapped_column(String(32), info=label(N_("Phone")))
    email: Mapped[str | None] = mapped_column(String(200), info=label(N_("E-mail")))
    address: Mapped[str | None] = mapped_column(Text, info=label(N_("Address")))
    note: Mapped[str | None] = mapped_column(Text, info=label(N_("Note")))
    active: Mapped[bool] = mapped_column(Boolean, default=True, info=label(N_("Active")))

    def __str__(self) -> str:
        return self.name
