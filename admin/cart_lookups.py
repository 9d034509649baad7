"""Look-ups shared by the pages that build a cart (manual entry, "Try on a cart"): a store's
products and customers as JSON suggestions, and whole numbers typed in any of our languages'
digits. The finders run in the person's scoped session and are confined to one store.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session, selectinload

from locales import ascii_number
from schema.catalog import Product
from schema.customers import Customer
from services.errors import InvalidInput

SEARCH_LIMIT = 20


def whole_number(value: Any, what: str) -> int | None:
    """A whole number typed in any of our languages' digits (``۱۲`` and ``١٢`` are 12), with
    or without thousands separators."""
    text = ascii_number(str(value or "")).strip().replace(",", "").replace("\u00a0", "")
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidInput("%(field)s must be a whole number.", field=what) from None


def find_products(session: Session, merchant: int, pattern: str) -> list[dict[str, Any]]:
    """Products by name or SKU; the one whose SKU is exactly the text comes first, so a typed
    SKU is always among the answers however many names hold it (the page then selects it)."""
    typed = pattern.strip("%").lower()
    rows = session.scalars(
        select(Product).where(Product.merchant_id == merchant, Product.on_sale.is_(True),
                              or_(Product.name.ilike(pattern), Product.sku.ilike(pattern)))
        .options(selectinload(Product.variants))
        .order_by(case((func.lower(Product.sku) == typed, 0), else_=1), Product.name)
        .limit(SEARCH_LIMIT)).all()
    return [{
        "id": p.id, "label": f"{p.sku} — {p.name}", "sku": p.sku, "price": str(p.price),
        "currency": p.currency,
        "variants": [{"id": v.id, "label": " / ".join(
            x for x in (v.colour, v.size, v.sku) if x) or str(v.id)} for v in p.variants],
    } for p in rows]


def find_customers(session: Session, merchant: int, pattern: str) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(Customer).where(Customer.merchant_id == merchant,
                               or_(Customer.name.ilike(pattern), Customer.phone.ilike(pattern)))
        .order_by(Customer.name).limit(SEARCH_LIMIT)).all()
    return [{"id": c.id, "label": f"{c.name} · {c.phone or ''}".strip(" ·"),
             "name": c.name, "phone": c.phone, "address": c.address, "city": c.city,
             "postcode": c.postcode} for c in rows]
