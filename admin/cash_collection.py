"""Lockers → Cash to collect: the cash collector's page, phone-first (R-LOCK-7).

GET lists, per locker and currency, the cash the terminal took since the last collection
(``services.cash_collection.cash_in_lockers``): first the lockers **due** (at or above the
threshold, or waiting longer than the setting's days), then the others holding cash. Each card
shows the locker's code, name and address, the expected amount, the number of cash payments and
since when, and a form: the counted amount and a note (required when the count differs).

POST records the act through ``record_collection`` in one transaction as the signed-in user; a
refusal (a difference without a note, nothing left to collect — a second act for the same
payments —, an unreadable amount) answers the page again with the reason on that locker's card
and what was typed, status 400, nothing written. Success redirects to ``?done=<id>``, which
shows the act's figures (expected, counted, difference) and the link to its PDF (the
``cash_collection`` document, ``/admin/print/cash-collection/{id}``).

Access: the page's identity ``cash_to_collect`` (``list``: cash collector); recording also needs
``create`` on ``cash_collections``. The generic "new cash collection" form leads here
(``admin.app``), so no act is written past the service.
"""

from __future__ import annotations

from sqladmin import BaseView, expose
from sqladmin.flash import flash
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from admin.cart_lookups import whole_number
from admin.operations import form_text, require_actor, run_in_transaction
from locales import gettext, lazy_gettext
from schema.lockers import CashCollection
from services.cash_collection import LockerCash, cash_in_lockers, record_collection
from services.errors import Refused

NOTE_LIMIT = 2000


class CashToCollectView(BaseView):
    name = lazy_gettext("Cash to collect")
    icon = "fa-solid fa-sack-dollar"
    category = lazy_gettext("Lockers")
    identity = "cash_to_collect"

    async def _page(self, request: Request, *, form: FormData | None = None,
                    error: str | None = None, status_code: int = 200) -> Response:
        done = whole_number(request.query_params.get("done"), "done") if form is None else None

        def load(session: Session) -> tuple[list[LockerCash], CashCollection | None]:
            act = None
            if done is not None:
                act = session.scalar(select(CashCollection).where(CashCollection.id == done)
                                     .options(joinedload(CashCollection.locker)))
                if act is not None:
                    session.expunge(act)
            return cash_in_lockers(session), act

        lockers, act = await run_in_transaction(self._admin_ref.session_maker, load)
        can_record = self._authorization_backend().has_permission(
            request, "cash_collections", "create")
        can_print = self._authorization_backend().has_permission(
            request, "cash_collections", "details")
        failed = None
        if form is not None:
            failed = (form_text(form, "locker_id"), form_text(form, "currency"))
        return await self.templates.TemplateResponse(request, "postdesk/cash_to_collect.html", {
            "title": self.name, "due": [c for c in lockers if c.due],
            "other": [c for c in lockers if not c.due], "act": act, "error": error,
            "failed": failed, "values": form or FormData(), "can_record": can_record,
            "can_print": can_print,
        }, status_code=status_code)

    @expose("/cash-to-collect", methods=["GET"], identity="cash_to_collect")
    async def page(self, request: Request) -> Response:
        try:
            return await self._page(request)
        except Refused:  # a "done" that is not a number
            raise HTTPException(status_code=404) from None

    @expose("/cash-to-collect", methods=["POST"], identity="cash_to_collect_record")
    async def record(self, request: Request) -> Response:
        actor = require_actor()
        if not self._authorization_backend().has_permission(
                request, "cash_collections", "create"):
            raise HTTPException(status_code=403)
        form = await request.form()
        try:
            locker_id = whole_number(form.get("locker_id"), gettext("Parcel locker"))
            if locker_id is None:
                raise HTTPException(status_code=400)
            counted = (form_text(form, "counted") or "")[:40]
            note = (form_text(form, "note") or "")[:NOTE_LIMIT]
            currency = (form_text(form, "currency") or "")[:3] or None

            def work(session: Session) -> int:
                return record_collection(session, actor, locker_id, counted, note,
                                         currency=currency).id

            act_id = await run_in_transaction(self._admin_ref.session_maker, work)
        except Refused as refusal:
            return await self._page(request, form=form, error=refusal.render(gettext),
                                    status_code=400)
        flash(request, gettext("The cash collection was recorded."), category="success")
        url = request.url_for("admin:view-cash_to_collect").include_query_params(done=act_id)
        return RedirectResponse(str(url), status_code=303)
