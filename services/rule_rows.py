"""The rule tables as ``rules.pricing`` inputs: one mapping per row kind, and their readers.

Read-only. The rule tables are read as plain rows (Core), not ORM objects: a checkout quote
reads about 130 of them, and building ORM instances was a third of its time. Every mapping is
one to one with the dataclasses of ``rules.pricing`` (that module's docstring holds the
semantics); the only translation is that a discount marked automatic, or without a code,
becomes a ``DiscountRule`` whose ``code`` is ``None``. A scheduled discount (``starts_at`` in the
future) is read like any other: the engine skips it until its start, so a reader never filters
on the clock. The shipping and payment readers are
what ``services.rule_snapshot`` keeps; quotes go through that snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import Row, bindparam, func, or_, select
from sqlalchemy.orm import Session

from rules import pricing as rp
from schema.customers import Customer
from schema.discounts import Discount, discount_products
from schema.payments import PaymentGateway, PaymentMethod
from schema.shipping import ShippingCostRow, ShippingMethod, shipping_method_categories


def _value(enum_or_str: object) -> str:
    return str(getattr(enum_or_str, "value", enum_or_str))


def discount_rule(row: Discount | Row[Any], product_ids: Iterable[int] = ()) -> rp.DiscountRule:
    code = None if row.automatic or not (row.code or "").strip() else row.code
    return rp.DiscountRule(
        id=row.id, name=row.name, kind=_value(row.kind),  # type: ignore[arg-type]
        value=Decimal(row.value or 0), code=code, starts_at=row.starts_at,
        expires_at=row.expires_at,
        total_uses_allowed=row.total_uses_allowed, times_used=row.times_used or 0,
        uses_per_customer=row.uses_per_customer, min_cart_price=row.min_cart_price,
        min_item_count=row.min_item_count, target=_value(row.target),  # type: ignore[arg-type]
        customer_id=row.customer_id, customer_group_id=row.customer_group_id,
        channel=_value(row.channel),  # type: ignore[arg-type]
        product_ids=frozenset(product_ids), priority=row.priority or 0,
        combinable=bool(row.combinable), active=bool(row.active),
    )


def shipping_row(row: ShippingCostRow | Row[Any]) -> rp.ShippingRow:
    return rp.ShippingRow(
        position=row.position or 0, cost=Decimal(row.cost or 0),
        min_cart_price=Decimal(row.min_cart_price or 0), min_item_count=row.min_item_count or 0,
        min_weight_g=row.min_weight_g or 0, min_distance_m=row.min_distance_m or 0,
        out_of_range=bool(row.out_of_range),
    )


def shipping_method_rule(row: ShippingMethod | Row[Any], category_ids: Iterable[int] = (),
                         rows: Sequence[ShippingCostRow | Row[Any]] | None = None,
                         ) -> rp.ShippingMethod:
    """``rows`` default to the method's own rows (ordered by position, then id)."""
    cost_rows = row.rows if rows is None else rows
    ordered = sorted(cost_rows, key=lambda r: (r.position or 0, r.id or 0))
    return rp.ShippingMethod(
        id=row.id, name=row.name, cost_rule=_value(row.cost_rule),  # type: ignore[arg-type]
        base_cost=Decimal(row.base_cost or 0), active=bool(row.active),
        max_weight_g=row.max_weight_g, category_ids=frozenset(category_ids),
        postpaid=bool(row.postpaid), rows=tuple(shipping_row(r) for r in ordered),
    )


def payment_method_rule(row: PaymentMethod | Row[Any]) -> rp.PaymentMethod:
    value = Decimal(row.discount_value or 0)
    return rp.PaymentMethod(
        id=row.id, name=row.name, kind=_value(row.kind), active=bool(row.active),
        discount_kind=_value(row.discount_kind) if row.discount_kind and value else None,  # type: ignore[arg-type]
        discount_value=value, tax_percent=Decimal(row.tax_percent or 0),
    )


def gateway_rule(row: PaymentGateway | Row[Any]) -> rp.Gateway:
    return rp.Gateway(
        currency=row.currency, conversion_rate=Decimal(row.conversion_rate or 1),
        conversion_op=_value(row.conversion_op),  # type: ignore[arg-type]
        rounding_digits=row.rounding_digits or 0, decimals=row.decimals or 0,
        fee_percent=Decimal(row.fee_percent or 0),
    )


def customer_rule(row: Customer | None, uses: dict[int, int] | None = None) -> rp.Customer:
    """A customer with an account counts as logged in; no customer is a guest."""
    if row is None:
        return rp.Customer()
    return rp.Customer(id=row.id, group_id=row.group_id, logged_in=bool(row.registered),
                       uses=dict(uses or {}))


# --- readers ----------------------------------------------------------------------------


BOOKKEEPING = frozenset({"created_at", "updated_at", "version", "description"})


def _rule_columns(table: Any) -> list[Any]:
    """A rule table's columns the engine reads: not its timestamps, version or description."""
    return [c for c in table.__table__.c if c.name not in BOOKKEEPING]


# Scheduled and expired discounts are read too: the engine decides by the quote's ``now`` (a
# snapshot kept across that moment must not hide a discount that has just started).
_AUTOMATIC = Discount.active.is_(True) & or_(
    Discount.automatic.is_(True), Discount.code.is_(None), func.trim(Discount.code) == "")
# Built once (a quote runs them every time): active automatic discounts, and with them the
# discount whose code was entered, whatever its state, so the quote can say why it does not
# apply.
_AUTOMATIC_DISCOUNTS = (select(*_rule_columns(Discount)).where(_AUTOMATIC)
                        .order_by(Discount.id))
