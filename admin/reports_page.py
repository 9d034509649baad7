"""The Reports page (R-REP): choose a report, an interval and a warehouse; read it on the page,
download it as XLSX or PDF. Open to whom the access matrix grants ``reports: list``
(the accountant; the superuser always). The figures come from ``reports.queries`` in the
person's own scope, so a merchant given the page would see only its own.

A download is always a background job (issue 11, ``services.jobs``, kind ``report``): a PDF
of several thousand rows takes WeasyPrint tens of seconds. ``/admin/reports/download`` checks
the form (400 with the reasons, nothing queued), queues the job with the report, interval,
warehouse, format and the reader's language, and answers 303 to the job's page, whose bar
shows the steps done (``reports.report_files.make_report_file``) and which offers the file,
kept a day among the person's Downloads. The job reads the figures as the person when it
runs. The link stays a GET like every download link: it queues work only for the person.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import anyio
from sqladmin import BaseView, expose
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from admin.operations import require_actor, run_in_transaction
from locales import SOLAR_HIJRI, calendar_of, get_language, gettext, lazy_gettext, parse_date
from locales.jalali import month_start, year_start
from reports.queries import REPORTS, Report, ReportParams, run_report
from reports.report_files import make_report_file
from reports.report_view import present
from schema.base import N_, utcnow
from schema.catalog import Warehouse
from schema.jobs import JobKind
from schema.people import Merchant
from services.jobs import register_maker, runner_for, start_job

register_maker(JobKind.REPORT, make_report_file)

PREVIEW_ROWS = 200
FORMATS = ("xlsx", "pdf")
EARLIEST, LATEST = date(1970, 1, 1), date(2999, 12, 31)


@dataclass(frozen=True)
class ReportForm:
    """The form as submitted (or its defaults: this month so far, all warehouses)."""

    report: str
    date_from: date
    date_to: date
    warehouse_id: int | None
    errors: tuple[str, ...] = ()

    def params(self, language: str) -> ReportParams:
        return ReportParams(self.date_from, self.date_to, warehouse_id=self.warehouse_id,
                            language=language)

    def query(self, **extra: str) -> str:
        values = {"report": self.report, "date_from": self.date_from.isoformat(),
                  "date_to": self.date_to.isoformat(),
                  "warehouse": "" if self.warehouse_id is None else str(self.warehouse_id),
                  **extra}
        return str(QueryParams(values))


# The intervals accountants ask for most, each one link on the page (UTC days, both ends
# included, as every report counts them).
PRESETS = (("today", N_("Today")), ("7d", N_("Last 7 days")), ("month", N_("This month")),
           ("last_month", N_("Last month")), ("30d", N_("Last 30 days")),
           ("year", N_("This year")))


def preset_interval(code: str, today: date, solar_hijri: bool = False) -> tuple[date, date]:
    """The first and last day of a preset interval that ends today (last month: all of it).
    Months and years are the reader's: a Persian reader's "this month" starts on the 1st of
    the Solar Hijri month."""
    if code == "today":
        return today, today
    if code in ("7d", "30d"):
        return today - timedelta(days=int(code[:-1]) - 1), today
    if code == "month":
        return month_start(today, solar_hijri), today
    if code == "last_month":
        last = month_start(today, solar_hijri) - timedelta(days=1)
        return month_start(last, solar_hijri), last
    if code == "year":
        return year_start(today, solar_hijri), today
    raise ValueError(code)


def _solar_hijri() -> bool:
    return calendar_of(get_language()) == SOLAR_HIJRI


def read_form(query: QueryParams, today: date) -> ReportForm:
    errors: list[str] = []

    def day(name: str, default: date) -> date:
        raw = (query.get(name) or "").strip()
        if not raw:
            return default
        try:
            # ISO from the picker, or Solar Hijri (any digits) from a Persian reader's input.
            value = parse_date(raw)
        except ValueError:
            errors.append(gettext("Enter the dates as YYYY-MM-DD."))
            return default
        if not EARLIEST <= value <= LATEST:
            errors.append(gettext("Enter dates between 1970 and 2999."))
            return default
        return value

    report = query.get("report") or next(iter(REPORTS))
    if report not in REPORTS:
        errors.append(gettext("Choose a report from the list."))
        report = next(iter(REPORTS))
    date_from = day("date_from", month_start(today, _solar_hijri()))
    date_to = day("date_to", today)
    if date_to < date_from:
        errors.append(gettext("The interval ends before it starts: swap the dates."))
        date_from, date_to = date_to, date_from
    raw_warehouse = (query.get("warehouse") or "").strip()
    warehouse_id = int(raw_warehouse) if raw_warehouse.isdigit() else None
    if raw_warehouse and warehouse_id is None:
        errors.append(gettext("Choose a warehouse from the list."))
    return ReportForm(report, date_from, date_to, warehouse_id, tuple(dict.fromkeys(errors)))


def warehouse_choices(session: Session) -> list[tuple[int, str]]:
    """The warehouses the person may see (scoped), named with their merchant."""
    rows = session.execute(
        select(Warehouse.id, Warehouse.name, Merchant.name)
        .join(Merchant, Merchant.id == Warehouse.merchant_id)
        .order_by(Merchant.name, Warehouse.name)
    ).all()
    return [(wid, f"{merchant} — {name}") for wid, name, merchant in rows]


def _presets(request: Request, form: ReportForm, today: date,
             ) -> list[tuple[str, str, bool]]:
    """(label, link, chosen) per preset: the same report and warehouse over that interval."""
    page = str(request.url_for("admin:view-reports"))
    found = []
    for code, label in PRESETS:
        start, end = preset_interval(code, today, _solar_hijri())
        chosen = (start, end) == (form.date_from, form.date_to)
        found.append((gettext(label), page + "?" + form.query(date_from=start.isoformat(),
                                                              date_to=end.isoformat()), chosen))
    return found


class ReportsView(BaseView):
    name = lazy_gettext("Reports")
    icon = "fa-solid fa-chart-column"
    category = lazy_gettext("Finance")
    identity = "reports"

    async def _run(self, form: ReportForm, language: str) -> tuple[Report, list[Any]]:
        def work(session: Session) -> tuple[Report, list[Any]]:
            return (run_report(session, form.report, form.params(language)),
                    warehouse_choices(session))

        return await run_in_transaction(self._admin_ref.session_maker, work)

    @expose("/reports", methods=["GET"], identity="reports")
    async def page(self, request: Request) -> Response:
        require_actor()
        language = get_language()
        form = read_form(request.query_params, utcnow().date())
        report, warehouses = await self._run(form, language)
        view = await anyio.to_thread.run_sync(
            lambda: present(report, language, max_rows=PREVIEW_ROWS))
        return await self.templates.TemplateResponse(request, "postdesk/reports.html", {
            "title": self.name, "form": form, "report": view, "warehouses": warehouses,
            "reports": [(code, gettext(d.title)) for code, d in REPORTS.items()],
            "preview_rows": PREVIEW_ROWS,
            "presets": _presets(request, form, utcnow().date()),
            "downloads": {fmt: str(request.url_for("admin:view-reports_download"))
                          + "?" + form.query(format=fmt) for fmt in FORMATS},
        })

    @expose("/reports/download", methods=["GET"], identity="reports_download")
    async def download(self, request: Request) -> Response:
        actor = require_actor()
        language = get_language()
        form = read_form(request.query_params, utcnow().date())
        fmt = request.query_params.get("format", "xlsx")
        if fmt not in FORMATS or form.errors:
            return Response(" ".join(form.errors) or gettext("Choose XLSX or PDF."),
                            status_code=400, media_type="text/plain; charset=utf-8")
        title = f"{gettext(REPORTS[form.report].title)} ({fmt.upper()})"
        params = {"report": form.report, "date_from": form.date_from.isoformat(),
                  "date_to": form.date_to.isoformat(), "warehouse_id": form.warehouse_id,
                  "format": fmt, "lang": language}
        factory = self._admin_ref.session_maker

        def queue(session: Session) -> int:
            return start_job(session, actor, kind=JobKind.REPORT, title=title, total=0,
                             params=params).id

        job_id = await run_in_transaction(factory, queue)
        runner_for(factory).wake()
        return RedirectResponse(request.url_for("admin:view-job", pk=job_id), 303)
