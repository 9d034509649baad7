"""Sales reports (R-REP-1, R-REP-2): orders by status, goods sold, customers and their
preferences, discount usage. Every figure is a GROUP BY in the database; Python only orders
the grouped rows, adds the per-currency totals and pivots days against warehouses."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import Select, distinct, func, select
from sqlalchemy.orm import Session

from reports.queries.common import (
    ChartSpec,
    Report,
    ReportColumn,
    ReportParams,
    ReportTable,
    average,
    counted_orders,
    currency_places,
    currency_totals,
    day_of,
    money_sum,
    utc_day,
    value_of,
    with_values,
)
from schema.base import N_
from schema.catalog import Category, Product, Warehouse
from schema.customers import Customer
from schema.discounts import Discount, DiscountUsage
from schema.orders import Order, OrderLine
from schema.payments import PaymentMethod
from schema.shipping import ShippingMethod
from services.records import status_labels

# Orders in these states sold nothing (refused, returned, cancelled by Belpost). Status codes
# are the workflows' stable codes, so naming them here is safe.
NOT_SOLD = ("not_confirmed", "returned", "cancelled")


def _status_order(session: Session, language: str) -> tuple[dict[str, str], dict[str, int]]:
    labels = status_labels(session, language)
    names = {code: label.text for (table, column, code), label in labels.items()
             if (table, column) == ("orders", "status")}
    return names, {code: n for n, code in enumerate(names)}


# ---------------------------------------------------------------------------------------------
# Orders by status, with orders per day per warehouse


STATUS_COLUMNS = (
    ReportColumn("status", N_("Status")),
    ReportColumn("currency", N_("Currency")),
    ReportColumn("orders", N_("Orders"), "integer"),
    ReportColumn("subtotal", N_("Goods"), "money"),
    ReportColumn("discounts", N_("Discounts"), "money"),
    ReportColumn("shipping", N_("Shipping cost"), "money"),
    ReportColumn("payable", N_("Payable"), "money"),
)


def orders_by_status(session: Session, params: ReportParams) -> Report:
    where = counted_orders(params)
    grouped = session.execute(
        select(Order.status, Order.currency, func.count(Order.id), money_sum(Order.subtotal),
               money_sum(Order.discount_total), money_sum(Order.shipping_cost),
               money_sum(Order.payable))
        .where(*where)
        .group_by(Order.status, Order.currency)
    ).all()
    names, position = _status_order(session, params.language)
    grouped = sorted(grouped, key=lambda r: (r[1], position.get(r[0], len(position)), r[0]))
    rows = [(names.get(status, status), *rest) for status, *rest in grouped]
    by_status = ReportTable(
        N_("Orders by status"), STATUS_COLUMNS, rows,
        currency_totals(STATUS_COLUMNS, rows,
                        ("orders", "subtotal", "discounts", "shipping", "payable")),
    )
    return Report("orders_by_status", N_("Orders by status"), params,
                  [by_status, orders_per_day(session, params)])


def orders_per_day(session: Session, params: ReportParams) -> ReportTable:
    """Orders per day (UTC), one column per warehouse and the total; an order whose lines
    ship from two warehouses counts once in each of them and once in the total."""
    where = counted_orders(params)
    day = utc_day(Order.ordered_at)
    totals = dict(session.execute(
        select(day, func.count(Order.id)).where(*where).group_by(day)
    ).all())
    per_warehouse = select(day, OrderLine.warehouse_id, func.count(distinct(Order.id))).join(
        OrderLine, OrderLine.order_id == Order.id
    ).where(*where, OrderLine.warehouse_id.is_not(None))
    if params.warehouse_id is not None:
        per_warehouse = per_warehouse.where(OrderLine.warehouse_id == params.warehouse_id)
    counts = session.execute(per_warehouse.group_by(day, OrderLine.warehouse_id)).all()

    days = [d.isoformat() for d in params.days()]
    frame = pd.DataFrame(counts, columns=["day", "warehouse", "orders"])
    pivot = (frame.pivot_table(index="day", columns="warehouse", values="orders",
                               aggfunc="sum", fill_value=0)
             .reindex(days, fill_value=0))
    warehouse_ids = [int(w) for w in pivot.columns]
    names = dict(session.execute(
        select(Warehouse.id, Warehouse.name).where(Warehouse.id.in_(warehouse_ids))
    ).all()) if warehouse_ids else {}
    warehouse_ids.sort(key=lambda w: (names.get(w, ""), w))
    columns = (
        ReportColumn("day", N_("Date"), "date"),
        *(ReportColumn(f"w{w}", names.get(w, f"#{w}"), "integer", translate=False)
          for w in warehouse_ids),
        ReportColumn("total", N_("All orders"), "integer"),
    )
    rows = [
        (day_of(d), *(int(pivot.at[d, w]) for w in warehouse_ids), int(totals.get(d, 0)))
        for d in days
    ]
    total_row = (None, *(sum(r[n + 1] for r in rows) for n in range(len(warehouse_ids))),
                 sum(int(v) for v in totals.values()))
    return ReportTable(
        N_("Orders per day"), columns, rows, [total_row],
        chart=ChartSpec("line", "day", tuple(c.key for c in columns[1:]),
                        N_("Orders per day")),
    )


# ---------------------------------------------------------------------------------------------
# Goods sold


GOODS_COLUMNS = (
    ReportColumn("sku", N_("SKU")),
    ReportColumn("product", N_("Product")),
    ReportColumn("category", N_("Category")),
    ReportColumn("currency", N_("Currency")),
    ReportColumn("quantity", N_("Quantity"), "integer"),
    ReportColumn("orders", N_("Orders"), "integer"),
    ReportColumn("revenue", N_("Revenue"), "money"),
)


def goods_sold(session: Session, params: ReportParams) -> Report:
    """Products sold in the interval: lines of counted orders not refused or returned; with a
    warehouse chosen, only the lines shipped from it."""
    where = [*counted_orders(params), Order.status.not_in(NOT_SOLD)]
    line_filter = ([OrderLine.warehouse_id == params.warehouse_id]
                   if params.warehouse_id is not None else [])
    rows = [
        (sku, name, category, currency, int(quantity), orders, revenue)
        for sku, name, category, currency, quantity, orders, revenue in session.execute(
            select(Product.sku, Product.name, Category.name, OrderLine.currency,
                   func.sum(OrderLine.quantity), func.count(distinct(OrderLine.order_id)),
                   money_sum(OrderLine.line_total))
            .join(Order, Order.id == OrderLine.order_id)
            .join(Product, Product.id == OrderLine.product_id)
            .outerjoin(Category, Category.id == Product.category_id)
            .where(*where, *line_filter)
            .group_by(Product.id, Product.sku, Product.name, Category.name, OrderLine.currency)
            .order_by(OrderLine.currency, money_sum(OrderLine.line_total).desc(), Product.sku))
    ]
    totals = currency_totals(GOODS_COLUMNS, rows, ("quantity", "revenue"))
    # An order with two products counts once in the total, so count it in the database.
    orders = dict(session.execute(
        select(OrderLine.currency, func.count(distinct(OrderLine.order_id)))
        .join(Order, Order.id == OrderLine.order_id)
        .where(*where, *line_filter).group_by(OrderLine.currency)
    ).all())
    totals = [with_values(GOODS_COLUMNS, t,
                          orders=orders.get(value_of(GOODS_COLUMNS, t, "currency"), 0))
              for t in totals]
    return Report("goods_sold", N_("Goods sold"), params,
                  [ReportTable(N_("Goods sold"), GOODS_COLUMNS, rows, totals)])


# ---------------------------------------------------------------------------------------------
# Customers and their preferences


CUSTOMER_COLUMNS = (
    ReportColumn("customer", N_("Customer")),
    ReportColumn("phone", N_("Mobile")),
    ReportColumn("currency", N_("Currency")),
    ReportColumn("orders", N_("Orders"), "integer"),
    ReportColumn("spend", N_("Spend"), "money"),
    ReportColumn("average", N_("Average order"), "money"),
    ReportColumn("shipping", N_("Favourite shipping method")),
    ReportColumn("payment", N_("Favourite payment method")),
    ReportColumn("category", N_("Favourite category")),
)


def _favourite(session: Session, counted: Select[Any]) -> dict[int, str]:
    """The top choice per customer from ``(customer_id, choice, weight)`` groups: the heaviest,
    ties broken by name — a window function, so only one row per customer leaves the
    database."""
    sub = counted.subquery()
    rank = func.row_number().over(partition_by=sub.c.customer_id,
                                  order_by=(sub.c.weight.desc(), sub.c.choice)).label("rank")
    ranked = select(sub.c.customer_id, sub.c.choice, rank).subquery()
    return {customer: choice for customer, choice in session.execute(
        select(ranked.c.customer_id, ranked.c.choice).where(ranked.c.rank == 1))}


def customers(session: Session, params: ReportParams) -> Report:
    where = [*counted_orders(params), Order.customer_id.is_not(None)]
    grouped = session.execute(
        select(Order.customer_id, Customer.name, Customer.phone, Order.currency,
               func.count(Order.id), money_sum(Order.payable))
        .join(Customer, Customer.id == Order.customer_id)
        .where(*where)
        .group_by(Order.customer_id, Customer.name, Customer.phone, Order.currency)
        .order_by(Order.currency, money_sum(Order.payable).desc(), Customer.name)
    ).all()
    shipping = _favourite(session, select(
        Order.customer_id.label("customer_id"), ShippingMethod.name.label("choice"),
        func.count(Order.id).label("weight"),
    ).join(ShippingMethod, ShippingMethod.id == Order.shipping_method_id).where(*where)
        .group_by(Order.customer_id, ShippingMethod.name))
    payment = _favourite(session, select(
        Order.customer_id.label("customer_id"), PaymentMethod.name.label("choice"),
        func.count(Order.id).label("weight"),
    ).join(PaymentMethod, PaymentMethod.id == Order.payment_method_id).where(*where)
        .group_by(Order.customer_id, PaymentMethod.name))
    category = _favourite(session, select(
        Order.customer_id.label("customer_id"), Category.name.label("choice"),
        func.sum(OrderLine.quantity).label("weight"),
    ).join(OrderLine, OrderLine.order_id == Order.id)
        .join(Product, Product.id == OrderLine.product_id)
        .join(Category, Category.id == Product.category_id).where(*where)
        .group_by(Order.customer_id, Category.name))
    places = currency_places(session)
    rows = [
        (name, phone, currency, count, spend, average(spend, count, places.get(currency, 2)),
         shipping.get(customer_id), payment.get(customer_id), category.get(customer_id))
        for customer_id, name, phone, currency, count, spend in grouped
    ]
    totals = currency_totals(CUSTOMER_COLUMNS, rows, ("orders", "spend"))

    def overall_average(total: tuple[Any, ...]) -> Decimal | None:
        spend, count, currency = (value_of(CUSTOMER_COLUMNS, total, key)
                                  for key in ("spend", "orders", "currency"))
        return average(spend, count, places.get(currency, 2))

    totals = [with_values(CUSTOMER_COLUMNS, t, average=overall_average(t)) for t in totals]
    return Report("customers", N_("Customers and their preferences"), params,
                  [ReportTable(N_("Customers"), CUSTOMER_COLUMNS, rows, totals)])


# ---------------------------------------------------------------------------------------------
# Discount usage


DISCOUNT_COLUMNS = (
    ReportColumn("discount", N_("Discount")),
    ReportColumn("code", N_("Code")),
    ReportColumn("currency", N_("Currency")),
    ReportColumn("uses", N_("Times used"), "integer"),
    ReportColumn("customers", N_("Customers"), "integer"),
    ReportColumn("given", N_("Total given"), "money"),
    ReportColumn("payable", N_("Orders' payable"), "money"),
)


def discount_usage(session: Session, params: ReportParams) -> Report:
    """Every use of a discount by an order of the interval: how often, by how many customers,
    how much was given and what those orders paid."""
    where = counted_orders(params)
    rows = [tuple(r) for r in session.execute(
        select(Discount.name, Discount.code, DiscountUsage.currency, func.count(DiscountUsage.id),
               func.count(distinct(DiscountUsage.customer_id)), money_sum(DiscountUsage.amount),
               money_sum(Order.payable))
        .join(Order, Order.id == DiscountUsage.order_id)
        .join(Discount, Discount.id == DiscountUsage.discount_id)
        .where(*where)
        .group_by(Discount.id, Discount.name, Discount.code, DiscountUsage.currency)
        .order_by(DiscountUsage.currency, money_sum(DiscountUsage.amount).desc(), Discount.name)
    ).all()]
    totals = currency_totals(DISCOUNT_COLUMNS, rows, ("uses", "given"))
    # A customer (or an order with two discounts) counts once in the totals.
    used = select(DiscountUsage.order_id)
    customers_by_currency = dict(session.execute(
        select(Order.currency, func.count(distinct(DiscountUsage.customer_id)))
        .join(Order, Order.id == DiscountUsage.order_id).where(*where).group_by(Order.currency)
    ).all())
    payable_by_currency = dict(session.execute(
        select(Order.currency, money_sum(Order.payable))
        .where(*where, Order.id.in_(used)).group_by(Order.currency)
    ).all())

    def distinct_totals(total: tuple[Any, ...]) -> tuple[Any, ...]:
        currency = value_of(DISCOUNT_COLUMNS, total, "currency")
        return with_values(DISCOUNT_COLUMNS, total,
                           customers=customers_by_currency.get(currency, 0),
                           payable=payable_by_currency.get(currency, Decimal(0)))

    totals = [distinct_totals(t) for t in totals]
    return Report("discount_usage", N_("Discount usage"), params,
                  [ReportTable(N_("Discount usage"), DISCOUNT_COLUMNS, rows, totals)])
