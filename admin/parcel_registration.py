"""The "Register a parcel" page (R-LOCK-2): a merchant user registers a parcel of its store, a
manager (or the superuser) chooses the store first.

GET shows the form: the store (staff only), the locker picker with each active locker's free
cells by size (optionally of one city, ``?city=``), the size, the recipient's name, phone and
SMS language, the declared amount to collect, the drop mode and date. POST parses the form
into ``services.parcels.ParcelInput`` and calls ``register_parcel`` in one transaction; a
refusal (no free cell — with the nearest locker when the setting offers it —, a locker out of
service, a bad phone, amount or date) is shown above the form as typed, status 400, nothing
written. Success redirects to ``?done=<id>``, which shows the parcel (read as the person, so
only one's own): barcode, locker, cell and size, reserved until, status, with links to its
page and its sticker.

Access: the page's identity ``parcel_registration`` in the access matrix (manager, merchant);
the parcels' generic create form leads here (``admin.app``), so no parcel is written past the
service.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqladmin import BaseView, expose
from sqladmin.flash import flash
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from admin.cart_lookups import whole_number
from admin.operations import form_date, form_text, require_actor, run_in_transaction
from admin.parcel_page import sticker_url
from locales import (
    LANGUAGES,
    format_date,
    get_language,
    gettext,
    language_name,
    lazy_gettext,
)
from schema.lockers import CellSize, DropMode, Locker, Parcel
from schema.people import Merchant
from services.actor import Actor
from services.errors import Refused
from services.parcels import (
    ParcelInput,
    ParcelRefused,
    free_cells_by_size,
    parse_amount,
    register_parcel,
    same_city,
)
from services.status import state_labels


def parcel_input_from_form(actor: Actor, form: FormData) -> ParcelInput:
    locker = whole_number(form.get("locker_id"), gettext("Parcel locker"))
    if locker is None:
        raise ParcelRefused("Choose the parcel locker.")
    return ParcelInput(
        locker_id=locker, size=form_text(form, "size") or "",
        recipient_name=form_text(form, "recipient_name"),
        recipient_phone=form_text(form, "recipient_phone"),
        recipient_language=form_text(form, "recipient_language") or "ru",
        declared_price=parse_amount(form_text(form, "declared_price")),
        drop_mode=form_text(form, "drop_mode") or DropMode.COURIER_PICKUP.value,
        drop_date=form_date(form, "drop_date"),
        # A merchant's own store is the actor's; staff choose it (services.parcels checks).
        merchant_id=None if actor.merchant_id is not None
        else whole_number(form.get("merchant_id"), gettext("Store")),
    )


def _typed_date(form: FormData | None) -> date | None:
    """The drop date typed before a refusal, to show it again (unreadable: empty)."""
    try:
        return form_date(form, "drop_date") if form is not None else None
    except Refused:
        return None


class ParcelRegistrationView(BaseView):
    name = lazy_gettext("Register a parcel")
    icon = "fa-solid fa-box-open"
    category = lazy_gettext("Lockers")
    identity = "parcel_registration"

    def _load(self, actor: Actor, city: str | None, done: int | None) -> Any:
        language = get_language()

        def load(session: Session) -> dict[str, Any]:
            lockers = [locker for locker in session.scalars(
                select(Locker).where(Locker.active.is_(True)).order_by(Locker.city, Locker.code))
                if not city or same_city(locker.city, city)]
            parcel = None
            if done is not None:
                parcel = session.scalar(  # scoped: a merchant reads only its own parcels
                    select(Parcel).where(Parcel.id == done)
                    .options(selectinload(Parcel.cell), selectinload(Parcel.locker)))
            return {
                "merchants": session.scalars(select(Merchant).where(Merchant.active.is_(True))
                                             .order_by(Merchant.name)).all()
                if actor.merchant_id is None else [],
                "lockers": lockers,
                "free": free_cells_by_size(session, [locker.id for locker in lockers]),
                "parcel": parcel,
                "status_labels": state_labels(session, "parcel", language),
            }

        return run_in_transaction(self._admin_ref.session_maker, load)

    async def _page(self, request: Request, form: FormData | None, error: str | None,
                    status_code: int = 200) -> Response:
        actor = require_actor()
        city = (request.query_params.get("city") or "").strip() or None
        done = whole_number(request.query_params.get("done"), "done") if form is None else None
        context = await self._load(actor, city, done)
        parcel = context["parcel"]
        return await self.templates.TemplateResponse(
            request, "postdesk/parcel_register.html", {
                **context, "title": self.name, "values": form or FormData(), "error": error,
                "city": city or "", "sizes": list(CellSize), "drop_modes": list(DropMode),
                "sms_languages": [(code, language_name(code)) for code in LANGUAGES],
                "sticker_url": sticker_url(request, parcel.id) if parcel is not None else None,
                "to_collect": parcel.declared_price if parcel is not None else None,
                "drop_date_text": format_date(parcel.drop_date)
                if parcel is not None and parcel.drop_date else None,
                "drop_value": _typed_date(form),
                "model_view": self,
            }, status_code=status_code)

    @expose("/parcel-registration", methods=["GET"], identity="parcel_registration")
    async def page(self, request: Request) -> Response:
        try:
            return await self._page(request, None, None)
        except Refused as refusal:  # a "done" that is not a number
            return await self._page(request, FormData(), refusal.render(gettext), 400)

    @expose("/parcel-registration", methods=["POST"], identity="parcel_registration_save")
    async def save(self, request: Request) -> Response:
        actor = require_actor()
        form = await request.form()
        try:
            data = parcel_input_from_form(actor, form)

            def work(session: Session) -> int:
                return register_parcel(session, actor, data, language=get_language()).id

            parcel_id = await run_in_transaction(self._admin_ref.session_maker, work)
        except Refused as refusal:
            return await self._page(request, form, refusal.render(gettext), status_code=400)
        flash(request, gettext("The parcel was registered and its cell reserved."),
              category="success")
        url = request.url_for("admin:view-parcel_registration").include_query_params(done=parcel_id)
        return RedirectResponse(str(url), status_code=303)