_CODE_DISCOUNTS = (select(*_rule_columns(Discount))
                   .where(func.lower(func.trim(Discount.code)) == bindparam("code"))
                   .order_by(Discount.id))
_DISCOUNTS_BY_ID = (select(*_rule_columns(Discount))
                    .where(Discount.id.in_(bindparam("ids", expanding=True)))
                    .order_by(Discount.id))
_DISCOUNT_PRODUCTS = select(discount_products.c.discount_id, discount_products.c.product_id
                            ).where(discount_products.c.discount_id.in_(
                                bindparam("ids", expanding=True)))


@lru_cache(maxsize=4096)
def _discount_rule(row: Row[Any], product_ids: frozenset[int]) -> rp.DiscountRule:
    # Rows compare by value: an unchanged discount (times used included) is converted once.
    return discount_rule(row, product_ids)


def _discount_rules(session: Session, statement: Any, params: dict[str, Any],
                    ) -> tuple[rp.DiscountRule, ...]:
    # Discounts belong to no merchant (scoping has nothing to add): read on the connection,
    # past the ORM's per-statement work.
    connection = session.connection()
    rows = connection.execute(statement, params).all()
    products: dict[int, set[int]] = {}
    if rows:
        for discount_id, product_id in connection.execute(_DISCOUNT_PRODUCTS,
                                                          {"ids": [r.id for r in rows]}):
            products.setdefault(discount_id, set()).add(product_id)
    return tuple(_discount_rule(r, frozenset(products.get(r.id, ()))) for r in rows)


def load_automatic_discounts(session: Session) -> tuple[rp.DiscountRule, ...]:
    """The active automatic discounts (and active ones without a code), in id order."""
    return _discount_rules(session, _AUTOMATIC_DISCOUNTS, {})


def load_code_discounts(session: Session, discount_code: str | None,
                        ) -> tuple[rp.DiscountRule, ...]:
    """The discount with the entered code, whatever its state (so the quote can say why it
    does not apply); nothing when no code was entered."""
    entered = (discount_code or "").strip().casefold()
    return _discount_rules(session, _CODE_DISCOUNTS, {"code": entered}) if entered else ()


def load_discounts_by_id(session: Session, ids: Sequence[int]) -> tuple[rp.DiscountRule, ...]:
    """These discounts as they are now, whatever their state (re-pricing an order that holds
    their uses)."""
    return _discount_rules(session, _DISCOUNTS_BY_ID, {"ids": list(ids)}) if ids else ()


def with_entered(automatic: Sequence[rp.DiscountRule], entered: Sequence[rp.DiscountRule],
                 ) -> tuple[rp.DiscountRule, ...]:
    """Both lists as one, each discount once, in id order."""
    return tuple(sorted({d.id: d for d in (*automatic, *entered)}.values(), key=lambda d: d.id))


def load_discounts(session: Session, discount_code: str | None) -> tuple[rp.DiscountRule, ...]:
    """Active automatic discounts, and the discount with the entered code whatever its state."""
    return with_entered(load_automatic_discounts(session),
                        load_code_discounts(session, discount_code))


def _categories(session: Session, method_ids: Sequence[int]) -> dict[int, set[int]]:
    found: dict[int, set[int]] = {}
    if method_ids:
        for method_id, category_id in session.execute(
            select(shipping_method_categories.c.shipping_method_id,
                   shipping_method_categories.c.category_id)
            .where(shipping_method_categories.c.shipping_method_id.in_(method_ids))
        ):
            found.setdefault(method_id, set()).add(category_id)
    return found


def load_shipping_methods(session: Session, ids: Sequence[int] | None = None, *,
                          active_only: bool = False) -> list[rp.ShippingMethod]:
    """The methods (by ``ids``, or every one) with their rows in position order."""
    stmt = select(*_rule_columns(ShippingMethod)).order_by(ShippingMethod.id)
    if ids is not None:
        stmt = stmt.where(ShippingMethod.id.in_(ids))
    if active_only:
        stmt = stmt.where(ShippingMethod.active.is_(True))
    methods = session.execute(stmt).all()
    method_ids = [m.id for m in methods]
    cost_rows: dict[int, list[Row[Any]]] = {}
    if method_ids:
        for row in session.execute(select(*_rule_columns(ShippingCostRow)).where(
                ShippingCostRow.shipping_method_id.in_(method_ids))):
            cost_rows.setdefault(row.shipping_method_id, []).append(row)
    categories = _categories(session, method_ids)
    return [shipping_method_rule(m, categories.get(m.id, ()), cost_rows.get(m.id, []))
            for m in methods]


def load_payment_methods(session: Session, ids: Sequence[int] | None = None, *,
                         active_only: bool = False,
                         ) -> list[tuple[rp.PaymentMethod, rp.Gateway | None]]:
    """The methods (by ``ids``, or every one) with their gateway, if any."""
    stmt = select(*_rule_columns(PaymentMethod)).order_by(PaymentMethod.id)
    if ids is not None:
        stmt = stmt.where(PaymentMethod.id.in_(ids))
    if active_only:
        stmt = stmt.where(PaymentMethod.active.is_(True))
    methods = session.execute(stmt).all()
    gateway_ids = {m.gateway_id for m in methods if m.gateway_id is not None}
    gateways = {}
    if gateway_ids:
        g = PaymentGateway
        gateways = {row.id: gateway_rule(row) for row in session.execute(  # secrets not read
            select(g.id, g.currency, g.conversion_rate, g.conversion_op, g.rounding_digits,
                   g.decimals, g.fee_percent).where(g.id.in_(gateway_ids)))}
    return [(payment_method_rule(m), gateways.get(m.gateway_id)) for m in methods]
