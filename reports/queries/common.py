"""What every report is made of, and the SQL pieces the report queries share.

A report is plain data: a title, the parameters it was run with, and one or more tables of
rows with their column labels and per-currency totals. Labels are English msgids (marked with
``N_``) translated where the report is shown, so the same structure feeds the admin preview,
the XLSX and the PDF. Values the database holds as labels (workflow states) come out already
in the report's language, because their translations are data, not catalog entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from sqlalchemy import ColumnElement, Float, String, func, select, type_coerce
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from locales import translations
from schema.base import Money
from schema.orders import Order, OrderLine
from schema.people import CurrencyRow
from services.actor import current_actor

ColumnKind = Literal["text", "integer", "money", "number", "percent", "date"]


@dataclass(frozen=True)
class ReportParams:
    """A closed interval of days (UTC), optionally one warehouse and, for staff, one merchant.

    A merchant user's own merchant always wins over ``merchant_id`` (see ``scoped_merchant``).
    """

    date_from: date
    date_to: date
    warehouse_id: int | None = None
    merchant_id: int | None = None
    language: str = "en"

    def __post_init__(self) -> None:
        if self.date_to < self.date_from:
            raise ValueError("the interval ends before it starts")

    @property
    def start(self) -> datetime:
        return datetime.combine(self.date_from, time.min, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The first moment after the interval (exclusive bound)."""
        return datetime.combine(self.date_to + timedelta(days=1), time.min, tzinfo=UTC)

    def days(self) -> list[date]:
        return [self.date_from + timedelta(days=n)
                for n in range((self.date_to - self.date_from).days + 1)]


@dataclass(frozen=True)
class ReportColumn:
    key: str
    label: str  # an msgid, translated where the report is shown, unless ``translate`` is off
    kind: ColumnKind = "text"
    translate: bool = True  # off for labels that are data (a warehouse's name)


@dataclass(frozen=True)
class ChartSpec:
    """How a table is best drawn: the column of categories and the columns of values."""

    kind: Literal["line", "column"]
    category: str
    series: tuple[str, ...]
    title: str


@dataclass
class ReportTable:
    """Rows in column order; ``totals`` are rows too (one per currency where money is
    summed), with ``None`` in the columns that have no meaningful total."""

    title: str
    columns: tuple[ReportColumn, ...]
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    totals: list[tuple[Any, ...]] = field(default_factory=list)
    chart: ChartSpec | None = None

    def index(self, key: str) -> int:
        for n, column in enumerate(self.columns):
            if column.key == key:
                return n
        raise KeyError(key)

    def column(self, key: str) -> list[Any]:
        n = self.index(key)
        return [row[n] for row in self.rows]

    def as_dicts(self) -> list[dict[str, Any]]:
        keys = [c.key for c in self.columns]
        return [dict(zip(keys, row, strict=True)) for row in self.rows]

    def totals_by_currency(self) -> dict[str, dict[str, Any]]:
        keys = [c.key for c in self.columns]
        out: dict[str, dict[str, Any]] = {}
        for row in self.totals:
            values = dict(zip(keys, row, strict=True))
            out[str(values.get("currency") or "")] = values
        return out


@dataclass
class Report:
    code: str
    title: str  # an msgid
    params: ReportParams
    tables: list[ReportTable]
    notes: list[str] = field(default_factory=list)  # msgids shown under the title
    warehouse: str | None = None  # the chosen warehouse's name, as the reader may see it


# ---------------------------------------------------------------------------------------------
# Scoping and the orders a report counts


def scoped_merchant(params: ReportParams) -> int | None:
    """The merchant the figures are confined to.

    The session already filters a merchant user's ORM statements (services.scoping); the
    report queries also filter explicitly, so a figure can never rest on that alone — an
    aggregate over a table that is not merchant-owned (payments, transactions) is confined
    through the order it joins, and that join is where the explicit filter goes.
    """
    actor = current_actor()
    if actor is not None and actor.merchant_id is not None:
        return actor.merchant_id
    return params.merchant_id


def in_warehouse(warehouse_id: int) -> ColumnElement[bool]:
    """An order belongs to a warehouse's figures when one of its lines ships from there."""
    line = aliased(OrderLine)  # apart from any OrderLine the report itself joins
    return Order.id.in_(select(line.order_id).where(line.warehouse_id == warehouse_id))


def split_parents() -> Any:
    """Orders that were split into sub-orders (R-ORD-10): the sub-orders are counted
    instead, so nothing is counted twice.

    A Core alias, not the ORM entity: scoping would add the merchant to this subquery and
    SQLite would then walk all of a merchant's orders to find the few split ones. Unscoped,
    it reads the small ``parent_id`` index; the outer query is the one that is scoped.
    """
    children = Order.__table__.alias("children")
    return select(children.c.parent_id).where(children.c.parent_id.is_not(None)).correlate(None)


