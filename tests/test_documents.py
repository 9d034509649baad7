"""Every printable document, in every language, read back from its PDF: key texts and amounts
formatted for the language and currency, scannable barcodes, page counts, shipped fonts only."""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pypdfium2 as pdfium
import pytest
from pypdf import PdfReader
from pyzbar.pyzbar import decode
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from locales import LANGUAGES, format_money, translations
from reports import batch, render
from reports.codes import code128_pattern, qr_png
from reports.documents import DOCUMENTS, DocumentNotFound, PrintRequest, prepare
from schema.customers import CustomerKind
from schema.invoices import Invoice
from schema.lockers import CashCollection, LedgerKind, Payout, PayoutStatus
from schema.orders import Order
from schema.payments import PaymentMethodKind
from schema.people import User
from schema.workflows import StatusChange
from services import ledger
from services.errors import Refused

CURRENCY = {"en": "BYN", "ru": "RUB", "fa": "IRR"}
LOCALE = {"en": "en_US", "ru": "ru_RU", "fa": "fa_IR"}
# Direction marks, and the zero-width (non-)joiners Persian spelling uses: they shape the
# glyphs around them but are no glyphs themselves, so a PDF's text never holds them.
BIDI = dict.fromkeys(map(ord, "\u200e\u200f\u202a\u202b\u202c\u061c\u200c\u200d"), None)
NUMBER = re.compile(r"[0-9۰-۹][0-9۰-۹٬٫,.\u00a0\u202f]*")


# --- reading PDFs back ---------------------------------------------------------------------


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def page_count(pdf: bytes) -> int:
    return len(PdfReader(io.BytesIO(pdf)).pages)


