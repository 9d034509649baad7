"""Printing through the admin as people do it: from the order page, group print from the list,
the courier's route sheet, payout and cash-collection rows, the merchant statement; the invoice
image by SMS and the buyer's links; grants and merchant scoping on every path."""

from __future__ import annotations

import io
import re
from datetime import date
from decimal import Decimal

import pytest
from PIL import Image
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from schema.lockers import CashCollection, LedgerKind, Payout
from schema.notifications import OutboxMessage
from schema.orders import OrderDocument, OrderMessage
from schema.people import User
from services import ledger


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def pages(content: bytes) -> int:
    return len(PdfReader(io.BytesIO(content)).pages)


def _user_id(factory: sessionmaker[Session], username: str) -> int:
    with factory() as session:
        return int(session.scalar(select(User.id).where(User.username == username)))


def test_order_page_prints_each_document_in_the_chosen_language(signed_in, make) -> None:  # type: ignore[no-untyped-def]
    order = make("Order", lines=2, tracking_number="TRKPRINT01")
    manager = signed_in("manager")
    page = manager.get(f"/admin/orders/details/{order.id}").text
    assert 'id="order-print"' in page and f"/admin/print/order/{order.id}" in page
    for code in ("invoice", "summary", "waybill", "sticker", "refusal", "contract", "labels"):
        response = manager.get(f"/admin/print/order/{order.id}",
                               params={"document": code, "language": "ru"})
        assert response.status_code == 200, (code, response.text[:300])
        assert response.headers["content-type"] == "application/pdf"
        assert order.number in pdf_text(response.content)
    receipt = manager.get(f"/admin/print/order/{order.id}",
                          params={"document": "invoice", "layout": "receipt", "language": "fa"})
    box = PdfReader(io.BytesIO(receipt.content)).pages[0].mediabox
    assert round(float(box.width) / 72 * 25.4) == 80
    # The print language is a parameter of the document, not a change of the person's language.
    assert "postdesk_lang" not in receipt.headers.get("set-cookie", "")


def test_a_refused_document_says_why(signed_in, make) -> None:  # type: ignore[no-untyped-def]
    order = make("Order", lines=1)
    manager = signed_in("manager")
    response = manager.get(f"/admin/print/order/{order.id}",
                           params={"document": "price_agreement"}, follow_redirects=True)
    assert response.headers["content-type"].startswith("text/html")
    assert "print the order contract instead" in response.text


def test_merchant_prints_only_its_own_orders(make, make_user, browser, factory) -> None:  # type: ignore[no-untyped-def]
    mine = make("Order", lines=1)
    theirs = make("Order", lines=1)
    username = make_user("merchant", merchant_id=mine.merchant_id)
    assert browser.login(username).status_code == 302
    browser.token = re.search(r'name="csrf-token" content="([^"]+)"',
                              browser.get("/admin/").text)[1]
    assert browser.get(f"/admin/print/order/{mine.id}").status_code == 200
    assert browser.get(f"/admin/print/order/{theirs.id}").status_code == 404
    assert browser.get(f"/admin/print/order/{theirs.id}",
                       params={"document": "sticker"}).status_code == 404
    # Group print with the other merchant's id smuggled in prints nothing.
    response = browser.post(f"/admin/orders/action/bulk-print?pks={mine.id},{theirs.id}",
                            {"confirm": "1", "document": "invoice"}, follow_redirects=False)
    assert response.status_code == 303 and "application/pdf" not in response.headers.get(
        "content-type", "")
    # Its statement is its own, whatever merchant it asks for.
    with factory() as session, session.begin():
        for order, text in ((mine, "mine: deposit"), (theirs, "theirs: deposit")):
            ledger.post(session, order.merchant_id, LedgerKind.DEPOSIT, Decimal(10), "BYN",
                        description=text)
    statement = browser.get("/admin/print/merchant-statement", params={
        "merchant_id": theirs.merchant_id, "date_from": date.today().isoformat(),
        "date_to": date.today().isoformat()})
    assert statement.status_code == 200
    text = pdf_text(statement.content)
    assert "mine: deposit" in text and "theirs: deposit" not in text


