"""A report as a file: XLSX through the one spreadsheet writer (with a native Excel chart
where the report has one) and PDF through the one renderer."""

from __future__ import annotations

import io
from typing import Any

from locales import is_rtl, translations
from reports.queries.common import Report, ReportTable
from reports.render import render_pdf
from reports.report_view import present
from reports.spreadsheet import Column, Sheet, SpreadsheetWriter, Table

TEMPLATE = "reports/report.html"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PDF_TYPE = "application/pdf"

# Report column kind -> (spreadsheet kind, number format or None for the writer's default).
_KINDS: dict[str, tuple[Any, str | None]] = {
    "text": ("text", None), "integer": ("integer", None), "money": ("money", None),
    "number": ("number", "0.0"), "percent": ("number", "0.0"), "date": ("date", None),
}


def filename(report: Report, extension: str) -> str:
    params = report.params
    return f"{report.code}_{params.date_from:%Y%m%d}-{params.date_to:%Y%m%d}.{extension}"


def report_xlsx(report: Report, lang: str) -> bytes:
    """One sheet per table: a caption (title, period, warehouse), the translated header, the
    rows as real numbers and dates, then the totals; a chart beside a table that has one."""
    _ = translations(lang).gettext
    view = present(report, lang, charts=False)
    caption = (view.title, view.period, view.warehouse, *view.notes)
    buffer = io.BytesIO()
    with SpreadsheetWriter(buffer, rtl=is_rtl(lang)) as book:
        for table, shown in zip(report.tables, view.tables, strict=True):
            columns = [Column(text, _KINDS[c.kind][0], num_format=_KINDS[c.kind][1])
                       for text, c in zip(shown.headers, table.columns, strict=True)]
            totals = [(_("Total") if row[0] is None else row[0], *row[1:])
                      for row in table.totals]
            written = book.add_table(Sheet(shown.title, columns, [*table.rows, *totals],
                                           caption=caption))
            if table.chart is not None and table.rows and len(written.sheets) == 1:
                _add_chart(book, table, written, _(table.chart.title), rtl=is_rtl(lang))
    return buffer.getvalue()


def _add_chart(book: SpreadsheetWriter, table: ReportTable, written: Table, title: str,
               *, rtl: bool) -> None:
    assert table.chart is not None
    sheet = written.worksheet.get_name()
    first, last = written.first_row, written.first_row + len(table.rows) - 1
    category = table.index(table.chart.category)
    chart = book.workbook.add_chart({"type": table.chart.kind})
    for key in table.chart.series:
        column = table.index(key)
        chart.add_series({
            "name": [sheet, first - 1, column],
            "categories": [sheet, first, category, last, category],
            "values": [sheet, first, column, last, column],
        })
    chart.set_title({"name": title})
    chart.set_x_axis({"reverse": rtl, "num_format": "dd.mm"})
    chart.set_y_axis({"min": 0, "major_gridlines": {"visible": True}})
    chart.set_legend({"position": "bottom"})
    written.worksheet.insert_chart(first - 1, len(table.columns) + 1, chart,
                                   {"x_scale": 1.8, "y_scale": 1.4})


# WeasyPrint lays a table row out in about 10 ms: a PDF stops after this many rows per table
# (it says so) and the XLSX, which has no such cost, holds them all.
PDF_MAX_ROWS = 1000


def report_pdf(report: Report, lang: str, *, max_rows: int = PDF_MAX_ROWS) -> bytes:
    """The report as the reader sees it in the admin, on landscape A4 pages."""
    return render_pdf(TEMPLATE, {"report": present(report, lang, max_rows=max_rows)}, lang)