def order_scope(params: ReportParams) -> list[ColumnElement[bool]]:
    """The merchant and warehouse conditions on ``Order``, whatever else a report counts."""
    conditions: list[ColumnElement[bool]] = []
    merchant = scoped_merchant(params)
    if merchant is not None:
        conditions.append(Order.merchant_id == merchant)
    if params.warehouse_id is not None:
        conditions.append(in_warehouse(params.warehouse_id))
    return conditions


def counted_orders(params: ReportParams) -> list[ColumnElement[bool]]:
    """The orders a report counts: placed in the interval, not deleted, not a split parent,
    within the merchant and warehouse."""
    return [
        Order.ordered_at >= params.start, Order.ordered_at < params.end,
        unindexed(Order.deleted_at).is_(None), Order.id.not_in(split_parents()),
        *order_scope(params),
    ]


# ---------------------------------------------------------------------------------------------
# SQL that differs between SQLite and PostgreSQL


class utc_day(FunctionElement[str]):
    """The UTC calendar day of a timestamp as ``YYYY-MM-DD`` text."""

    type = String()
    inherit_cache = True
    name = "utc_day"


@compiles(utc_day, "sqlite")
def _utc_day_sqlite(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps UTCDateTime as "YYYY-MM-DD HH:MM:SS.ffffff", already in UTC.
    return f"substr({compiler.process(element.clauses, **kw)}, 1, 10)"


@compiles(utc_day, "postgresql")
def _utc_day_postgresql(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    inner = compiler.process(element.clauses, **kw)
    return f"to_char(({inner}) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


class unindexed(FunctionElement[Any]):
    """A column's value that SQLite's planner may not answer from an index.

    Without ANALYZE statistics SQLite takes ``deleted_at IS NULL`` (an equality) for the most
    selective term and walks ``ix_orders_deleted_at`` — nearly every row — instead of the range
    on ``ordered_at``. SQLite's unary ``+`` is a no-op that disqualifies the term from index
    use; PostgreSQL plans from its statistics and gets the column as it is.
    """

    inherit_cache = True
    name = "unindexed"

    def __init__(self, column: Any) -> None:
        super().__init__(column)
        self.type = column.type


@compiles(unindexed)
def _unindexed_default(element: unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(unindexed, "sqlite")
def _unindexed_sqlite(element: unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return f"+{compiler.process(element.clauses, **kw)}"


class seconds_between(FunctionElement[float]):
    """``later - earlier`` in seconds, as a float."""

    type = Float()
    inherit_cache = True
    name = "seconds_between"


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    earlier, later = (compiler.process(c, **kw) for c in element.clauses)
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


@compiles(seconds_between, "postgresql")
def _seconds_postgresql(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    earlier, later = (compiler.process(c, **kw) for c in element.clauses)
    return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"


def money_sum(expression: Any) -> ColumnElement[Decimal]:
    """SUM of a Money expression, read back as an exact Decimal.

    Money is BIGINT of 1/10000 on both databases; SQLite sums integers exactly and PostgreSQL
    returns SUM(bigint) as NUMERIC, so coercing the result to Money turns either back into the
    exact amount (never through a float).
    """
    return type_coerce(func.coalesce(func.sum(expression), 0), Money())


def day_of(value: str | date | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def zero_if_none(value: Decimal | None) -> Decimal:
    return value if value is not None else Decimal(0)


def currency_places(session: Session) -> dict[str, int]:
    """Decimal places per currency code, from the currencies table."""
    return {code: int(places) for code, places in
            session.execute(select(CurrencyRow.code, CurrencyRow.decimals)).all()}


def average(total: Decimal, count: int, places: int = 2) -> Decimal | None:
    if not count:
        return None
    return (total / count).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def currency_totals(columns: Sequence[ReportColumn], rows: Sequence[tuple[Any, ...]],
                    summed: Sequence[str]) -> list[tuple[Any, ...]]:
    """One totals row per currency: the ``summed`` columns added up (amounts are only ever
    added within one currency), every other column empty except the currency itself."""
    index = {c.key: n for n, c in enumerate(columns)}
    by_currency: dict[str, list[Any]] = {}
    for row in rows:
        currency = row[index["currency"]]
        acc = by_currency.setdefault(currency, [None] * len(columns))
        acc[index["currency"]] = currency
        for key in summed:
            value = row[index[key]]
            if value is not None:
                acc[index[key]] = (acc[index[key]] or 0) + value
    return [tuple(by_currency[currency]) for currency in sorted(by_currency)]


def translator(params: ReportParams) -> Any:
    """gettext in the report's language, for values that are labels (enum choices)."""
    return translations(params.language).gettext


def value_of(columns: Sequence[ReportColumn], row: tuple[Any, ...], key: str) -> Any:
    """The value of column ``key`` in ``row``."""
    for n, column in enumerate(columns):
        if column.key == key:
            return row[n]
    raise KeyError(key)


def with_values(columns: Sequence[ReportColumn], row: tuple[Any, ...],
                **values: Any) -> tuple[Any, ...]:
    """``row`` with the named columns replaced."""
    out = list(row)
    for n, column in enumerate(columns):
        if column.key in values:
            out[n] = values[column.key]
    return tuple(out)