def test_group_print_from_the_order_list(signed_in, make) -> None:  # type: ignore[no-untyped-def]
    orders = [make("Order", lines=1, tracking_number=f"GRP{i}X{make('Merchant').id}")
              for i in range(3)]
    ids = ",".join(str(o.id) for o in orders)
    manager = signed_in("manager")
    assert "bulk-print" in manager.get("/admin/orders/list").text
    form = manager.post(f"/admin/orders/action/bulk-print?pks={ids}")
    assert form.status_code == 200 and 'name="document"' in form.text
    response = manager.post(f"/admin/orders/action/bulk-print?pks={ids}",
                            {"confirm": "1", "document": "invoice", "layout": "a4",
                             "language": "en"})
    assert response.headers["content-type"] == "application/pdf"
    assert "attachment" in response.headers["content-disposition"]
    assert pages(response.content) == 3
    text = pdf_text(response.content)
    assert all(o.number in text for o in orders)
    labels = manager.post(f"/admin/orders/action/bulk-print?pks={ids}",
                          {"confirm": "1", "document": "labels", "language": "en"})
    assert pages(labels.content) == 1
    assert all(o.tracking_number in pdf_text(labels.content) for o in orders)


def test_group_print_needs_its_grant(signed_in, make) -> None:  # type: ignore[no-untyped-def]
    order = make("Order", lines=1)
    response = signed_in("courier").post(f"/admin/orders/action/bulk-print?pks={order.id}",
                                         {"confirm": "1"})
    assert response.status_code == 403


def test_courier_row_prints_the_route_sheet(signed_in, make) -> None:  # type: ignore[no-untyped-def]
    courier = make("Courier")
    order = make("Order", lines=1, courier_id=courier.id, courier_status="assigned")
    manager = signed_in("manager")
    listing = manager.get("/admin/couriers/list?pageSize=200").text
    assert f"/admin/print/courier/{courier.id}" in listing
    response = manager.get(f"/admin/print/courier/{courier.id}",
                           params={"day": date.today().isoformat()})
    assert response.status_code == 200
    assert order.number in pdf_text(response.content)
    assert signed_in("merchant", merchant_id=order.merchant_id).get(
        f"/admin/print/courier/{courier.id}").status_code == 403


def test_payout_and_cash_collection_rows_print(signed_in, make, make_user, factory) -> None:  # type: ignore[no-untyped-def]
    merchant = make("Merchant")
    locker = make("Locker")
    collector = _user_id(factory, make_user("cash_collector"))
    with factory() as session, session.begin():
        # The newest period: first on the list, which is sorted by period.
        payout = Payout(merchant_id=merchant.id, period_start=date(2099, 10, 5),
                        period_end=date(2099, 10, 11), amount=Decimal("98.50"),
                        fee=Decimal("1.50"), currency="BYN")
        cash = CashCollection(locker_id=locker.id, collector_id=collector,
                              amount=Decimal("321.00"), currency="BYN")
        session.add_all([payout, cash])
        session.flush()
        payout_id, cash_id = payout.id, cash.id
    accountant = signed_in("accountant")
    assert f"/admin/print/payout/{payout_id}" in accountant.get("/admin/payouts/list").text
    assert f"/admin/print/cash-collection/{cash_id}" in accountant.get(
        "/admin/cash_collections/list").text
    assert "BYN98.50" in pdf_text(accountant.get(f"/admin/print/payout/{payout_id}").content)
    assert "BYN321.00" in pdf_text(
        accountant.get(f"/admin/print/cash-collection/{cash_id}").content)
    # Another merchant's payout does not exist for a merchant user; a manager may not print it.
    other = make("Merchant")
    assert signed_in("merchant", merchant_id=other.id).get(
        f"/admin/print/payout/{payout_id}").status_code == 404
    assert signed_in("manager").get(f"/admin/print/payout/{payout_id}").status_code == 403


def test_merchant_statement_page(signed_in, make, factory) -> None:  # type: ignore[no-untyped-def]
    merchant = make("Merchant", locale="en_US")
    with factory() as session, session.begin():
        ledger.post(session, merchant.id, LedgerKind.CHARGE, Decimal("-2.00"), "BYN",
                    description="storage PT1")
    accountant = signed_in("accountant")
    page = accountant.get("/admin/merchant-statement")
    assert page.status_code == 200 and 'name="merchant_id"' in page.text
    today = date.today().isoformat()
    response = accountant.get("/admin/print/merchant-statement", params={
        "merchant_id": merchant.id, "date_from": today, "date_to": today, "language": "en"})
    assert "storage PT1" in pdf_text(response.content)
    bad = accountant.get("/admin/print/merchant-statement", params={
        "merchant_id": merchant.id, "date_from": "23.11.2026"}, follow_redirects=True)
    assert "YYYY-MM-DD" in bad.text
    assert signed_in("manager").get("/admin/merchant-statement").status_code == 403


