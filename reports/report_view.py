"""A report as a person reads it: labels translated, every cell formatted for the language and
the row's currency. The admin's preview and the PDF show this same view; the XLSX keeps the
raw values (numbers stay numbers) and takes only the translated labels from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from markupsafe import Markup

from locales import format_date, format_decimal, format_money, is_rtl, translations
from reports.charts import Point, column_chart
from reports.queries.common import Report, ReportColumn, ReportTable

NUMERIC_KINDS = frozenset({"integer", "money", "number", "percent"})


@dataclass
class TableView:
    title: str
    headers: list[str]
    numeric: list[bool]
    rows: list[list[str]]
    totals: list[list[str]]
    total_rows: int       # rows the table has (``rows`` may hold only the first of them)
    chart: Markup | None = None
    cut_note: str | None = None  # says so when ``rows`` holds only the first rows


@dataclass
class ReportView:
    code: str
    title: str
    period: str
    warehouse: str
    notes: list[str]
    tables: list[TableView] = field(default_factory=list)
    language: str = "en"


def header(column: ReportColumn, lang: str) -> str:
    return translations(lang).gettext(column.label) if column.translate else column.label


def period_text(report: Report, lang: str) -> str:
    start, end = report.params.date_from, report.params.date_to
    if start == end:
        return format_date(start, lang)
    return f"{format_date(start, lang)} – {format_date(end, lang)}"


def warehouse_text(report: Report, lang: str) -> str:
    _ = translations(lang).gettext
    if report.params.warehouse_id is None:
        return _("All warehouses")
    return report.warehouse or _("Warehouse #%(id)s") % {"id": report.params.warehouse_id}


def cell_text(value: Any, column: ReportColumn, currency: str | None, lang: str) -> str:
    if value is None:
        return ""
    if column.kind == "money" and currency:
        return format_money(Decimal(value), currency, lang)
    if column.kind in NUMERIC_KINDS and isinstance(value, int | float | Decimal):
        return format_decimal(value, lang)
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return format_date(value, lang, "short" if column.kind == "date" else "medium")
    return str(value)


def _rows_text(table: ReportTable, rows: list[tuple[Any, ...]], lang: str,
               total_label: str | None) -> list[list[str]]:
    currency_at = next((n for n, c in enumerate(table.columns) if c.key == "currency"), None)
    out = []
    for row in rows:
        currency = row[currency_at] if currency_at is not None else None
        cells = [cell_text(value, column, currency, lang)
                 for value, column in zip(row, table.columns, strict=True)]
        if total_label is not None and row[0] is None:
            cells[0] = total_label
        out.append(cells)
    return out


def table_chart(table: ReportTable, lang: str, title: str, rtl: bool) -> Markup | None:
    """The table's chart as SVG: the last series (the total) per category."""
    if table.chart is None:
        return None
    categories = table.column(table.chart.category)
    values = table.column(table.chart.series[-1])
    points = [
        Point(format_date(c, lang, "d") if isinstance(c, date) else str(c), float(v),
              f"{format_date(c, lang) if isinstance(c, date) else c}: {format_decimal(v, lang)}")
        for c, v in zip(categories, values, strict=True)
    ]
    return column_chart(points, title=title, rtl=rtl, width=960,
                        label_every=max(1, len(points) // 10),
                        number=lambda v: format_decimal(round(v), lang))


def present(report: Report, lang: str, *, max_rows: int | None = None,
            charts: bool = True) -> ReportView:
    """The report in ``lang``; ``max_rows`` cuts long tables (the preview), totals stay whole."""
    _ = translations(lang).gettext
    view = ReportView(report.code, _(report.title), period_text(report, lang),
                      warehouse_text(report, lang), [_(note) for note in report.notes],
                      language=lang)
    for table in report.tables:
        shown = table.rows if max_rows is None else table.rows[:max_rows]
        view.tables.append(TableView(
            title=_(table.title),
            headers=[header(c, lang) for c in table.columns],
            numeric=[c.kind in NUMERIC_KINDS for c in table.columns],
            rows=_rows_text(table, shown, lang, None),
            totals=_rows_text(table, table.totals, lang, _("Total")),
            total_rows=len(table.rows),
            chart=table_chart(table, lang, _(table.chart.title), is_rtl(lang))
            if charts and table.chart is not None else None,
            cut_note=_("The first %(shown)s of %(total)s rows; the XLSX file has them all.") % {
                "shown": format_decimal(len(shown), lang),
                "total": format_decimal(len(table.rows), lang),
            } if len(shown) < len(table.rows) else None,
        ))
    return view
