"""Persian readers (R-I18N-2): Solar Hijri dates with the Gregorian one a hover away, codes and
amounts that keep their left-to-right order, Persian and Arabic-Indic digits in number fields."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pypdfium2 as pdfium
import pytest
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from wtforms import Form

from admin.forms import LocalDecimalField, LocalFloatField, LocalIntegerField
from admin.views import _code_formatter, _datetime_label, _money_formatter
from locales import (
    ascii_number,
    datetime_markup,
    format_date,
    format_datetime,
    parse_date,
    set_language,
)
from reports.documents import PrintRequest
from schema.catalog import Product
from schema.orders import OrderLine
from tests.test_documents import has_text, pdf_text, render_doc

NOWRUZ_1405 = date(2026, 3, 21)
PHONE = "+375 (29) 606-58-74"


# --- Solar Hijri dates ---------------------------------------------------------------------


@pytest.mark.parametrize(("day", "expected"), [
    (date(2026, 3, 21), "۱ فروردین ۱۴۰۵"),   # Nowruz: the first day of the year
    (date(2026, 3, 20), "۲۹ اسفند ۱۴۰۴"),    # the last day of 1404 (not a leap year)
    (date(2025, 3, 20), "۳۰ اسفند ۱۴۰۳"),    # 1403 is a leap year: Esfand has 30 days
    (date(2026, 12, 1), "۱۰ آذر ۱۴۰۵"),
    (date(1979, 2, 11), "۲۲ بهمن ۱۳۵۷"),
])
def test_persian_dates_are_solar_hijri(day: date, expected: str) -> None:
    assert format_date(day, "fa") == expected
    assert format_date(day, "fa", "long") == expected


def test_other_languages_and_the_gregorian_reading_stay_gregorian() -> None:
    assert format_date(NOWRUZ_1405, "en") == "Mar 21, 2026"
    assert format_date(NOWRUZ_1405, "ru") == "21 мар. 2026\u202fг."
    assert format_date(NOWRUZ_1405, "fa", calendar="gregorian") == "۲۱ مارس ۲۰۲۶"


def test_persian_date_patterns_follow_the_locale() -> None:
    moment = datetime(2026, 3, 21, 9, 5, tzinfo=UTC)
    assert format_date(NOWRUZ_1405, "fa", "short") == "۱۴۰۵/۱/۱"
    assert format_date(NOWRUZ_1405, "fa", "full") == "شنبه ۱ فروردین ۱۴۰۵"  # a Saturday
    assert format_date(NOWRUZ_1405, "fa", "d") == "۱"  # the dashboard's day axis
    assert format_date(NOWRUZ_1405, "fa", "yyyy/MM/dd") == "۱۴۰۵/۰۱/۰۱"
    assert format_datetime(moment, "fa") == "۱۴۰۵/۱/۱،\u200f ۹:۰۵"
    assert format_datetime(moment, "fa", "medium") == "۱ فروردین ۱۴۰۵،\u200f ۹:۰۵:۰۰"
    # The date of a date-time is the day of the time shown (UTC), not of the local midnight.
    assert format_datetime(datetime(2026, 3, 20, 23, 59, tzinfo=UTC), "fa").startswith(
        "۱۴۰۴/۱۲/۲۹")


def test_a_persian_date_time_in_the_admin_carries_the_gregorian_one_as_its_title() -> None:
    moment = datetime(2026, 3, 21, 9, 5, tzinfo=UTC)
    assert datetime_markup(moment, "fa") == Markup(
        '<time datetime="2026-03-21T09:05:00+00:00" title="۲۱ مارس ۲۰۲۶،\u200f ۹:۰۵:۰۰">'
        "۱۴۰۵/۱/۱،\u200f ۹:۰۵</time>")
    assert datetime_markup(moment, "en") == Markup(
        '<time datetime="2026-03-21T09:05:00+00:00">3/21/26, 9:05\u202fAM</time>')
    set_language("fa")
    try:
        assert "۱۴۰۵/۱/۱" in _datetime_label(moment)  # every list and details page
    finally:
        set_language("en")


@pytest.mark.parametrize("typed", [
    "2026-03-21", "2026/03/21", "1405-01-01", "1405/1/1", "۱۴۰۵/۰۱/۰۱", "١٤٠٥-١-١", "۲۰۲۶-۰۳-۲۱",
])
def test_a_date_is_typed_in_either_calendar_and_any_digits(typed: str) -> None:
    assert parse_date(typed) == NOWRUZ_1405


@pytest.mark.parametrize("typed", ["1405-12-30", "2026-02-30", "21.03.2026", "", "۱۴۰۵"])
def test_a_date_that_is_no_day_is_refused(typed: str) -> None:
    with pytest.raises(ValueError):  # 1405 is not a leap year: Esfand ends on the 29th
        parse_date(typed)


# --- digits in number fields -----------------------------------------------------------------


def test_digits_of_every_script_read_as_ascii() -> None:
    assert ascii_number("۱۲۳") == "123"
    assert ascii_number("١٢٣") == "123"
    assert ascii_number("۱۲٬۳۴۵٫۶۷") == "12345.67"  # Arabic thousands and decimal separators
    assert ascii_number("-12.5") == "-12.5"


class _Data(dict[str, str]):
    """Form data as a browser sends it (wtforms asks for ``getlist``)."""

    def getlist(self, key: str) -> list[str]:
        return [self[key]] if key in self else []


class NumberForm(Form):
    amount = LocalDecimalField(places=None)
    quantity = LocalIntegerField()
    ratio = LocalFloatField()


@pytest.mark.parametrize(("amount", "quantity", "ratio"), [
    ("۱۲۳", "۱۲۳", "۱۲۳"), ("١٢٣", "١٢٣", "١٢٣"), ("123", "123", "123"),
])
def test_number_fields_read_persian_and_arabic_indic_digits(
    amount: str, quantity: str, ratio: str
) -> None:
    form = NumberForm(_Data(amount=amount, quantity=quantity, ratio=ratio))
    assert form.validate(), form.errors
    assert (form.amount.data, form.quantity.data, form.ratio.data) == (Decimal(123), 123, 123.0)


def test_a_decimal_typed_in_persian_stays_exact() -> None:
    form = NumberForm(_Data(amount="۱۲٬۳۴۵٫۶۷۸۹", quantity="٠", ratio="٠٫٥"))
    assert form.validate(), form.errors
    assert form.amount.data == Decimal("12345.6789")  # not a float's 12345.678899999…
    assert str(form.amount.data) == "12345.6789"
    assert (form.quantity.data, form.ratio.data) == (0, 0.5)


def test_number_fields_are_text_boxes_with_a_numeric_keyboard() -> None:
    # A browser's type="number" empties "۱۲۳" before sending it: the field would never see it.
    form = NumberForm()
    assert 'type="text"' in form.amount() and 'type="number"' not in form.quantity()


def test_a_model_form_reads_persian_digits(factory: sessionmaker[Session]) -> None:
    """Through sqladmin's form builder with our converter: a real table's Money and Integer
    columns."""
    import anyio
    from sqladmin.forms import get_model_form

    from admin.forms import PostdeskConverter
    from schema.catalog import Product

    form_class = anyio.run(lambda: get_model_form(
        Product, factory, only=["price", "weight_g"], form_converter=PostdeskConverter))
    form = form_class(_Data(price="۱۲۵٫۵", weight_g="۳۵۰"))
    assert form.validate(), form.errors
    assert form.price.data == Decimal("125.5")
    assert form.weight_g.data == 350
    assert 'inputmode="decimal"' in form.price() and 'dir="ltr"' in form.price()
    assert 'inputmode="numeric"' in form.weight_g()


def test_date_fields_read_a_solar_hijri_date_in_persian_digits(
    factory: sessionmaker[Session]
) -> None:
    """Typed into a form by a Persian reader; what is stored stays Gregorian."""
    import anyio
    from sqladmin.forms import get_model_form

    from admin.forms import PostdeskConverter
    from schema.discounts import Discount
    from schema.lockers import Payout

    discount_form = anyio.run(lambda: get_model_form(
        Discount, factory, only=["expires_at"], form_converter=PostdeskConverter))
    form = discount_form(_Data(expires_at="۱۴۰۵/۰۱/۰۱ ۰۹:۰۵:۰۰"))
    assert form.validate(), form.errors
    assert form.expires_at.data.replace(tzinfo=None) == datetime(2026, 3, 21, 9, 5)
    form = discount_form(_Data(expires_at="2026-03-21 09:05:00"))  # as the picker sends it
    assert form.validate(), form.errors
    assert form.expires_at.data.replace(tzinfo=None) == datetime(2026, 3, 21, 9, 5)
    wrong = discount_form(_Data(expires_at="1405-12-30 09:05:00"))  # 1405 has no Esfand 30
    assert not wrong.validate()
    assert wrong.errors == {"expires_at": ["There is no such day in the Solar Hijri calendar."]}

    payout_form = anyio.run(lambda: get_model_form(
        Payout, factory, only=["period_start"], form_converter=PostdeskConverter))
    form = payout_form(_Data(period_start="١٤٠٥-٠١-٠١"))
    assert form.validate(), form.errors
    assert form.period_start.data == NOWRUZ_1405


# --- isolation in the admin's lists and details ----------------------------------------------


def test_list_formatters_isolate_codes_and_amounts() -> None:
    class Row:
        recipient_phone = PHONE
        payable = Decimal("1234.5")
        currency = "BYN"

    set_language("fa")
    try:
        phone = _code_formatter("recipient_phone")(Row(), None)
        amount = _money_formatter("payable", True)(Row(), None)
    finally:
        set_language("en")
    assert phone == Markup(f'<bdi dir="ltr">{PHONE}</bdi>')
    assert amount.startswith('<bdi dir="ltr">') and "۱٬۲۳۴٫۵" in amount


def test_code_like_columns_get_the_isolating_formatter() -> None:
    from admin.views import build_view
    from schema.catalog import Product
    from schema.orders import Order

    orders = build_view(Order)
    assert {"number", "tracking_number", "recipient_phone"} <= set(orders.column_formatters)
    assert "sku" in build_view(Product).column_formatters
    # A status or an enum keeps its own formatter (badge, translated label).
    assert orders.column_formatters["status"] is not None
    assert "status" in orders.status_columns


# --- documents ---------------------------------------------------------------------------------


def _visual_lines(pdf: bytes) -> list[str]:
    """The first page's characters line by line, left to right as they are *drawn* — the order
    a reader's eye meets them, unlike text extraction, which returns logical runs."""
    document = pdfium.PdfDocument(pdf)
    try:
        text_page = document[0].get_textpage()
        chars = []
        for index in range(text_page.count_chars()):
            char = text_page.get_text_range(index, 1)
            if char.strip():
                left, bottom, _right, top = text_page.get_charbox(index)
                # By the glyph's middle: a comma or a bracket sits lower than a digit.
                chars.append(((bottom + top) / 2, left, char))
    finally:
        document.close()
    lines: list[list[tuple[float, str]]] = []
    last: float | None = None
    for middle, left, char in sorted(chars, key=lambda c: (-c[0], c[1])):
        if last is None or abs(middle - last) > 3:
            lines.append([])
            last = middle
        lines[-1].append((left, char))
    return ["".join(c for _, c in sorted(line)) for line in lines]