@pytest.fixture
def documents_dir(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("POSTDESK_DOCUMENTS_DIR", str(tmp_path))
    return tmp_path


def test_invoice_image_is_texted_to_the_customer(signed_in, make, factory, browser,  # type: ignore[no-untyped-def]
                                                 documents_dir) -> None:
    order = make("Order", lines=2, recipient_phone="+375291234599")
    manager = signed_in("manager")
    response = manager.post(f"/admin/print/order/{order.id}/send-invoice", {"language": "ru"},
                            follow_redirects=False)
    assert response.status_code == 303
    with factory() as session:
        sms = session.scalar(select(OutboxMessage).where(
            OutboxMessage.recipient == "+375291234599"))
        document = session.scalar(select(OrderDocument).where(
            OrderDocument.order_id == order.id))
        message = session.scalar(select(OrderMessage).where(OrderMessage.order_id == order.id))
    assert sms is not None and sms.channel == "sms" and order.number in sms.body
    assert document is not None and document.kind == "invoice_image"
    assert message is not None and message.outbox_id == sms.id
    link = re.search(r"http://testserver(/documents/\S+)", sms.body)
    assert link, sms.body
    image = browser.get(link[1])
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    picture = Image.open(io.BytesIO(image.content))
    assert picture.width > 500 and picture.height > picture.width  # the 80 mm receipt
    assert (documents_dir / document.path).read_bytes() == image.content
    assert browser.get(link[1][:-3] + "xyz").status_code == 404


def test_no_phone_no_sms_and_nothing_kept(signed_in, make, factory, documents_dir) -> None:  # type: ignore[no-untyped-def]
    order = make("Order", lines=1, recipient_phone=None)
    page = signed_in("manager").post(f"/admin/print/order/{order.id}/send-invoice",
                                     {"language": "en"}, follow_redirects=True)
    assert "has no phone number" in page.text
    with factory() as session:
        assert session.scalar(select(OrderDocument).where(
            OrderDocument.order_id == order.id)) is None
    assert list(documents_dir.iterdir()) == []


def test_sending_the_invoice_needs_its_grant(signed_in, make) -> None:  # type: ignore[no-untyped-def]
    order = make("Order", lines=1)
    accountant = signed_in("accountant")
    assert 'id="order-print"' in accountant.get(f"/admin/orders/details/{order.id}").text
    assert accountant.post(f"/admin/print/order/{order.id}/send-invoice",
                           {"language": "en"}).status_code == 403


def test_buyer_downloads_the_order_summary(signed_in, make, browser) -> None:  # type: ignore[no-untyped-def]
    order = make("Order", lines=1)
    page = signed_in("manager").get(f"/admin/orders/details/{order.id}?lang=fa").text
    url = re.search(r'value="http://testserver(/documents/[^"]+)" id="summary-link"', page)[1]
    browser.client.cookies.clear()  # the buyer is not signed in
    response = browser.get(url)
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    assert order.number in pdf_text(response.content)
    assert browser.get(url.replace("/documents/", "/documents/x")).status_code == 404


def _order_documents_tab(html: str) -> str:
    found = re.search(r'id="tab-documents">(.*?)</table>', html, re.S)
    assert found, "the order page has no Documents tab"
    return found[1]


def test_documents_tab_opens_the_sent_invoice_image(signed_in, make, make_user, browser,  # type: ignore[no-untyped-def]
                                                    factory, documents_dir) -> None:
    operator_name = make_user("operator")
    order = make("Order", lines=1, recipient_phone="+375291234598",
                 operator_id=_user_id(factory, operator_name))
    other = make("Order", lines=1)
    manager = signed_in("manager")
    assert "No documents kept yet." in _order_documents_tab(
        manager.get(f"/admin/orders/details/{order.id}").text)
    manager.post(f"/admin/print/order/{order.id}/send-invoice", {"language": "en"})
    with factory() as session:
        document = session.scalar(select(OrderDocument).where(
            OrderDocument.order_id == order.id))
        creator = session.get(User, document.created_by_id).username
    tab = _order_documents_tab(manager.get(f"/admin/orders/details/{order.id}").text)
    url = f"/admin/print/order/{order.id}/document/{document.id}"
    assert "Invoice image" in tab and document.title in tab and creator in tab and url in tab
    image = manager.get(url)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content == (documents_dir / document.path).read_bytes()
    # The id of a document reached through another order answers 404; so does a missing file.
    assert manager.get(f"/admin/print/order/{other.id}/document/{document.id}"
                       ).status_code == 404
    ru = _order_documents_tab(manager.get(f"/admin/orders/details/{order.id}?lang=ru").text)
    assert "Invoice image" not in ru

    # Operators send the invoice, so they see it too — on their own orders only.
    assert browser.login(operator_name).status_code == 302
    assert url in _order_documents_tab(browser.get(f"/admin/orders/details/{order.id}").text)
    assert browser.get(url).status_code == 200
    assert document.title in browser.get("/admin/order_documents/list").text
    outsider = signed_in("operator")
    assert outsider.get(url).status_code == 404
    assert document.title not in outsider.get("/admin/order_documents/list").text
    # No grant: no tab and no file. A merchant user of another store has no grant either.
    accountant = signed_in("accountant")
    assert 'id="tab-documents"' not in accountant.get(f"/admin/orders/details/{order.id}").text
    assert accountant.get(url).status_code == 403
    assert signed_in("merchant", merchant_id=other.merchant_id).get(url).status_code == 403
    (documents_dir / document.path).unlink()
    assert signed_in("manager").get(url).status_code == 404


def test_courier_prints_its_own_route_sheet_from_my_tasks(make, make_user, browser, signed_in,  # type: ignore[no-untyped-def]
                                                          factory) -> None:
    username = make_user("courier")
    courier = make("Courier", user_id=_user_id(factory, username))
    mine = make("Order", lines=1, courier_id=courier.id, courier_status="assigned")
    other_courier = make("Courier")
    theirs = make("Order", lines=1, courier_id=other_courier.id, courier_status="assigned")
    assert browser.login(username).status_code == 302
    page = browser.get("/admin/my-tasks").text
    form = re.search(r'<div class="card-actions" id="my-route-sheet">(.*?)</form>', page, re.S)
    assert form and "/admin/print/my-route-sheet" in form[1] and 'name="language"' in form[1]
    assert 'name="day"' in form[1] and "Print my route sheet" in form[1]
    response = browser.get("/admin/print/my-route-sheet",
                           params={"day": date.today().isoformat(), "language": "en"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    text = pdf_text(response.content)
    assert mine.number in text and theirs.number not in text
    # The couriers' own route is for managers: a courier reaches no sheet by its id.
    for pk in (other_courier.id, courier.id):
        assert browser.get(f"/admin/print/courier/{pk}").status_code == 403
    bad = browser.get("/admin/print/my-route-sheet", params={"day": "23.11.2026"})
    assert "YYYY-MM-DD" in bad.text
    # A courier account without a courier record is told why; others have no My tasks.
    unlinked = signed_in("courier").get("/admin/print/my-route-sheet")
    assert unlinked.headers["content-type"].startswith("text/html")
    assert "not linked to a courier" in unlinked.text
    assert signed_in("manager").get("/admin/print/my-route-sheet").status_code == 403


def test_layout_options_name_their_document(signed_in, make) -> None:  # type: ignore[no-untyped-def]
    order = make("Order", lines=1)
    manager = signed_in("manager")
    pages = [manager.get(f"/admin/orders/details/{order.id}").text,
             manager.post(f"/admin/orders/action/bulk-print?pks={order.id}").text]
    for page in pages:
        layouts = re.search(r'<select name="layout"[^>]*>(.*?)</select>', page, re.S)[1]
        options = re.findall(r"<option [^>]*>", layouts)
        documents = set(re.findall(r'data-document="([^"]+)"', layouts))
        assert options and all("data-document=" in option for option in options)
        assert {"invoice", "sticker"} <= documents
        assert "/postdesk-static/print_layouts.js" in page
    assert manager.get("/admin/postdesk-static/print_layouts.js").status_code == 200
