"""A locker parcel's stickers (R-LOCK-3), read back from what the admin serves: the Code 128 and
the QR code decode to the barcode, the locker, cell and recipient are printed, "cash on delivery"
only when money is to be collected; the A4 sheet holds four per page; the drop-off sticker; the
ZPL II program's barcode fields and layout commands; merchant scoping and grants on the route
and on the parcel list's group print."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from decimal import Decimal
from itertools import count

import pypdfium2 as pdfium
from pypdf import PdfReader
from pyzbar.pyzbar import decode
from sqlalchemy.orm import Session, sessionmaker

from schema.lockers import CellSize, CellState, Locker, LockerCell, Parcel

_serial = count(1)


@dataclass(frozen=True)
class Made:
    id: int
    barcode: str
    merchant_id: int
    locker_code: str
    cell_code: str


def make_parcel(factory: sessionmaker[Session], merchant_id: int, *,
                declared: Decimal | None = None, paid: bool = False,
                phone: str = "+375 29 606-58-74", name: str = "Ivan Petrov") -> Made:
    """A registered parcel holding a reserved cell of a locker of its own."""
    n = next(_serial)
    with factory() as session, session.begin():
        locker = Locker(code=f"STK-{n:04d}-{id(factory) % 1000}", name=f"Mall locker {n}",
                        address="Main street 1", city="Minsk")
        session.add(locker)
        session.flush()
        cell = LockerCell(locker_id=locker.id, code=f"B{n:02d}", size=CellSize.M,
                          state=CellState.RESERVED)
        session.add(cell)
        session.flush()
        parcel = Parcel(merchant_id=merchant_id, barcode=f"PDSTK{n:05d}{locker.id}",
                        locker_id=locker.id, cell_id=cell.id, size=CellSize.M,
                        status="registered", declared_price=declared, paid=paid,
                        currency="BYN", recipient_name=name, recipient_phone=phone,
                        recipient_language="ru")
        session.add(parcel)
        session.flush()
        return Made(parcel.id, parcel.barcode, merchant_id, locker.code, cell.code)


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def scan(pdf: bytes, page: int = 0) -> list[tuple[str, str]]:
    document = pdfium.PdfDocument(pdf)
    try:
        bitmap = document[page].render(scale=3)
        return sorted((r.type, r.data.decode()) for r in decode(bitmap.to_pil()))
    finally:
        document.close()


def page_count(pdf: bytes) -> int:
    return len(PdfReader(io.BytesIO(pdf)).pages)


def test_label_decodes_and_shows_cash_only_when_due(signed_in, make, factory) -> None:  # type: ignore[no-untyped-def]
    merchant = make("Merchant", name="Sticker Shop Ltd")
    due = make_parcel(factory, merchant.id, declared=Decimal("25.50"))
    paid = make_parcel(factory, merchant.id, declared=Decimal("25.50"), paid=True)
    prepaid = make_parcel(factory, merchant.id)
    manager = signed_in("manager")

    response = manager.get(f"/admin/parcels/{due.id}/sticker.pdf")
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"] == "application/pdf"
    box = PdfReader(io.BytesIO(response.content)).pages[0].mediabox
    assert (round(float(box.width) / 72 * 25.4), round(float(box.height) / 72 * 25.4)) == (
        100, 150)
    assert scan(response.content) == [("CODE128", due.barcode), ("QRCODE", due.barcode)]
    text = pdf_text(response.content)
    for expected in (due.barcode, due.locker_code, due.cell_code, "Mall locker",
                     "Main street 1, Minsk", "Ivan Petrov", "+375 29 606-58-74",
                     merchant.name, "Cash on delivery", "25.50"):
        assert expected in text, expected

    for no_cash in (paid, prepaid):
        pdf = manager.get(f"/admin/parcels/{no_cash.id}/sticker.pdf?layout=label").content
        assert scan(pdf) == [("CODE128", no_cash.barcode), ("QRCODE", no_cash.barcode)]
        assert "Cash on delivery" not in pdf_text(pdf)


def test_persian_label_keeps_codes_whole(signed_in, make, factory) -> None:  # type: ignore[no-untyped-def]
    merchant = make("Merchant")
    parcel = make_parcel(factory, merchant.id, declared=Decimal("12"), name="علی رضایی")
    pdf = signed_in("manager").get(f"/admin/parcels/{parcel.id}/sticker.pdf",
                                   params={"language": "fa"}).content
    assert scan(pdf) == [("CODE128", parcel.barcode), ("QRCODE", parcel.barcode)]
    text = pdf_text(pdf)
    # The phone and codes are isolated left to right: they come out in their own order.
    assert "+375 29 606-58-74" in text and parcel.barcode in text and parcel.cell_code in text


def test_a4_sheet_and_dropoff_layouts(signed_in, make, factory) -> None:  # type: ignore[no-untyped-def]
    merchant = make("Merchant")
    parcel = make_parcel(factory, merchant.id)
    manager = signed_in("manager")
    sheet = manager.get(f"/admin/parcels/{parcel.id}/sticker.pdf?layout=a4").content
    box = PdfReader(io.BytesIO(sheet)).pages[0].mediabox
    assert (round(float(box.width) / 72 * 25.4), round(float(box.height) / 72 * 25.4)) == (
        210, 297)
    assert scan(sheet) == [("CODE128", parcel.barcode), ("QRCODE", parcel.barcode)]
    dropoff = manager.get(f"/admin/parcels/{parcel.id}/sticker.pdf?layout=dropoff").content
    assert scan(dropoff) == [("CODE128", parcel.barcode), ("QRCODE", parcel.barcode)]
    text = pdf_text(dropoff)
    assert parcel.locker_code in text and parcel.cell_code in text
    assert manager.get(f"/admin/parcels/{parcel.id}/sticker.pdf?layout=poster"
                       ).status_code == 404


def test_zpl_carries_the_barcode_and_the_layout(signed_in, make, factory) -> None:  # type: ignore[no-untyped-def]
    merchant = make("Merchant")
    due = make_parcel(factory, merchant.id, declared=Decimal("7.10"), name="Jo^hn ~Doe_")
    prepaid = make_parcel(factory, merchant.id)
    manager = signed_in("manager")
    response = manager.get(f"/admin/parcels/{due.id}/sticker.pdf?layout=zpl")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    zpl = response.text
    assert zpl.startswith("^XA") and zpl.rstrip().endswith("^XZ")
    # 100 x 150 mm at 8 dots per mm, UTF-8 text.
    assert "^PW800" in zpl and "^LL1200" in zpl and "^CI28" in zpl
    code128 = re.search(r"\^BC[^\^]*\^FH\^FD([^\^]*)\^FS", zpl)
    qr = re.search(r"\^BQN,2,\d+\^FH\^FD([^\^]*)\^FS", zpl)
    assert code128 and code128[1] == due.barcode
    assert qr and qr[1] == f"MA,{due.barcode}"
    assert due.locker_code in zpl and due.cell_code in zpl and "+375 29 606-58-74" in zpl
    assert "Cash on delivery" in zpl and "7.10" in zpl
    # A caret or tilde in a name is hex-escaped: it cannot end the field or start a command.
    assert "Jo_5Ehn _7EDoe_5F" in zpl
    fields = re.findall(r"\^FD(.*?)\^FS", zpl)
    assert all("^" not in f and "~" not in f for f in fields)
    assert "Cash on delivery" not in manager.get(
        f"/admin/parcels/{prepaid.id}/sticker.pdf?layout=zpl").text


def test_merchant_prints_only_its_own_parcels(make, make_user, browser, factory) -> None:  # type: ignore[no-untyped-def]
    mine = make_parcel(factory, make("Merchant").id)
    theirs = make_parcel(factory, make("Merchant").id)
    username = make_user("merchant", merchant_id=mine.merchant_id)
    assert browser.login(username).status_code == 302
    browser.token = re.search(r'name="csrf-token" content="([^"]+)"',
                              browser.get("/admin/").text)[1]
    assert browser.get(f"/admin/parcels/{mine.id}/sticker.pdf").status_code == 200
    for layout in ("label", "a4", "dropoff", "zpl"):
        assert browser.get(f"/admin/parcels/{theirs.id}/sticker.pdf",
                           params={"layout": layout}).status_code == 404, layout
    # Group print with the other merchant's id smuggled in prints nothing.
    response = browser.post(
        f"/admin/parcels/action/print-sticker?pks={mine.id},{theirs.id}",
        {"confirm": "1", "document": "parcel_sheet"}, follow_redirects=False)
    assert response.status_code in (303, 404)
    assert "application/pdf" not in response.headers.get("content-type", "")


def test_printing_stickers_needs_its_grant(signed_in, make, factory) -> None:  # type: ignore[no-untyped-def]
    parcel = make_parcel(factory, make("Merchant").id)
    courier = signed_in("courier")  # reads parcels, may not print their stickers
    assert courier.get(f"/admin/parcels/{parcel.id}/sticker.pdf").status_code == 403
    assert courier.get(f"/admin/parcels/{parcel.id}/sticker.pdf?layout=zpl").status_code == 403
    refused = courier.post(f"/admin/parcels/action/print-sticker?pks={parcel.id}",
                           {"confirm": "1"}, follow_redirects=False)
    assert refused.status_code in (403, 404)
    assert "application/pdf" not in refused.headers.get("content-type", "")


def test_group_print_from_the_parcel_list(signed_in, make, factory) -> None:  # type: ignore[no-untyped-def]
    merchant = make("Merchant")
    parcels = [make_parcel(factory, merchant.id, declared=Decimal(i)) for i in range(5)]
    ids = ",".join(str(p.id) for p in parcels)
    manager = signed_in("manager")
    assert "print-sticker" in manager.get("/admin/parcels/list").text
    form = manager.post(f"/admin/parcels/action/print-sticker?pks={ids}")
    assert form.status_code == 200 and 'name="document"' in form.text
    assert "Parcels selected: 5" in form.text and 'value="parcel_sheet"' in form.text
    sheets = manager.post(f"/admin/parcels/action/print-sticker?pks={ids}",
                          {"confirm": "1", "document": "parcel_sheet", "language": "en"})
    assert sheets.headers["content-type"] == "application/pdf"
    assert "attachment" in sheets.headers["content-disposition"]
    assert page_count(sheets.content) == 2  # four on the first sheet, one on the second
    found = scan(sheets.content, 0) + scan(sheets.content, 1)
    assert sorted(v for t, v in found if t == "QRCODE") == sorted(p.barcode for p in parcels)
    assert sorted(v for t, v in found if t == "CODE128") == sorted(p.barcode for p in parcels)
    labels = manager.post(f"/admin/parcels/action/print-sticker?pks={ids}",
                          {"confirm": "1", "document": "parcel_sticker", "language": "ru"})
    assert page_count(labels.content) == 5
    assert scan(labels.content, 4) == [("CODE128", parcels[4].barcode),
                                       ("QRCODE", parcels[4].barcode)]


def test_a_group_print_has_a_ceiling(signed_in) -> None:  # type: ignore[no-untyped-def]
    from admin.printing import PARCEL_PRINT_LIMIT

    ids = ",".join(str(i) for i in range(1, PARCEL_PRINT_LIMIT + 2))
    response = signed_in("manager").post(
        f"/admin/parcels/action/print-sticker?pks={ids}",
        {"confirm": "1", "document": "parcel_sheet"}, follow_redirects=True)
    assert "application/pdf" not in response.headers["content-type"]
    assert f"Select at most {PARCEL_PRINT_LIMIT} parcels" in response.text
