"""The order page as a Persian (and an English) reader sees it in Chromium at 1366 px: the Solar
Hijri date with the Gregorian one as its title, totals whose labels sit beside their own
amounts, a phone number drawn in its own order."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from locales import format_money, translations
from schema.orders import Order
from tests.test_browser import (  # noqa: F401 (fixtures)
    _sign_in,
    chromium,
    fill_worked_cart,
    live_server,
)

PHONE = "+375 (29) 606-58-74"
# Eight different amounts, so a label beside the wrong amount cannot pass by coincidence.
TOTALS = {
    "Subtotal": Decimal("1000.00"), "Discounts": Decimal("111.00"),
    "Shipping cost": Decimal("22.00"), "Tax": Decimal("3.00"), "Payable": Decimal("914.00"),
    "Wallet": Decimal("44.00"), "Paid at order time": Decimal("500.00"),
    "Balance due": Decimal("370.00"),
}
FIELDS = {"Subtotal": "subtotal", "Discounts": "discount_total", "Shipping cost": "shipping_cost",
          "Tax": "tax_total", "Payable": "payable", "Wallet": "wallet_amount",
          "Paid at order time": "paid_amount", "Balance due": "balance_due"}
EXPECTED_DATE = {"fa": ("۱۴۰۵/۱/۱", "۲۱ مارس ۲۰۲۶"), "en": ("3/21/26", "Mar 21, 2026")}

# Each label with the amount the eye finds beside it: the value element on the same line that
# is nearest horizontally. Markup that flows labels and amounts as separate cells pairs a label
# with its neighbour's amount once the line is mirrored.
READ_PAIRS = """() => {
  const values = [...document.querySelectorAll('#order-totals [data-total]')];
  return [...document.querySelectorAll('#order-totals th, #order-totals dt')].map(th => {
    const l = th.getBoundingClientRect(), mid = (l.top + l.bottom) / 2;
    let best = null, gap = Infinity;
    for (const v of values) {
      const r = v.getBoundingClientRect();
      if (Math.abs((r.top + r.bottom) / 2 - mid) > 6) continue;
      const d = Math.min(Math.abs(r.left - l.right), Math.abs(l.left - r.right));
      if (d < gap) { gap = d; best = v; }
    }
    return [th.textContent.trim(), best ? best.textContent : null,
            best ? best.getBoundingClientRect().left < l.left : null];
  });
}"""

# The phone's element, and the x of each of its characters as drawn, in text order.
READ_PHONE = """phone => {
  const found = [...document.querySelectorAll('bdi, [dir=ltr]')]
    .find(el => el.textContent === phone);
  if (!found) return null;
  const node = found.firstChild, range = document.createRange(), xs = [];
  for (let i = 0; i < node.length; i++) {
    if (node.data[i] === ' ') continue;
    range.setStart(node, i); range.setEnd(node, i + 1);
    xs.push(range.getBoundingClientRect().left);
  }
  return {tag: found.tagName, dir: found.getAttribute('dir'), xs: xs};
}"""


def _order(make: Any, factory: sessionmaker[Session]) -> int:
    order = make("Order", lines=1, ordered_at=datetime(2026, 3, 21, 9, 5, tzinfo=UTC),
                 recipient_phone=PHONE)
    with factory() as session, session.begin():
        stored = session.get(Order, order.id)
        for label, amount in TOTALS.items():
            setattr(stored, FIELDS[label], amount)
        currency = stored.currency
    return order.id, currency  # type: ignore[return-value]


@pytest.mark.parametrize("lang", ["fa", "en"])
def test_order_page_reads_right_in_persian_and_english(  # type: ignore[no-untyped-def]
    live_server: str, chromium: Any, make_user, make, factory, lang: str  # noqa: F811
) -> None:
    order_id, currency = _order(make, factory)
    page = chromium.new_page(viewport={"width": 1366, "height": 900})
    try:
        _sign_in(page, live_server, make_user("manager", language=lang))
        page.goto(f"{live_server}/admin/orders/details/{order_id}")
        assert page.get_attribute("html", "dir") == ("rtl" if lang == "fa" else "ltr")

        shown, gregorian = EXPECTED_DATE[lang]
        stamp = page.locator("#order-date time")
        assert stamp.inner_text().startswith(shown)
        assert gregorian in stamp.get_attribute("title")  # the other calendar, a hover away
        assert stamp.get_attribute("datetime") == "2026-03-21T09:05:00+00:00"

        gettext = translations(lang).gettext
        expected = {gettext(label): format_money(amount, currency, lang)
                    for label, amount in TOTALS.items()}
        pairs = page.evaluate(READ_PAIRS)
        assert {label: amount for label, amount, _ in pairs} == expected
        # Mirrored in Persian: the amount is on the label's left; in English on its right.
        assert all(left is (lang == "fa") for _, _, left in pairs), pairs

        phone = page.evaluate(READ_PHONE, PHONE)
        assert phone is not None, "the phone is not isolated in a bdi or a dir=ltr element"
        assert phone["tag"] == "BDI" or phone["dir"] == "ltr"
        assert phone["xs"] == sorted(phone["xs"]), "the phone is not drawn left to right"

        shots = os.environ.get("POSTDESK_SCREENSHOTS")
        if shots:  # for looking at the page, not for asserting
            page.screenshot(path=f"{shots}/order-{lang}-1366.png", full_page=True)
            page.set_viewport_size({"width": 390, "height": 844})
            page.screenshot(path=f"{shots}/order-{lang}-390.png", full_page=True)
    finally:
        page.close()


def test_manual_entry_totals_keep_each_amount_beside_its_label_in_persian(  # type: ignore[no-untyped-def]
    live_server: str, chromium: Any, make_user, factory  # noqa: F811
) -> None:
    from schema.catalog import Product
    from tests.test_pricing_services import build_shop

    shop = build_shop(factory)
    with factory() as session:
        big = session.get(Product, shop.big)
        label = f"{big.sku} — {big.name}"
    page = chromium.new_page(viewport={"width": 1366, "height": 900})
    try:
        _sign_in(page, live_server, make_user("manager", language="fa"))
        page.goto(f"{live_server}/admin/orders/new")
        fill_worked_cart(page, shop, label, "fa")
        rows = page.evaluate("""() => [...document.querySelectorAll(
            '[data-preview=totals] dl > dt')].map(dt => {
              const dd = dt.nextElementSibling, l = dt.getBoundingClientRect(),
                    r = dd.getBoundingClientRect();
              return [dt.textContent.trim(), dd.textContent.trim(),
                      Math.abs(r.top - l.top) < 8 && r.right <= l.left + 1];
            })""")
        assert rows and all(beside for _, _, beside in rows), rows
        assert [amount for _, amount, _ in rows][-1] == format_money(Decimal("101500"), "BYN", "fa")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    finally:
        page.close()