def _persian_order(make: Any, factory: sessionmaker[Session]) -> Any:
    merchant = make("Merchant", locale="fa_IR")
    order = make("Order", merchant=merchant, lines=2,
                 ordered_at=datetime(2026, 3, 21, 9, 5, tzinfo=UTC), recipient_phone=PHONE)
    return order


def test_a_persian_invoice_is_dated_in_the_solar_hijri_calendar(  # type: ignore[no-untyped-def]
    make, factory
) -> None:
    order = _persian_order(make, factory)
    pdf = render_doc(factory, "invoice", PrintRequest(ids=(order.id,)), "fa", "a4")
    text = pdf_text(pdf)
    assert has_text(text, "۱ فروردین ۱۴۰۵", "fa"), text[:2000]
    assert "مارس" not in text and "2026" not in text and "۲۰۲۶" not in text
    english = pdf_text(render_doc(factory, "invoice", PrintRequest(ids=(order.id,)), "en", "a4"))
    assert has_text(english, "Mar 21, 2026", "en")


def test_a_persian_document_keeps_phones_skus_and_numbers_left_to_right(  # type: ignore[no-untyped-def]
    make, factory
) -> None:
    order = _persian_order(make, factory)
    pdf = render_doc(factory, "invoice", PrintRequest(ids=(order.id,)), "fa", "a4")
    drawn = "\n".join(_visual_lines(pdf))
    # Left to right as drawn: an isolated phone reads as written, not "74-58-606 (29) 375+".
    assert PHONE.replace(" ", "") in drawn.replace(" ", ""), drawn
    with factory() as session:
        skus = session.scalars(select(Product.sku).join(OrderLine).where(
            OrderLine.order_id == order.id)).all()
    assert skus and all(sku in drawn for sku in skus), drawn
    assert order.number in drawn


