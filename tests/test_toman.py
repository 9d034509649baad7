"""The toman, a display option of the rial (setting ``rial_display``: rial or toman).

1 toman = 10 rials. Stored amounts stay rials; written amounts (pages, PDFs) follow the setting
exactly — whole tomans without decimals, a rial amount not divisible by 10 with its one decimal
— while exports keep the stored rials beside a currency column.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from locales import (
    format_money,
    rial_display,
    set_rial_display,
    to_toman,
    translations,
)
from schema.orders import Order
from schema.people import Setting
from seed.demo import factories as f
from services.money_display import SETTING, read_rial_display

D = Decimal
FA_TOMAN = translations("fa").gettext("toman")
RU_TOMAN = translations("ru").gettext("toman")


@pytest.mark.parametrize(("rials", "tomans"), [
    (D(12340), D(1234)), (D(12345), D("1234.5")), (D(5), D("0.5")), (D(0), D(0)),
    (D(-25), D("-2.5")), (D("123456789012345"), D("12345678901234.5")),
    (D("10.5"), D("1.05")),  # never rounded, should a rial amount carry a fraction
])
def test_toman_is_exactly_a_tenth(rials: Decimal, tomans: Decimal) -> None:
    assert to_toman(rials) == tomans
    assert str(to_toman(rials)) == str(tomans)


def test_money_written_in_tomans_in_every_language() -> None:
    assert format_money(D(1234567), "IRR", "en", display="toman") == "toman\xa0123,456.7"
    assert format_money(D(1234560), "IRR", "en", display="toman") == "toman\xa0123,456"
    assert format_money(D(1234567), "IRR", "ru", display="toman") == (
        f"123\xa0456,7\xa0{RU_TOMAN}")
    # Persian: Persian digits and separators, the label where Persian writes the currency.
    assert format_money(D(1234567), "IRR", "fa", display="toman") == (
        f"\u200e{FA_TOMAN}\xa0۱۲۳٬۴۵۶٫۷")
    assert format_money(D(-25), "IRR", "en", display="toman") == "-toman\xa02.5"


def test_rials_stay_rials_and_other_currencies_never_change() -> None:
    assert format_money(D(1234567), "IRR", "en", display="rial") == "IRR1,234,567"
    assert format_money(D("12.5"), "BYN", "en", display="toman") == "BYN12.50"
    assert format_money(D(1234567), "IRR", "fa", display="rial") == "\u200eریال\xa0۱٬۲۳۴٬۵۶۷"


def test_the_context_decides_when_no_display_is_given() -> None:
    try:
        set_rial_display("toman")
        assert format_money(D(50), "IRR", "en") == "toman\xa05"
        set_rial_display(lambda: "toman")  # read lazily, once
        assert rial_display() == "toman"
        set_rial_display("tomans")  # a mistyped value reads as rials
        assert format_money(D(50), "IRR", "en") == "IRR50"
    finally:
        set_rial_display(None)
    assert format_money(D(50), "IRR", "en") == "IRR50"


@pytest.fixture
def toman(factory: sessionmaker[Session]) -> Iterator[None]:
    _set(factory, "toman")
    yield
    _set(factory, "rial")


def _set(factory: sessionmaker[Session], value: str) -> None:
    with factory() as s, s.begin():
        s.scalars(select(Setting).where(Setting.key == SETTING)).one().value = value


def _irr_order(factory: sessionmaker[Session]) -> Order:
    with factory() as s, f.using_session(s):
        merchant = f.MerchantFactory(currency="IRR")
        order = f.OrderFactory(merchant=merchant, lines=1)
        order.payable = D(1234567)
        order.balance_due = D(1234567)
        s.commit()
        s.refresh(order)
        s.expunge(order)
        return order


def test_setting_is_seeded_as_rial(factory: sessionmaker[Session]) -> None:
    with factory() as s:
        assert read_rial_display(s) == "rial"


def test_pages_follow_the_setting(factory: sessionmaker[Session], signed_in, toman: None,  # type: ignore[no-untyped-def]
                                  ) -> None:
    order = _irr_order(factory)
    browser = signed_in("superuser")
    page = browser.get(f"/admin/orders/details/{order.id}?lang=en")
    assert page.status_code == 200
    assert "toman\xa0123,456.7" in page.text and "IRR1,234,567" not in page.text
    page = browser.get(f"/admin/orders/details/{order.id}?lang=fa")
    assert f"{FA_TOMAN}\xa0۱۲۳٬۴۵۶٫۷" in page.text
    _set(factory, "rial")  # the next page reads the change
    page = browser.get(f"/admin/orders/details/{order.id}?lang=en")
    assert "IRR1,234,567" in page.text and "toman\xa0" not in page.text


def test_exports_keep_rials(factory: sessionmaker[Session], signed_in, toman: None,  # type: ignore[no-untyped-def]
                            ) -> None:
    order = _irr_order(factory)
    browser = signed_in("superuser")
    response = browser.get(f"/admin/orders/exports/csv?search={order.number}&lang=en")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    row = next(r for r in rows if order.number in r.values())
    numbers = set()
    for value in row.values():
        try:
            numbers.add(Decimal(value))
        except ArithmeticError:
            continue
    assert D(1234567) in numbers and D("123456.7") not in numbers  # rials, as stored
    assert "IRR" in row.values() and not any("toman" in v for v in row.values())


def test_a_printed_invoice_follows_the_setting(factory: sessionmaker[Session], signed_in,  # type: ignore[no-untyped-def]
                                               toman: None) -> None:
    from tests.test_documents import pdf_text

    order = _irr_order(factory)
    manager = signed_in("superuser")
    response = manager.get(f"/admin/print/order/{order.id}",
                           params={"document": "invoice", "language": "en"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    text = pdf_text(response.content)
    assert "toman 123,456.7" in text.replace("\xa0", " ") and "IRR1,234,567" not in text
