"""Documents that leave the building: the invoice as an image by SMS (R-ORD-8) and the buyer's
signed links (R-DOC-2).

An SMS carries text only, so the invoice image is stored as the order's document and the SMS
carries a signed link to it. The image, the document row and the queued SMS are one unit: the
rows are written in the caller's transaction, and the file is removed again if they fail.

Links are signed with the installation's secret key (itsdangerous), name one document and
expire; whoever holds one may open that document and nothing else.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from locales import LANGUAGES, format_money, translations
from schema.base import N_
from schema.orders import MessageKind, OrderDocument
from services.actor import Actor
from services.errors import Refused
from services.orders import get_order
from services.outbox import customer_recipient, queue_customer_message

LINK_SALT = "postdesk document link"
# How long a link sent to a buyer keeps working.
LINK_MAX_AGE = 90 * 24 * 3600
INVOICE_IMAGE = "invoice_image"
# What a stored document (``OrderDocument.kind``) is, as people read it; translated when shown.
KIND_LABELS = {INVOICE_IMAGE: N_("Invoice image")}


def documents_dir() -> Path:
    """Where sent documents are kept (``POSTDESK_DOCUMENTS_DIR``, default ``documents``)."""
    return Path(os.environ.get("POSTDESK_DOCUMENTS_DIR") or "documents")


class DocumentNotFound(Refused, LookupError):
    """The record a document is about does not exist or the person may not see it (the web
    answers 404)."""


# --- signed links ----------------------------------------------------------------------------


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=LINK_SALT)


def sign_link(secret_key: str, payload: dict[str, Any]) -> str:
    return str(_serializer(secret_key).dumps(payload))


def read_link(secret_key: str, token: str, max_age: int = LINK_MAX_AGE) -> dict[str, Any]:
    """The payload of a valid link; ``Refused`` when forged, altered or expired."""
    try:
        payload = _serializer(secret_key).loads(token, max_age=max_age)
    except BadSignature as exc:
        raise Refused("This link is not valid or has expired.") from exc
    if not isinstance(payload, dict):
        raise Refused("This link is not valid or has expired.")
    return payload


def summary_token(secret_key: str, order_id: int, lang: str) -> str:
    """The buyer's link to its order summary (rendered when opened, so it is always current)."""
    return sign_link(secret_key, {"order": order_id, "doc": "summary",
                                  "lang": lang if lang in LANGUAGES else "en"})


def file_token(secret_key: str, document_id: int) -> str:
    return sign_link(secret_key, {"file": document_id})


# --- the invoice as an image -----------------------------------------------------------------


@dataclass(frozen=True)
class SentImage:
    document: OrderDocument
    link: str


def send_invoice_image(session: Session, actor: Actor, order_id: int, png: bytes, *,
                       lang: str, secret_key: str, link_base: str) -> SentImage:
    """Keep ``png`` (the invoice's first page, ``reports.images``) as the order's document and
    text the buyer a link to it, in ``lang``.

    ``link_base`` is the public address the token is appended to
    (``https://shop.example/documents/``). Refused, with nothing written or kept, when the order
    has no phone number.
    """
    order = get_order(session, order_id)
    customer_recipient(order, MessageKind.SMS)  # refuse before keeping anything
    lang = lang if lang in LANGUAGES else "en"
    folder = documents_dir()
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{INVOICE_IMAGE}-{order.id}-{secrets.token_hex(8)}.png"
    path = folder / name
    path.write_bytes(png)
    try:
        gettext = translations(lang).gettext
        title = gettext(N_("Invoice %(number)s")) % {"number": order.number}
        document = OrderDocument(order_id=order.id, kind=INVOICE_IMAGE, title=title, path=name,
                                 created_by_id=actor.user_id)
        session.add(document)
        session.flush()
        link = link_base + file_token(secret_key, document.id)
        body = gettext(N_("%(record)s: your invoice for %(amount)s is here: %(link)s")) % {
            "record": order.number, "amount": format_money(order.payable, order.currency, lang),
            "link": link}
        queue_customer_message(session, order, MessageKind.SMS, body, title=title,
                               operator_id=actor.user_id)
    except BaseException:
        # The rows roll back with the caller's transaction; the file must go with them.
        path.unlink(missing_ok=True)
        raise
    return SentImage(document=document, link=link)


def stored_file(document: OrderDocument) -> Path:
    """The file of a stored document; refused when it is gone."""
    if not document.path:
        raise Refused("This document has no file.")
    path = (documents_dir() / document.path).resolve()
    if not path.is_relative_to(documents_dir().resolve()) or not path.is_file():
        raise Refused("This document's file is no longer kept.")
    return path
