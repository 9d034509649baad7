"""A report as a file: XLSX through the one spreadsheet writer (with a native Excel chart
where the report has one) and PDF through the one renderer.

As a background job (``make_report_file``, the ``report`` kind's maker in ``services.jobs``,
registered by admin.reports_page): the figures are read as the person who asked (``acting_as``
them, so a merchant's report holds only its own figures), then the file is written. Progress
counts steps: reading the figures is the first; an XLSX then has one step per table (sheet)
written, a PDF one for its layout (in a worker process, ``reports.batch.render_in_pool``) and
one for the file saved. The file is named by the report's title and interval in the person's
language and calendar (``services.jobs.file_name``): ``Заказы по статусам 2026-03-01 —
2026-03-31.pdf``.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from locales import is_rtl, translations
from reports.queries import ReportParams, run_report
from reports.queries.common import Report, ReportTable
from reports.render import render_pdf
from reports.report_view import present
from reports.spreadsheet import Column, Sheet, SpreadsheetWriter, Table
from services.actor import acting_as
from services.jobs import Work, day_text, safe_file_name

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


def report_xlsx(report: Report, lang: str,
                progress: Callable[[int], None] | None = None) -> bytes:
    """One sheet per table: a caption (title, period, warehouse), the translated header, the
    rows as real numbers and dates, then the totals; a chart beside a table that has one.
    ``progress`` hears the number of tables written after each."""
    _ = translations(lang).gettext
    view = present(report, lang, charts=False)
    caption = (view.title, view.period, view.warehouse, *view.notes)
    buffer = io.BytesIO()
    with SpreadsheetWriter(buffer, rtl=is_rtl(lang)) as book:
        for number, (table, shown) in enumerate(zip(report.tables, view.tables, strict=True),
                                                start=1):
            columns = [Column(text, _KINDS[c.kind][0], num_format=_KINDS[c.kind][1])
                       for text, c in zip(shown.headers, table.columns, strict=True)]
            totals = [(_("Total") if row[0] is None else row[0], *row[1:])
                      for row in table.totals]
            written = book.add_table(Sheet(shown.title, columns, [*table.rows, *totals],
                                           caption=caption))
            if table.chart is not None and table.rows and len(written.sheets) == 1:
                _add_chart(book, table, written, _(table.chart.title), rtl=is_rtl(lang))
            if progress is not None:
                progress(number)
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


def report_file_name(report: Report, extension: str, lang: str) -> str:
    """The report's title and interval in ``lang`` (dates in its calendar), filesystem-safe."""
    params = report.params
    start, end = day_text(params.date_from, lang), day_text(params.date_to, lang)
    period = start if start == end else f"{start} — {end}"
    return safe_file_name(f"{translations(lang).gettext(report.title)} {period}", extension)


def make_report_file(work: Work, path: Path) -> str:
    """A report job (``services.jobs.Work``): read as the person, written as XLSX or PDF."""
    from reports.batch import render_in_pool  # the process pool's imports, only when needed

    params, lang = work.params, work.lang
    fmt = str(params["format"])
    warehouse = params.get("warehouse_id")
    with work.factory() as session, session.begin(), acting_as(work.actor):
        report = run_report(session, str(params["report"]), ReportParams(
            date.fromisoformat(params["date_from"]), date.fromisoformat(params["date_to"]),
            warehouse_id=int(warehouse) if warehouse is not None else None, language=lang))
    if fmt == "xlsx":
        work.set_total(1 + len(report.tables))
        work.progress(1)
        content = report_xlsx(report, lang, progress=lambda tables: work.progress(1 + tables))
    else:
        work.set_total(3)
        work.progress(1)
        view = present(report, lang, max_rows=PDF_MAX_ROWS)
        content = render_in_pool(TEMPLATE, {"report": view}, lang)
        work.progress(2)
    path.write_bytes(content)
    return report_file_name(report, fmt, lang)
