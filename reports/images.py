"""A document as a picture: the first page of its PDF as a PNG (the invoice sent by SMS)."""

from __future__ import annotations

import io

import pypdfium2 as pdfium
from sqlalchemy.orm import Session

from reports.batch import render_job
from reports.documents import PrintRequest, prepare

# 80 mm roll paper at 2.5 px/pt is about 570 px wide: sharp on a phone, a few tens of KB.
IMAGE_SCALE = 2.5


def pdf_first_page_png(pdf: bytes, scale: float = IMAGE_SCALE) -> bytes:
    document = pdfium.PdfDocument(pdf)
    try:
        page = document[0]
        bitmap = page.render(scale=scale)  # the image below shares its memory: keep it alive
        out = io.BytesIO()
        bitmap.to_pil().save(out, format="PNG", optimize=True)
        return out.getvalue()
    finally:
        document.close()


def document_png(session: Session, code: str, layout: str | None, request: PrintRequest,
                 lang: str, scale: float = IMAGE_SCALE) -> bytes:
    """The first page of a document as PNG, read in the caller's session (scoping applies)."""
    return pdf_first_page_png(render_job(prepare(session, code, layout, request, lang)), scale)
