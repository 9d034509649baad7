"""The Reports page as the accountant uses it: the form and its preview, XLSX and PDF downloads
read back and compared with the query, who may open it, and a merchant's scope."""

from __future__ import annotations

import io
import zipfile
from datetime import date
from decimal import Decimal
from urllib.parse import unquote

import openpyxl
import pytest
from pypdf import PdfReader
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from locales import format_date, format_money
from reports.queries import REPORTS, ReportParams, run_report
from reports.report_files import report_pdf
from schema.people import Permission, Role, RoleCode
from tests.report_shop import Shop, build_shop
from tests.test_jobs import download_through_job

D = Decimal


@pytest.fixture(autouse=True)
def jobs_dir(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("POSTDESK_JOBS_DIR", str(tmp_path / "jobs"))
    return tmp_path / "jobs"


@pytest.fixture(scope="module")
def shop(factory: sessionmaker[Session]) -> Shop:
    return build_shop(factory, 2005)


def march(shop: Shop, **extra: object) -> str:
    start, end = shop.march
    query = {"date_from": start.isoformat(), "date_to": end.isoformat(), **extra}
    return "&".join(f"{k}={v}" for k, v in query.items())


def test_accountant_opens_the_page_with_this_month_by_default(signed_in) -> None:  # type: ignore[no-untyped-def]
    accountant = signed_in("accountant")
    start_page = accountant.get("/admin/").text
    assert "/admin/reports" in start_page  # offered in the menu and on the start page
    page = accountant.get("/admin/reports")
    assert page.status_code == 200
    today = date.today()
    assert f'value="{today.replace(day=1).isoformat()}"' in page.text
    assert f'value="{today.isoformat()}"' in page.text
    for code in REPORTS:
        assert f'value="{code}"' in page.text
    assert 'data-report="orders_by_status"' in page.text


def test_preview_shows_the_figures_of_the_interval_and_warehouse(signed_in, shop) -> None:  # type: ignore[no-untyped-def]
    accountant = signed_in("accountant")
    page = accountant.get(f"/admin/reports?report=goods_sold&{march(shop)}"
                          f"&warehouse={shop.wa2.id}").text
    table = page.split('data-report-table="0"', 1)[1].split("</table>", 1)[0]
    assert shop.pa2.sku in table and shop.pa1.sku not in table
    assert format_money(D("15"), "BYN", "en") in table
    assert f'<option value="{shop.wa2.id}" selected>' in page
    assert "data-download=\"xlsx\"" in page and f"warehouse={shop.wa2.id}" in page


def test_dates_are_shown_in_the_readers_language(signed_in, shop) -> None:  # type: ignore[no-untyped-def]
    page = signed_in("accountant", language="ru").get(
        f"/admin/reports?{march(shop)}&lang=ru").text
    period = page.split("data-report-period>", 1)[1].split("<", 1)[0]
    assert format_date(shop.march[0], "ru") in period
    assert format_date(shop.march[1], "ru") in period
    persian = signed_in("accountant", language="fa").get(
        f"/admin/reports?{march(shop)}&lang=fa").text
    assert format_date(shop.march[0], "fa") in persian and 'dir="rtl"' in persian


@pytest.mark.parametrize("role", ["courier", "merchant", "manager", "marketer"])
def test_roles_without_the_grant_are_refused(signed_in, factory, role) -> None:  # type: ignore[no-untyped-def]
    kwargs = {}
    if role == "merchant":
        with factory() as session:
            from schema.people import Merchant

            kwargs["merchant_id"] = session.scalar(select(Merchant.id).limit(1))
    browser = signed_in(role, **kwargs)
    assert browser.get("/admin/reports").status_code == 403
    assert browser.get("/admin/reports/download?format=xlsx").status_code == 403
    assert "/admin/reports" not in browser.get("/admin/").text


def test_signed_out_visitors_go_to_the_login(browser) -> None:  # type: ignore[no-untyped-def]
    response = browser.get("/admin/reports", follow_redirects=False)
    assert response.status_code == 302 and "/admin/login" in response.headers["location"]


def test_bad_input_is_explained_and_downloads_refuse_it(signed_in, shop) -> None:  # type: ignore[no-untyped-def]
    accountant = signed_in("accountant")
    page = accountant.get("/admin/reports?date_from=31.03.2005&report=nonsense")
    assert page.status_code == 200
    assert "YYYY-MM-DD" in page.text and "data-report-error" in page.text
    swapped = accountant.get(f"/admin/reports?date_from={shop.year}-03-31"
                             f"&date_to={shop.year}-03-01").text
    assert "swap the dates" in swapped
    assert accountant.get("/admin/reports/download?format=docx").status_code == 400
    assert accountant.get("/admin/reports/download?format=xlsx&date_to=x").status_code == 400


def _sheet_rows(sheet) -> list[tuple]:  # type: ignore[no-untyped-def]
    return [tuple(cell for cell in row) for row in sheet.iter_rows(values_only=True)]


def _same(cell: object, value: object) -> bool:
    if isinstance(value, Decimal):
        return cell is not None and D(str(cell)) == value
    if isinstance(value, date):
        return cell is not None and cell.date() == value  # type: ignore[attr-defined]
    return cell == value


def test_xlsx_holds_the_query_with_its_totals_and_a_chart(signed_in, shop, factory) -> None:  # type: ignore[no-untyped-def]
    accountant = signed_in("accountant")
    response = download_through_job(
        accountant, f"/admin/reports/download?report=orders_by_status&format=xlsx"
                    f"&{march(shop)}&warehouse=")
    assert response.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    start, end = shop.march
    # Named in the reader's language: the report's title and its interval.
    assert unquote(response.headers["content-disposition"]).endswith(
        f"utf-8''Orders by status {start.isoformat()} — {end.isoformat()}.xlsx")
    with factory() as session:
        report = run_report(session, "orders_by_status", ReportParams(start, end))
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    status_sheet, day_sheet = book.worksheets
    rows = _sheet_rows(status_sheet)
    assert rows[0][0] == "Orders by status" and rows[2][0] == "All warehouses"
    header_at = 3
    assert list(rows[header_at]) == [c.label for c in report.tables[0].columns]
    data = rows[header_at + 1:]
    table = report.tables[0]
    assert len(data) == len(table.rows) + len(table.totals)
    for cells, values in zip(data, [*table.rows, *table.totals], strict=True):
        expected = ("Total" if values[0] is None else values[0], *values[1:])
        assert all(_same(c, v) for c, v in zip(cells, expected, strict=True)), (cells, values)
    byn_total = next(r for r in data if r[0] == "Total" and r[1] == "BYN")
    assert D(str(byn_total[-1])) == D("82")  # merchant A's March, exactly

    per_day = report.tables[1]
    day_rows = _sheet_rows(day_sheet)[header_at + 1:]
    assert [r[0].date() for r in day_rows[:len(per_day.rows)]] == [r[0] for r in per_day.rows]
    assert [r[-1] for r in day_rows[:len(per_day.rows)]] == per_day.column("total")
    assert day_sheet._charts, "the per-day sheet carries a chart"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        chart = archive.read("xl/charts/chart1.xml").decode()
    assert "lineChart" in chart and f"$A${header_at + 2}:$A${header_at + 1 + 31}" in chart


def test_xlsx_in_persian_is_right_to_left(signed_in, shop) -> None:  # type: ignore[no-untyped-def]
    accountant = signed_in("accountant", language="fa")
    response = download_through_job(
        accountant, f"/admin/reports/download?report=customers&format=xlsx&{march(shop)}&lang=fa")
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.worksheets[0].sheet_view.rightToLeft


def _pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_pdf_holds_the_title_and_the_totals(signed_in, shop) -> None:  # type: ignore[no-untyped-def]
    accountant = signed_in("accountant")
    response = download_through_job(
        accountant, f"/admin/reports/download?report=courier_performance&format=pdf"
                    f"&{march(shop)}")
    assert response.headers["content-type"] == "application/pdf"
    text = _pdf_text(response.content)
    assert "Courier performance" in text
    assert shop.courier_1.full_name in text
    assert format_money(D("300"), "RUB", "en") in text  # Kurt's cash in March
    statuses = _pdf_text(download_through_job(
        accountant, f"/admin/reports/download?report=orders_by_status&format=pdf"
                    f"&{march(shop)}").content)
    assert "Orders by status" in statuses and "Orders per day" in statuses
    totals = statuses.split("Orders per day", 1)[0].rsplit("Returned", 1)[1]
    assert "Total" in totals
    assert format_money(D("82"), "BYN", "en") in totals  # no single row holds this sum
    assert format_money(D("400"), "RUB", "en") in totals


def test_pdf_of_a_merchant_balance_in_every_language(factory, shop) -> None:  # type: ignore[no-untyped-def]
    start, end = shop.march
    with factory() as session:
        for lang in ("en", "ru", "fa"):
            report = run_report(session, "merchant_balances",
                                ReportParams(start, end, merchant_id=shop.merchant_a.id,
                                             language=lang))
            text = _pdf_text(report_pdf(report, lang))
            assert shop.merchant_a.name in text, lang
            if lang != "fa":  # pypdf reads Persian shaping back unreliably; figures are Latin
                assert format_money(D("100.15"), "BYN", lang).replace("\xa0", " ") in \
                    text.replace("\xa0", " "), lang


def test_pdf_says_when_it_holds_only_the_first_rows(factory, shop) -> None:  # type: ignore[no-untyped-def]
    start, end = shop.march
    with factory() as session:
        report = run_report(session, "orders_by_status", ReportParams(start, end))
    text = _pdf_text(report_pdf(report, "en", max_rows=3))
    assert "The first 3 of" in text and "the XLSX file has them all" in text


def test_a_merchant_given_the_page_sees_only_its_own_figures(signed_in, shop, factory) -> None:  # type: ignore[no-untyped-def]
    with factory() as session, session.begin():
        role_id = session.scalar(select(Role.id).where(Role.code == RoleCode.MERCHANT))
        session.add(Permission(role_id=role_id, table_name="reports", action="list"))
    try:
        browser = signed_in("merchant", merchant_id=shop.merchant_a.id)
        for code in REPORTS:
            page = browser.get(f"/admin/reports?report={code}&{march(shop)}").text
            assert shop.merchant_b.name not in page and shop.cb1.name not in page, code
            assert shop.pb1.sku not in page and shop.wb.name not in page, code
            assert "RUB" not in page.split('id="report-preview"', 1)[1], code
        page = browser.get(f"/admin/reports?report=orders_by_status&{march(shop)}").text
        assert format_money(D("82"), "BYN", "en") in page
        # Another merchant's warehouse id gives nothing away either.
        other = browser.get(f"/admin/reports?report=goods_sold&{march(shop)}"
                            f"&warehouse={shop.wb.id}").text
        assert shop.pb1.sku not in other and shop.wb.name not in other
        xlsx = download_through_job(
            browser, f"/admin/reports/download?report=customers&format=xlsx&{march(shop)}")
        cells = {c for row in openpyxl.load_workbook(io.BytesIO(xlsx.content)).worksheets[0]
                 .iter_rows(values_only=True) for c in row}
        assert shop.ca1.name in cells and shop.cb1.name not in cells and "RUB" not in cells
    finally:
        with factory() as session, session.begin():
            session.execute(delete(Permission).where(Permission.role_id == role_id,
                                                     Permission.table_name == "reports"))


@pytest.mark.parametrize(("code", "today", "expected"), [
    ("today", date(2026, 3, 15), (date(2026, 3, 15), date(2026, 3, 15))),
    ("7d", date(2026, 3, 15), (date(2026, 3, 9), date(2026, 3, 15))),
    ("30d", date(2026, 3, 15), (date(2026, 2, 14), date(2026, 3, 15))),
    ("month", date(2026, 3, 15), (date(2026, 3, 1), date(2026, 3, 15))),
    ("last_month", date(2026, 3, 15), (date(2026, 2, 1), date(2026, 2, 28))),
    ("last_month", date(2026, 1, 3), (date(2025, 12, 1), date(2025, 12, 31))),
    ("year", date(2026, 3, 15), (date(2026, 1, 1), date(2026, 3, 15))),
])
def test_interval_presets(code: str, today: date, expected: tuple[date, date]) -> None:
    from admin.reports_page import preset_interval

    assert preset_interval(code, today) == expected


@pytest.mark.parametrize(("code", "today", "expected"), [
    # 2026-12-01 is 10 Azar 1405; Azar began on 22 November, Aban on 23 October.
    ("month", date(2026, 12, 1), (date(2026, 11, 22), date(2026, 12, 1))),
    ("last_month", date(2026, 12, 1), (date(2026, 10, 23), date(2026, 11, 21))),
    # Nowruz 1405 was 21 March 2026; on 20 March the Solar Hijri year was still 1404.
    ("year", date(2026, 12, 1), (date(2026, 3, 21), date(2026, 12, 1))),
    ("year", date(2026, 3, 20), (date(2025, 3, 21), date(2026, 3, 20))),
])
def test_persian_readers_months_and_years_are_solar_hijri(
        code: str, today: date, expected: tuple[date, date]) -> None:
    from admin.reports_page import preset_interval

    assert preset_interval(code, today, solar_hijri=True) == expected


def test_the_page_offers_the_presets_for_the_same_report(signed_in) -> None:  # type: ignore[no-untyped-def]
    import re

    from schema.base import utcnow

    today = utcnow().date()
    page = signed_in("accountant").get("/admin/reports?report=goods_sold&date_from=2020-01-01"
                                        "&date_to=2020-01-31").text
    presets = page[page.index("data-report-presets"):]
    presets = presets[:presets.index("</nav>")]
    by_label = {label: href.replace("&amp;", "&")
                for href, label in re.findall(r'href="([^"]*)"[^>]*>([^<]+)</a>', presets)}
    assert f"date_from={today.isoformat()}&date_to={today.isoformat()}" in by_label["Today"]
    assert "report=goods_sold" in by_label["Last 7 days"]
    assert f"date_from={today.replace(day=1).isoformat()}" in by_label["This month"]


def test_persian_readers_type_the_interval_in_solar_hijri(signed_in, shop) -> None:  # type: ignore[no-untyped-def]
    """No Gregorian picker saying mm/dd/yyyy: a text input prefilled and hinted in Jalali,
    read in either calendar; en/ru keep the browser's picker."""
    from admin.date_inputs import date_input_text

    persian = signed_in("accountant", language="fa")
    start, end = shop.march
    page = persian.get("/admin/reports?report=goods_sold&date_from=۱۳۸۳/۱۲/۱۱"
                       f"&date_to={date_input_text(end, 'fa')}&lang=fa").text
    inputs = page.split('id="report-form"', 1)[1].split("</form>", 1)[0]
    assert 'type="date"' not in inputs and inputs.count('data-calendar="persian"') == 2
    assert 'value="۱۳۸۳/۱۲/۱۱"' in inputs  # 2005-03-01, read back as typed
    assert f'value="{date_input_text(end, "fa")}"' in inputs
    assert date_input_text(start, "fa") == "۱۳۸۳/۱۲/۱۱" and start == date(2005, 3, 1)
    table = page.split('data-report-table="0"', 1)[1].split("</table>", 1)[0]
    assert shop.pa1.sku in table  # the March figures, as for the ISO interval
    english = signed_in("accountant").get(f"/admin/reports?{march(shop)}&lang=en").text
    form = english.split('id="report-form"', 1)[1].split("</form>", 1)[0]
    assert form.count('type="date"') == 2 and f'value="{start.isoformat()}"' in form
