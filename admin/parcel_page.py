"""The parcel page (R-LOCK, R-WF-5): replaces the generic details page of parcels for every role
that reads parcels.

What it shows, loaded in the person's scoped session (a merchant reads only its own parcels:
another merchant's parcel, its events and payment read as missing and the page answers 404, as
every details page does): the header (barcode, status, locker and cell, recipient with a tap-to-call
phone and SMS language, declared amount with paid / to collect, drop mode and date, the cell's
reservation deadline and the storage deadline, the journey's times), the status controls
(``services.status.status_panel``: the moves the workflow gives this person's role; posting goes
through ``change_status``; grant parcels "action:change_status"), a "Print sticker" link (grant
parcels "action:print_sticker"; the sticker route is the stickers' module's), and the tabs: status
history, the journey's events (``ParcelEvent``; grant parcel_events list), the payment at the
locker with the change credited to the buyer's phone (grant parcel_payments list), the change log.
"""

from __future__ import annotations

from typing import Any

from sqladmin import expose
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from admin.operations import (
    require_actor,
    require_grant,
    run_and_flash,
    run_in_transaction,
    status_change_from_form,
)
from admin.printing import ParcelPrintView
from locales import format_date, format_decimal, get_language, gettext, language_name
from schema.lockers import Parcel, ParcelEvent, ParcelPayment, PhoneCredit
from services.status import history, state_labels, status_panel
from services.terminal import reset_pickup_code

PARCEL_STATUS = "status"


def load_parcel_page(session: Session, parcel_id: int) -> dict[str, Any]:
    """The parcel and its journey, or {} when this person has no such parcel."""
    parcel = session.scalar(
        select(Parcel).where(Parcel.id == parcel_id)
        .options(selectinload(Parcel.locker), selectinload(Parcel.cell),
                 selectinload(Parcel.merchant), selectinload(Parcel.courier),
                 selectinload(Parcel.order)))
    if parcel is None:
        return {}
    payment = session.scalar(select(ParcelPayment).where(ParcelPayment.parcel_id == parcel.id))
    credit = session.scalar(select(PhoneCredit).where(PhoneCredit.payment_id == payment.id)) \
        if payment is not None else None
    return {
        "parcel": parcel,
        "events": session.scalars(select(ParcelEvent).where(ParcelEvent.parcel_id == parcel.id)
                                  .order_by(ParcelEvent.at, ParcelEvent.id)).all(),
        "payment": payment,
        "credit": credit,
        # What the buyer still pays at the locker: the declared amount until it is paid.
        "to_collect": parcel.declared_price
        if parcel.declared_price and not parcel.paid else None,
    }


def sticker_url(request: Request, parcel_id: int) -> str:
    """The parcel's sticker PDF (GET /admin/parcels/{id}/sticker.pdf, the stickers' route)."""
    base = str(request.url_for("admin:list", identity="parcels")).rsplit("/list", 1)[0]
    return f"{base}/{parcel_id}/sticker.pdf"


class ParcelPage:
    """The parcel page's context and its status form; mixed into the parcels' view."""

    details_template = "postdesk/parcel_details.html"

    async def details_context(self, request: Request) -> dict[str, Any]:
        context: dict[str, Any] = await super().details_context(request)  # type: ignore[misc]
        pk = request.path_params.get("pk", "")
        if not pk.isdigit():
            return context
        actor, lang = require_actor(), get_language()
        view: Any = self
        access = view._authorization_backend()

        def load(session: Session) -> dict[str, Any]:
            page = load_parcel_page(session, int(pk))
            if not page:
                return {}
            panel = status_panel(session, actor, "parcels", page["parcel"], PARCEL_STATUS, lang)
            return page | {
                "panel": panel,
                "state_names": state_labels(session, panel.workflow, lang) if panel else {},
                "status_history": history(session, "parcels", int(pk)),
            }

        context.update(await run_in_transaction(view.session_maker, load))
        if context.get("parcel") is None:
            return context
        context["can"] = {
            "change_status": view.has_permission(request, "action:change_status"),
            "print_sticker": view.has_permission(request, "action:print_sticker"),
            "reset_code": view.has_permission(request, "action:reset_code"),
            "events": access.has_permission(request, "parcel_events", "list"),
            "payment": access.has_permission(request, "parcel_payments", "list"),
            "locker": access.has_permission(request, "lockers", "details"),
            "order": access.has_permission(request, "orders", "details"),
        }
        context["sticker_url"] = sticker_url(request, int(pk))
        context["language_name"] = language_name
        context["format_date"] = format_date
        context["format_decimal"] = format_decimal
        return context

    @expose("/{pk}/status", methods=["POST"])
    async def post_status(self, request: Request) -> Response:
        view: Any = self
        require_grant(view, request, "change_status")
        if not str(request.path_params.get("pk", "")).isdigit():
            raise HTTPException(status_code=404)
        actor, parcel_id = require_actor(), int(request.path_params["pk"])
        form = await request.form()
        await run_and_flash(
            request, view.session_maker,
            status_change_from_form(actor, "parcels", parcel_id, PARCEL_STATUS, form),
            gettext("The status was changed."))
        return RedirectResponse(
            str(request.url_for("admin:details", identity="parcels", pk=parcel_id)),
            status_code=303)


    @expose("/{pk}/pickup-code", methods=["POST"])
    async def reset_code(self, request: Request) -> Response:
        """Staff unlock a parcel that refuses codes, or whose SMS was lost: a new code goes to
        the buyer by SMS (``services.terminal.reset_pickup_code``; grant "action:reset_code")."""
        view: Any = self
        require_grant(view, request, "reset_code")
        if not str(request.path_params.get("pk", "")).isdigit():
            raise HTTPException(status_code=404)
        parcel_id = int(request.path_params["pk"])
        await run_and_flash(
            request, view.session_maker, lambda session: reset_pickup_code(session, parcel_id),
            gettext("A new pickup code was sent to the buyer by SMS."))
        return RedirectResponse(
            str(request.url_for("admin:details", identity="parcels", pk=parcel_id)),
            status_code=303)


class ParcelView(ParcelPage, ParcelPrintView):
    """The parcels' view: the parcel page on the stickers' base (its group print stays)."""
