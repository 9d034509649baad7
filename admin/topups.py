"""Finance → "Record a top-up" and "Bank statement import": the accountant's ways in for the
merchants' prepaid money (``services.topups``).

"Record a top-up" (identity ``top_ups``): GET shows the form (merchant with its currency and
balance, amount, the payment's date in the reader's calendar, the bank's reference). POST calls
``record_top_up`` in one transaction; a refusal (zero, negative, too many decimals, a reference
already applied, …) is shown above the form as typed, status 400, nothing written. Success
redirects to ``?done=<entry id>``, which names the deposit and the merchant's balance now.

"Bank statement import" (identity ``statement_import``): upload a statement CSV → a preview
(``check_statement``: every line with the merchant it matched and whether it was already
applied, the per-merchant totals to apply; or every problem of the file, status 400, and no
way to apply) → "Apply" posts the same file back (carried in the page, base64) to
``import_statement``, which checks it again and applies each line once, and shows the summary:
applied, already applied, per-merchant totals. All texts are in the reader's language.

Access: the page identities in the access matrix (the accountant's ``list``). Neither page
reads another thing than merchants' names, currencies and balances; the balance is never a
form field anywhere (``Merchant.balance`` is a service field, and ``services.ledger`` refuses any
other change of it).
"""

from __future__ import annotations

import base64
import binascii
from datetime import date
from decimal import Decimal
from typing import Any

from sqladmin import BaseView, expose
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from admin.cart_lookups import whole_number
from admin.operations import form_date, form_text, require_actor, run_in_transaction
from locales import format_date, format_number, get_language, gettext, lazy_gettext, parse_amount
from schema.lockers import LedgerEntry
from schema.people import Merchant
from services.errors import Refused
from services.topups import (
    MAX_FILE_BYTES,
    StatementInvalid,
    StatementSummary,
    TopUpRefused,
    check_statement,
    import_statement,
    record_top_up,
)


def parse_top_up_amount(raw: str | None) -> Decimal:
    """An amount as typed (``locales.parse_amount``: any script's digits, ``.`` or ``,``)."""
    try:
        amount = parse_amount(raw)
    except ValueError:
        raise TopUpRefused("The amount %(amount)s is not a number; write it like 1500.50.",
                           amount=(raw or "").strip()) from None
    if amount is None:
        raise TopUpRefused("Enter the amount received.")
    return amount


def _merchants(session: Session) -> list[dict[str, Any]]:
    return [{"id": m.id, "name": m.name, "currency": m.currency, "balance": m.balance}
            for m in session.scalars(select(Merchant).where(Merchant.active.is_(True))
                                     .order_by(Merchant.name))]


class TopUpView(BaseView):
    name = lazy_gettext("Record a top-up")
    icon = "fa-solid fa-money-bill-transfer"
    category = lazy_gettext("Finance")
    identity = "top_ups"

    async def _page(self, request: Request, *, values: dict[str, str] | None = None,
                    error: str | None = None, done: dict[str, Any] | None = None,
                    status_code: int = 200) -> Response:
        merchants = await run_in_transaction(self._admin_ref.session_maker, _merchants)
        response = await self.templates.TemplateResponse(request, "postdesk/top_up.html", {
            "title": self.name, "merchants": merchants, "values": values or {},
            "error": error, "done": done, "today": date.today(),
        })
        response.status_code = status_code
        return response

    @expose("/top-up", methods=["GET"], identity="top_ups")
    async def page(self, request: Request) -> Response:
        done = None
        done_id = request.query_params.get("done", "")
        if done_id.isdigit():
            def load(session: Session) -> dict[str, Any] | None:
                entry = session.get(LedgerEntry, int(done_id))
                if entry is None or entry.reference is None:
                    return None
                merchant = session.get(Merchant, entry.merchant_id)
                assert merchant is not None
                return {"amount": entry.amount, "currency": entry.currency,
                        "reference": entry.reference, "merchant": merchant.name,
                        "balance": merchant.balance, "day": entry.at.date()}

            done = await run_in_transaction(self._admin_ref.session_maker, load)
        return await self._page(request, done=done)

    @expose("/top-up", methods=["POST"], identity="top_ups_save")
    async def save(self, request: Request) -> Response:
        actor, form = require_actor(), await request.form()
        values = {k: str(form.get(k) or "") for k in ("merchant_id", "amount", "day",
                                                       "reference")}
        try:
            merchant_id = whole_number(form.get("merchant_id"), gettext("Merchant"))
            if merchant_id is None:
                raise TopUpRefused("Choose the merchant that paid.")
            amount = parse_top_up_amount(form_text(form, "amount"))
            day = form_date(form, "day") or date.today()
            reference = form_text(form, "reference")

            def work(session: Session) -> int:
                return record_top_up(session, actor, merchant_id, amount, day, reference).id

            entry_id = await run_in_transaction(self._admin_ref.session_maker, work)
        except Refused as refusal:
            return await self._page(request, values=values, error=refusal.render(gettext),
                                    status_code=400)
        url = request.url_for("admin:view-top_ups").include_query_params(done=entry_id)
        return RedirectResponse(str(url), status_code=303)


class StatementImportView(BaseView):
    name = lazy_gettext("Bank statement import")
    icon = "fa-solid fa-file-import"
    category = lazy_gettext("Finance")
    identity = "statement_import"

    async def _page(self, request: Request, status_code: int = 200, **context: Any) -> Response:
        response = await self.templates.TemplateResponse(
            request, "postdesk/statement_import.html",
            {"title": self.name, "max_mb": MAX_FILE_BYTES // (1024 * 1024), "summary": None,
             "problems": None, "error": None, "applied": False, "payload": "",
             "language": get_language(), "format_number": format_number,
             "format_date": format_date, **context})
        response.status_code = status_code
        return response

    @expose("/bank-statement", methods=["GET"], identity="statement_import")
    async def page(self, request: Request) -> Response:
        return await self._page(request)

    async def _run(self, request: Request, data: bytes, *, apply: bool) -> Response:
        actor = require_actor()

        def work(session: Session) -> StatementSummary:
            if apply:
                return import_statement(session, actor, data)
            return check_statement(session, data)

        try:
            summary = await run_in_transaction(self._admin_ref.session_maker, work)
        except StatementInvalid as invalid:
            return await self._page(
                request, 400, error=invalid.render(gettext),
                problems=[p.render(gettext) for p in invalid.problems])
        except Refused as refusal:
            return await self._page(request, 400, error=refusal.render(gettext))
        payload = "" if apply else base64.b64encode(data).decode("ascii")
        return await self._page(request, summary=summary, applied=apply, payload=payload)

    @expose("/bank-statement/preview", methods=["POST"], identity="statement_import_preview")
    async def preview(self, request: Request) -> Response:
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            return await self._page(request, 400,
                                    error=gettext("Choose the statement file (CSV)."))
        data = await upload.read(MAX_FILE_BYTES + 1)
        return await self._run(request, data, apply=False)

    @expose("/bank-statement/apply", methods=["POST"], identity="statement_import_apply")
    async def apply(self, request: Request) -> Response:
        form = await request.form()
        try:
            data = base64.b64decode(str(form.get("payload") or ""), validate=True)
        except (binascii.Error, ValueError):
            data = b""
        if not data:
            return await self._page(request, 400,
                                    error=gettext("Choose the statement file (CSV)."))
        return await self._run(request, data, apply=True)