# --- the order page over HTTP ------------------------------------------------------------------


def test_persian_order_page_dates_history_and_codes(signed_in, make) -> None:  # type: ignore[no-untyped-def]
    order = make("Order", lines=1, ordered_at=datetime(2026, 3, 21, 9, 5, tzinfo=UTC),
                 recipient_phone=PHONE)
    manager = signed_in("manager", language="fa")
    response = manager.post(f"/admin/orders/{order.id}/status", {
        "field": "status", "to_state": "confirmed", "expected_state": "awaiting_confirmation",
        "effective_date": "2026-03-21",
    }, follow_redirects=False)
    assert response.status_code == 303
    page = manager.get(f"/admin/orders/details/{order.id}").text
    # The order page's header card (issue 11 put the items under it; the status controls
    # moved below the totals).
    header = page.split('id="order-header"', 1)[1].split("</h3>", 1)[0]
    assert f'<bdi dir="ltr" class="text-nowrap">{order.number}</bdi>' in header
    assert 'title="۲۱ مارس ۲۰۲۶،\u200f ۹:۰۵:۰۰">۱۴۰۵/۱/۱،\u200f ۹:۰۵</time>' in header
    history = page.split('id="tab-status-history"', 1)[1].split('id="tab-notes"', 1)[0]
    # The effective date as a Persian reader writes a day (Solar Hijri), the Gregorian a hover
    # away (issue 11 replaced the ISO-like pattern).
    assert 'title="۲۱ مارس ۲۰۲۶">۱ فروردین ۱۴۰۵</time>' in history
    # The details table: the phone through the list/details formatter, isolated.
    assert f'<bdi dir="ltr">{PHONE}</bdi>' in page
    assert "2026-03-21 09:05" not in page and "3/21/26" not in page