def _squash(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(BIDI)
    return re.sub(r"\s+", "", text)


def _digits(text: str) -> str:
    return re.sub(r"[^0-9۰-۹]", "", text)


def has_text(pdf_text_: str, expected: str, lang: str) -> bool:
    """Is ``expected`` printed? Right-to-left text comes out of a PDF in visual order (runs of
    digits reversed, words reordered), so for Persian every word and every number (either way
    round) must be there."""
    text = _squash(pdf_text_)
    if _squash(expected) in text:
        return True
    if lang != "fa":
        return False
    # A neighbouring cell's digits may run into a number: look for it inside each run.
    runs = [_digits(n) for n in NUMBER.findall(pdf_text_)]
    runs += [run[::-1] for run in runs]
    words = NUMBER.sub(" ", unicodedata.normalize("NFKC", expected).translate(BIDI)).split()
    return (all(_squash(w) in text for w in words)
            and all(any(_digits(n) in run for run in runs) for n in NUMBER.findall(expected)))


def assert_texts(pdf: bytes, lang: str, *expected: str) -> None:
    text = pdf_text(pdf)
    missing = [e for e in expected if not has_text(text, e, lang)]
    assert not missing, f"{lang}: {missing} not found in:\n{text[:3000]}"


def tr(lang: str, message: str, **params: Any) -> str:
    text = translations(lang).gettext(message)
    return text % params if params else text


def money(amount: Decimal, currency: str, lang: str) -> str:
    return format_money(amount, currency, lang)


def scan(pdf: bytes, page: int = 0, scale: float = 3) -> list[tuple[str, str]]:
    document = pdfium.PdfDocument(pdf)
    try:
        bitmap = document[page].render(scale=scale)
        return [(r.type, r.data.decode()) for r in decode(bitmap.to_pil())]
    finally:
        document.close()


def font_names(pdf: bytes) -> set[str]:
    names = set()
    for page in PdfReader(io.BytesIO(pdf)).pages:
        fonts = page["/Resources"].get_object().get("/Font") or {}
        for ref in fonts.values():
            names.add(str(ref.get_object()["/BaseFont"]).split("+", 1)[-1])
    return names


def render_doc(factory: sessionmaker[Session], code: str, request: PrintRequest, lang: str,
               layout: str | None = None) -> bytes:
    with factory() as session:
        job = prepare(session, code, layout, request, lang)
    return batch.render_job(job)


# --- the shop's data -------------------------------------------------------------------------


@dataclass
class Shop:
    order: Order
    legal: Order
    others: list[Order]
    courier_id: int
    cash_id: int
    payout_id: int
    merchant_id: int
    currency: str
    opening: Decimal
    closing: Decimal
    statement_entry: Decimal


def _shop(make: Any, factory: sessionmaker[Session], make_user: Any, lang: str) -> Shop:
    merchant = make("Merchant", locale=LOCALE[lang])
    courier = make("Courier", locale=LOCALE[lang])
    order = make("Order", merchant=merchant, lines=3, tracking_number=f"TRK{merchant.id:07d}A",
                 courier_id=courier.id, courier_status="on_the_way",
                 shipping_cost=Decimal(0), customer__locale=LOCALE[lang])
    legal = make("Order", merchant=merchant, lines=2, customer_kind=CustomerKind.LEGAL,
                 buyer_tax_id=f"TAX-{merchant.id:06d}")
    others = [make("Order", merchant=merchant, lines=1, tracking_number=f"LBL{merchant.id}-{i}")
              for i in range(3)]
    collector = make_user("cash_collector")
    locker = make("Locker")
    now = datetime.now(UTC)
    with factory() as session, session.begin():
        stored = session.get(Order, order.id)
        stored.shipping_cost = Decimal(7 if merchant.currency != "IRR" else 70000)
        stored.payable = stored.subtotal + stored.shipping_cost
        stored.balance_due = stored.payable
        order.payable, order.shipping_cost = stored.payable, stored.shipping_cost
        order.balance_due = stored.balance_due
        session.add(Invoice(order_id=order.id, merchant_id=merchant.id,
                            number=f"INV-{order.id:06d}", amount=stored.payable,
                            currency=merchant.currency, issued_at=now))
        collector_id = session.scalar(select(User.id).where(User.username == collector))
        cash = CashCollection(locker_id=locker.id, collector_id=collector_id, collected_at=now,
                              amount=Decimal("1234.50"), currency=merchant.currency,
                              note="bag 17")
        session.add(cash)
        payout = Payout(merchant_id=merchant.id, period_start=date(2026, 11, 2),
                        period_end=date(2026, 11, 8), amount=Decimal("985.00"),
                        fee=Decimal("15.00"), currency=merchant.currency,
                        status=PayoutStatus.APPROVED)
        session.add(payout)
        session.flush()
        old = now - timedelta(days=40)
        ledger.post(session, merchant.id, LedgerKind.DEPOSIT, Decimal(500), merchant.currency,
                    at=old, description="opening deposit")
        ledger.post(session, merchant.id, LedgerKind.CASH_COLLECTED, Decimal(1000),
                    merchant.currency, payout_id=payout.id, at=now - timedelta(days=1),
                    description="cash for the week")
        ledger.post(session, merchant.id, LedgerKind.FEE, Decimal("-15"), merchant.currency,
                    payout_id=payout.id, at=now - timedelta(days=1), description="contract fee")
        cash_id, payout_id = cash.id, payout.id
    return Shop(order=order, legal=legal, others=others, courier_id=courier.id, cash_id=cash_id,
                payout_id=payout_id, merchant_id=merchant.id, currency=merchant.currency,
                opening=Decimal(500), closing=Decimal(1485), statement_entry=Decimal(1000))


@pytest.fixture(params=LANGUAGES)
def lang(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def shop(make, factory, make_user, lang) -> Shop:  # type: ignore[no-untyped-def]
    return _shop(make, factory, make_user, lang)


# --- every document, every language -----------------------------------------------------------


def test_invoice_a4_and_receipt(factory, shop: Shop, lang: str) -> None:  # type: ignore[no-untyped-def]
    order = shop.order
    for layout in ("a4", "receipt"):
        pdf = render_doc(factory, "invoice", PrintRequest(ids=(order.id,)), lang, layout)
        assert_texts(pdf, lang, tr(lang, "Invoice"), f"INV-{order.id:06d}", order.number,
                     money(order.payable, shop.currency, lang),
                     money(order.lines[0].line_total, shop.currency, lang))
        assert font_names(pdf) <= {"Noto-Sans", "Noto-Sans-Bold", "Vazirmatn",
                                   "Vazirmatn-Bold"}, font_names(pdf)
    mediabox = PdfReader(io.BytesIO(pdf)).pages[0].mediabox
    width_mm, height_mm = float(mediabox.width) / 72 * 25.4, float(mediabox.height) / 72 * 25.4
    assert round(width_mm) == 80
    assert 60 < height_mm < 400, "a receipt is cut right below its content"


def test_order_summary_and_contract(factory, shop: Shop, lang: str) -> None:  # type: ignore[no-untyped-def]
    order = shop.order
    pdf = render_doc(factory, "summary", PrintRequest(ids=(order.id,)), lang)
    assert_texts(pdf, lang, tr(lang, "Order summary"), order.number,
                 money(order.payable, shop.currency, lang))
    assert ("QRCODE", order.tracking_number) in scan(pdf)
    pdf = render_doc(factory, "contract", PrintRequest(ids=(order.id,)), lang)
    assert_texts(pdf, lang, tr(lang, "Order contract"), tr(lang, "Seller"), order.number,
                 money(order.payable, shop.currency, lang))


def test_price_agreement_for_a_legal_entity(factory, shop: Shop, lang: str) -> None:  # type: ignore[no-untyped-def]
    legal = shop.legal
    pdf = render_doc(factory, "price_agreement", PrintRequest(ids=(legal.id,)), lang)
    assert_texts(pdf, lang, tr(lang, "Invoice with price agreement"), legal.buyer_tax_id,
                 legal.number, money(legal.payable, shop.currency, lang))
    with pytest.raises(Refused, match="individual"):
        render_doc(factory, "price_agreement", PrintRequest(ids=(shop.order.id,)), lang)
    with pytest.raises(Refused, match="legal entity"):
        render_doc(factory, "contract", PrintRequest(ids=(legal.id,)), lang)


def test_waybill_has_three_labelled_copies(factory, shop: Shop, lang: str) -> None:  # type: ignore[no-untyped-def]
    order = shop.order
    pdf = render_doc(factory, "waybill", PrintRequest(ids=(order.id,)), lang)
    assert page_count(pdf) == 3
    reader = PdfReader(io.BytesIO(pdf))
    for page, copy in zip(reader.pages, ("Copy 1 of 3: sender", "Copy 2 of 3: carrier",
                                         "Copy 3 of 3: recipient"), strict=True):
        text = page.extract_text()
        assert has_text(text, tr(lang, copy), lang), text[:500]
        assert has_text(text, money(order.balance_due, shop.currency, lang), lang)
    assert ("CODE128", order.tracking_number) in scan(pdf, page=2)


def test_sticker_barcodes_are_real(factory, shop: Shop, lang: str) -> None:  # type: ignore[no-untyped-def]
    order = shop.order
    pdf = render_doc(factory, "sticker", PrintRequest(ids=(order.id,)), lang)
    box = PdfReader(io.BytesIO(pdf)).pages[0].mediabox
    assert (round(float(box.width) / 72 * 25.4), round(float(box.height) / 72 * 25.4)) == (
        100, 150)
    found = scan(pdf)
    assert ("CODE128", order.tracking_number) in found
    assert ("QRCODE", order.tracking_number) in found
    # The cash-on-delivery line depends on the payment method: tests/test_courier_tasks.py.
    assert_texts(pdf, lang, order.number, order.tracking_number)


def test_labels_sheet_holds_every_order(factory, shop: Shop, lang: str) -> None:  # type: ignore[no-untyped-def]
    orders = [shop.order, *shop.others]
    pdf = render_doc(factory, "labels", PrintRequest(ids=tuple(o.id for o in orders)), lang)
    assert page_count(pdf) == 1
    codes = {data for kind, data in scan(pdf, scale=4) if kind == "CODE128"}
    assert codes == {o.tracking_number for o in orders}


def test_refusal_refunds_the_goods_not_the_delivery(factory, shop: Shop, lang: str) -> None:  # type: ignore[no-untyped-def]
    order = shop.order
    pdf = render_doc(factory, "refusal", PrintRequest(ids=(order.id,), reason="Wrong size"),
                     lang)
    refund = order.payable - order.shipping_cost
    assert_texts(pdf, lang, tr(lang, "Refusal statement"), "Wrong size",
                 money(refund, shop.currency, lang),
                 money(order.shipping_cost, shop.currency, lang))


def test_route_sheet_lists_the_couriers_open_tasks(factory, make, shop: Shop, lang: str) -> None:  # type: ignore[no-untyped-def]
    delivered = make("Order", courier_id=shop.courier_id, courier_status="delivered", lines=1)
    other = make("Order", courier=make("Courier"), courier_status="assigned", lines=1)
    # Cash the courier takes at the door is listed; a bank-slip order's balance is not cash.
    cod = make("Order", courier_id=shop.courier_id, courier_status="on_the_way", lines=1,
               payment_method=make("PaymentMethod", kind=PaymentMethodKind.CASH_ON_DELIVERY))
    slip = make("Order", courier_id=shop.courier_id, courier_status="on_the_way", lines=1,
                payment_method=make("PaymentMethod", kind=PaymentMethodKind.BANK_SLIP))
    day = datetime.now(UTC).date()
    with factory() as session, session.begin():
        session.add(StatusChange(table_name="orders", record_id=delivered.id,
                                 from_state="on_the_way", to_state="delivered",
                                 at=datetime.now(UTC) - timedelta(days=3)))
    pdf = render_doc(factory, "route_sheet", PrintRequest(ids=(shop.courier_id,), day=day), lang)
    text = pdf_text(pdf)
    assert has_text(text, tr(lang, "Courier route sheet"), lang)
    assert shop.order.number in text and cod.number in text and slip.number in text
    assert has_text(text, money(cod.balance_due, cod.currency, lang), lang)
    assert not has_text(text, money(slip.balance_due, slip.currency, lang), lang)
    assert delivered.number not in text and other.number not in text


def test_cash_collection_act(factory, shop: Shop, lang: str) -> None:  # type: ignore[no-untyped-def]
    pdf = render_doc(factory, "cash_collection", PrintRequest(ids=(shop.cash_id,)), lang)
    assert_texts(pdf, lang, tr(lang, "Cash-collection act"), "bag 17",
                 money(Decimal("1234.50"), shop.currency, lang))


def test_merchant_statement_balances(factory, shop: Shop, lang: str) -> None:  # type: ignore[no-untyped-def]
    today = datetime.now(UTC).date()
    pdf = render_doc(factory, "merchant_statement", PrintRequest(
        merchant_id=shop.merchant_id, date_from=today - timedelta(days=7), date_to=today), lang)
    assert_texts(pdf, lang, tr(lang, "Merchant statement"), "cash for the week",
                 money(shop.opening, shop.currency, lang),
                 money(shop.closing, shop.currency, lang),
                 money(shop.statement_entry, shop.currency, lang))
    assert "opening deposit" not in pdf_text(pdf)


def test_payout_statement(factory, shop: Shop, lang: str) -> None:  # type: ignore[no-untyped-def]
    pdf = render_doc(factory, "payout", PrintRequest(ids=(shop.payout_id,)), lang)
    assert_texts(pdf, lang, tr(lang, "Payout statement"), "contract fee",
                 money(Decimal("985"), shop.currency, lang),
                 money(Decimal("1000"), shop.currency, lang),
                 money(Decimal("15"), shop.currency, lang))


# --- the renderer --------------------------------------------------------------------------


def test_every_document_is_tested_and_renders_rtl_for_persian(factory, shop: Shop,  # type: ignore[no-untyped-def]
                                                              lang: str) -> None:
    assert set(DOCUMENTS) == {
        "invoice", "contract", "price_agreement", "waybill", "sticker", "labels", "refusal",
        "summary", "route_sheet", "cash_collection", "merchant_statement", "payout",
        # The parcels' stickers: tests/test_parcel_stickers.py
        "parcel_sticker", "parcel_sheet", "parcel_dropoff"}
    with factory() as session:
        job = prepare(session, "invoice", "a4", PrintRequest(ids=(shop.order.id,)), lang)
    html = render.render_html(job.template, job.contexts[0], lang)
    expected = 'dir="rtl"' if lang == "fa" else 'dir="ltr"'
    assert f'<html lang="{lang}" {expected}' in html


def test_group_print_in_parallel_chunks_keeps_the_order(factory, make, lang: str) -> None:  # type: ignore[no-untyped-def]
    orders = [make("Order", lines=1) for _ in range(5)]
    with factory() as session:
        job = prepare(session, "invoice", "a4", PrintRequest(ids=tuple(o.id for o in orders)),
                      lang)
    pdf = batch.render_many(job.template, job.contexts, lang, workers=2, chunk_size=2,
                            parallel_from=1)
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 5
    for page, order in zip(reader.pages, orders, strict=True):
        assert order.number in page.extract_text()
    in_process = batch.render_many(job.template, job.contexts, lang, workers=1)
    assert page_count(in_process) == 5


def test_group_waybills_are_three_pages_each(factory, make) -> None:  # type: ignore[no-untyped-def]
    orders = [make("Order", lines=1) for _ in range(2)]
    pdf = render_doc(factory, "waybill", PrintRequest(ids=tuple(o.id for o in orders)), "en")
    assert page_count(pdf) == 6


def test_a_missing_order_is_not_printed(factory, make) -> None:  # type: ignore[no-untyped-def]
    order = make("Order", lines=1)
    with pytest.raises(DocumentNotFound):
        render_doc(factory, "invoice", PrintRequest(ids=(order.id, 10**9)), "en")


def test_codes_follow_the_standards() -> None:
    # Code 128: start B (11010010000), data, checksum, stop (1100011101011): re-derived here.
    assert code128_pattern("PDT-1").startswith("11010010000")
    assert code128_pattern("PDT-1").endswith("1100011101011")
    image = io.BytesIO(qr_png("PDT-000001"))
    from PIL import Image

    picture = Image.open(image)
    assert picture.size == (29, 29)  # version 1 (21 modules) + a 4-module quiet zone each side
    big = picture.convert("L").resize((290, 290), Image.NEAREST)
    assert [r.data for r in decode(big)] == [b"PDT-000001"]


def test_documents_load_nothing_from_outside() -> None:
    html = ('<html><body><img src="http://127.0.0.1:9/x.png">'
            '<img src="file:///etc/hostname"></body></html>')
    document = render.html_to_document(html, "documents/probe.html")
    assert len(document.pages) == 1
    with pytest.raises(ValueError):
        render.fetcher().fetch("file:///etc/hostname")
    with pytest.raises(ValueError):
        render.fetcher().fetch("http://127.0.0.1:9/x.png")