# --- date inputs and record titles ----------------------------------------------------------


def _date_field(page: str) -> str:
    import re
    found = re.search(r'<input [^>]*name="effective_date"[^>]*>', page)
    assert found, "the status form has no date"
    return found.group(0)


def test_the_status_forms_date_is_typed_in_solar_hijri(signed_in, make) -> None:  # type: ignore[no-untyped-def]
    order = make("Order", lines=1)
    persian = signed_in("manager", language="fa")
    field = _date_field(persian.get(f"/admin/orders/details/{order.id}?lang=fa").text)
    assert 'type="text"' in field and 'data-calendar="persian"' in field
    assert 'placeholder="۱۴' in field  # today, as a Persian reader writes it
    response = persian.post(f"/admin/orders/{order.id}/status", {
        "field": "status", "to_state": "confirmed", "expected_state": "awaiting_confirmation",
        "effective_date": "۱۴۰۵/۰۱/۰۱",
    }, follow_redirects=False)
    assert response.status_code == 303
    english = signed_in("manager").get(f"/admin/orders/details/{order.id}?lang=en").text
    assert 'type="date"' in _date_field(english)
    assert "2026-03-21" in english.split('id="tab-status-history"', 1)[1]  # stored Gregorian


def test_a_details_page_is_titled_by_its_record(signed_in, make) -> None:  # type: ignore[no-untyped-def]
    customer = make("Customer", name="Darya Karimi")
    page = signed_in("superuser").get(f"/admin/customers/details/{customer.id}?lang=fa").text
    assert "<h3 class=\"card-title\" data-record-title><bdi>Darya Karimi</bdi></h3>" in page
    assert "Id: " not in page and f": {customer.id}</h3>" not in page


def test_a_persian_reader_types_a_date_field_in_solar_hijri_on_any_form(  # type: ignore[no-untyped-def]
        signed_in, factory) -> None:
    """A generated form's date field (a courier's date of birth): no Gregorian picker for a
    Persian reader, a Jalali hint, and the Jalali day typed is stored as its Gregorian day."""
    import re

    from sqlalchemy import select

    from schema.couriers import Courier
    from tests.conftest import form_fields

    browser = signed_in("superuser", language="fa")
    page = browser.get("/admin/couriers/create").text
    field = re.search(r'<input[^>]*name="birth_date"[^>]*>', page)
    assert field and 'data-role="text"' in field.group(0), field
    assert re.search(r'placeholder="[۰-۹]{4}/[۰-۹]{2}/[۰-۹]{2}"', field.group(0)), field.group(0)
    form = form_fields(page) | {"full_name": "Jalali courier", "mobile": "+989121234567",
                                "birth_date": "۱۳۷۰/۰۱/۰۱", "csrf_token": browser.token}
    response = browser.post("/admin/couriers/create", form, follow_redirects=False)
    assert response.status_code == 302, response.text[-1500:]
    with factory() as session:
        courier = session.scalars(
            select(Courier).where(Courier.full_name == "Jalali courier")).one()
    assert courier.birth_date == date(1991, 3, 21)
    edit = browser.get(f"/admin/couriers/edit/{courier.id}").text
    field = re.search(r'<input[^>]*name="birth_date"[^>]*>', edit)
    assert field and 'value="۱۳۷۰/۰۱/۰۱"' in field.group(0), field
