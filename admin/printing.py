"""Printing from the admin: an order's documents, group print of orders, the courier's route
sheet (a courier's own from My tasks), cash-collection acts, payout and merchant statements, the
invoice image by SMS, the documents kept with an order, the buyer's signed links, and a locker
parcel's stickers — one parcel's at ``/admin/parcels/{id}/sticker.pdf?layout=label|a4|dropoff|zpl``
and the selected parcels' from the parcel list (R-DOC-1/2, R-ORD-5, R-ORD-8, R-LOCK-3).

A handler checks the person's grant for the table the document is about (``details`` on
orders, couriers, cash collections, payouts, order documents; ``list`` on the merchant ledger and
on My tasks), reads the data in the person's session — so merchant, operator and courier scoping
apply and another merchant's order answers 404 — and renders the PDF off the event loop.
Documents are downloads (GET); sending the invoice by SMS changes state and is a POST with the
CSRF token.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI
from markupsafe import Markup
from sqladmin import Admin, BaseView, action, expose
from sqladmin.flash import flash
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from admin.operations import form_text, require_actor, run_in_transaction, selected_ids
from admin.views import PostdeskView
from locales import (
    LANGUAGES,
    format_decimal,
    get_language,
    gettext,
    language_name,
    lazy_gettext,
    ngettext,
)
from reports.batch import render_job
from reports.documents import (
    DOCUMENTS,
    GROUP_DOCUMENTS,
    ORDER_DOCUMENTS,
    PARCEL_DOCUMENTS,
    PARCEL_LAYOUTS,
    DocumentKind,
    DocumentNotFound,
    PrintJob,
    PrintRequest,
    Subject,
    document,
    load_parcels,
    prepare,
)
from reports.images import document_png
from reports.zpl import parcel_zpl
from schema.couriers import Courier
from schema.customers import Customer
from schema.lockers import CashCollection, Parcel, Payout
from schema.orders import Order, OrderDocument
from schema.people import Merchant
from services.actor import Actor, acting_as
from services.documents import (
    read_link,
    send_invoice_image,
    stored_file,
    summary_token,
)
from services.errors import Refused
from services.jobs import DIRECT_LIMIT, runner_for, start_print_job

SEND_INVOICE_GRANT = "action:send_invoice_sms"
# Printing a parcel's stickers, one or many: the matrix's grant, and the parcel list's action
# (sqladmin writes an action's name with hyphens in its URL and in the grant it asks for).
PRINT_STICKER_GRANT = "action:print_sticker"
PRINT_STICKER = "print-sticker"
# A parcel group print is rendered in the answer (no background job: those count orders);
# 400 parcels are 100 A4 sheets, a few seconds of rendering.
PARCEL_PRINT_LIMIT = 400


def install(app: FastAPI, admin: Admin, factory: sessionmaker[Session], secret_key: str) -> None:
    """Keep the key that signs buyers' links and serve those links at ``/documents``."""
    admin.admin.state.document_secret = secret_key
    app.mount("/documents", document_links(factory, secret_key))


def language_choices() -> list[tuple[str, str]]:
    """(code, name in its own language) of every language a document prints in."""
    return [(code, language_name(code)) for code in LANGUAGES]


def _secret(request: Request) -> str:
    return str(request.app.state.document_secret)


def links_base(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}/documents/"


def _language(request: Request) -> str:
    wanted = request.query_params.get("language")
    return wanted if wanted in LANGUAGES else get_language()


def _day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise Refused("Enter the date as YYYY-MM-DD.") from exc


def _pdf(pdf: bytes, filename: str, inline: bool = True) -> Response:
    disposition = "inline" if inline else "attachment"
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'{disposition}; filename="{filename}"'})


def _allowed(view: BaseView | PostdeskView, request: Request, table: str,
             action: str = "details") -> bool:
    return view._authorization_backend().has_permission(request, table, action)


async def build_pdf(factory: sessionmaker[Session], actor: Actor, code: str,
                    layout: str | None, print_request: PrintRequest, lang: str) -> PrintJob:
    """Read what to print as ``actor`` (scoping applies); the PDF is rendered afterwards."""

    def load(session: Session) -> PrintJob:
        with acting_as(actor):
            return prepare(session, code, layout, print_request, lang)

    return await run_in_transaction(factory, load)


async def render(job: PrintJob) -> bytes:
    # CPU-bound, and a group print spreads over worker processes: keep the loop free.
    return await anyio.to_thread.run_sync(render_job, job)


class PrintView(BaseView):
    """Document downloads; each route checks the grant of the table it prints from."""

    name = lazy_gettext("Print")
    identity = "print"

    def is_visible(self, request: Request) -> bool:
        return False

    def is_accessible(self, request: Request) -> bool:
        return getattr(request.state, "user", None) is not None

    async def _respond(self, request: Request, kind: DocumentKind, print_request: PrintRequest,
                       back: str, grant: str = "details", table: str | None = None) -> Response:
        """Check ``grant`` on ``table`` (the document's own table unless a page prints it under
        another grant), read as the person, render."""
        if not _allowed(self, request, table or kind.table, grant):
            raise HTTPException(status_code=403)
        actor = require_actor()
        try:
            job = await build_pdf(self._admin_ref.session_maker, actor, kind.code,
                                  request.query_params.get("layout"), print_request,
                                  _language(request))
        except DocumentNotFound as exc:
            raise HTTPException(status_code=404) from exc
        except Refused as refusal:
            flash(request, refusal.render(gettext), category="danger")
            return RedirectResponse(back, status_code=303)
        return _pdf(await render(job), job.filename)

    @expose("/print/order/{pk:int}", methods=["GET"], identity="print_order")
    async def order(self, request: Request) -> Response:
        pk = request.path_params["pk"]
        code = request.query_params.get("document") or "invoice"
        kind = document_or_404(code, (Subject.ORDER, Subject.ORDERS))
        back = str(request.url_for("admin:details", identity="orders", pk=pk))
        return await self._respond(request, kind, PrintRequest(
            ids=(pk,), reason=request.query_params.get("reason") or None), back)

    @expose("/print/order/{pk:int}/document/{doc_id:int}", methods=["GET"],
            identity="print_stored")
    async def stored_document(self, request: Request) -> Response:
        """A document kept with the order (the invoice image sent by SMS): the order page's
        Documents tab links here."""
        if not _allowed(self, request, "order_documents"):
            raise HTTPException(status_code=403)
        actor = require_actor()
        pk, doc_id = request.path_params["pk"], request.path_params["doc_id"]

        def find(session: Session) -> Path | None:
            with acting_as(actor):
                # Scoped: an order the person may not see reads as missing, and so do its
                # documents; a document of another order is not reachable through this one.
                order = session.get(Order, pk)
                doc = session.get(OrderDocument, doc_id)
                if order is None or doc is None or doc.order_id != order.id:
                    return None
                return stored_file(doc)

        try:
            path = await run_in_transaction(self._admin_ref.session_maker, find)
        except Refused as exc:  # the file is gone
            raise HTTPException(status_code=404) from exc
        if path is None:
            raise HTTPException(status_code=404)
        return FileResponse(path, filename=path.name, content_disposition_type="inline")

    @expose("/print/courier/{pk:int}", methods=["GET"], identity="print_courier")
    async def courier(self, request: Request) -> Response:
        back = str(request.url_for("admin:list", identity="couriers"))
        return await self._route_sheet(request, request.path_params["pk"], back)

    @expose("/print/my-route-sheet", methods=["GET"], identity="print_my_route_sheet")
    async def my_route_sheet(self, request: Request) -> Response:
        """The signed-in courier's own route sheet, from My tasks. Couriers have no grant on
        the couriers table, so My tasks' grant lets them print, and only the courier record
        linked to their own user is printed."""
        if not _allowed(self, request, "my_tasks", "list"):
            raise HTTPException(status_code=403)
        back = str(request.url_for("admin:view-my_tasks"))
        user_id = require_actor().user_id

        def own_courier(session: Session) -> int | None:
            if user_id is None:  # "user_id == None" would match every courier without a user
                return None
            return session.scalar(select(Courier.id).where(Courier.user_id == user_id))

        courier_id = await run_in_transaction(self._admin_ref.session_maker, own_courier)
        if courier_id is None:
            flash(request, gettext("Your account is not linked to a courier, so there is no "
                                   "route sheet to print."), category="danger")
            return RedirectResponse(back, status_code=303)
        return await self._route_sheet(request, courier_id, back, grant="list", table="my_tasks")

    async def _route_sheet(self, request: Request, courier_id: int, back: str,
                           grant: str = "details", table: str | None = None) -> Response:
        try:
            day = _day(request.query_params.get("day"))
        except Refused as refusal:
            flash(request, refusal.render(gettext), category="danger")
            return RedirectResponse(back, status_code=303)
        return await self._respond(request, DOCUMENTS["route_sheet"], PrintRequest(
            ids=(courier_id,), day=day), back, grant, table)

    @expose("/print/cash-collection/{pk:int}", methods=["GET"], identity="print_cash")
    async def cash_collection(self, request: Request) -> Response:
        back = str(request.url_for("admin:list", identity="cash_collections"))
        return await self._respond(request, DOCUMENTS["cash_collection"], PrintRequest(
            ids=(request.path_params["pk"],)), back)

    @expose("/print/payout/{pk:int}", methods=["GET"], identity="print_payout")
    async def payout(self, request: Request) -> Response:
        back = str(request.url_for("admin:list", identity="payouts"))
        return await self._respond(request, DOCUMENTS["payout"], PrintRequest(
            ids=(request.path_params["pk"],)), back)

    @expose("/print/merchant-statement", methods=["GET"], identity="print_statement")
    async def merchant_statement(self, request: Request) -> Response:
        back = str(request.url_for("admin:view-merchant_statement"))
        actor = require_actor()
        params = request.query_params
        try:
            merchant_id = actor.merchant_id or int(params.get("merchant_id") or 0)
            print_request = PrintRequest(merchant_id=merchant_id,
                                         date_from=_day(params.get("date_from")),
                                         date_to=_day(params.get("date_to")))
        except (Refused, ValueError) as exc:
            message = exc.render(gettext) if isinstance(exc, Refused) else gettext(
                "Choose a merchant.")
            flash(request, message, category="danger")
            return RedirectResponse(back, status_code=303)
        return await self._respond(request, DOCUMENTS["merchant_statement"], print_request,
                                   back, grant="list")

    @expose("/parcels/{pk:int}/sticker.pdf", methods=["GET"], identity="parcel_sticker")
    async def parcel_sticker(self, request: Request) -> Response:
        """One parcel's sticker: ``layout`` label (100 × 150 mm, the default), a4 (on an A4
        sheet of four), dropoff (the sorting centre's) or zpl (ZPL II text for a thermal
        printer). Scoped: a merchant's request for another merchant's parcel answers 404."""
        pk = request.path_params["pk"]
        layout = request.query_params.get("layout") or "label"
        back = str(request.url_for("admin:details", identity="parcels", pk=pk))
        if layout == "zpl":
            return await self._parcel_zpl(request, pk)
        code = PARCEL_LAYOUTS.get(layout)
        if code is None:
            raise HTTPException(status_code=404)
        return await self._respond(request, DOCUMENTS[code], PrintRequest(ids=(pk,)), back,
                                   grant=PRINT_STICKER_GRANT)

    async def _parcel_zpl(self, request: Request, pk: int) -> Response:
        if not _allowed(self, request, "parcels", PRINT_STICKER_GRANT):
            raise HTTPException(status_code=403)
        actor, lang = require_actor(), _language(request)

        def load(session: Session) -> str:
            with acting_as(actor):
                return parcel_zpl(load_parcels(session, (pk,))[0], lang)

        try:
            text = await run_in_transaction(self._admin_ref.session_maker, load)
        except (DocumentNotFound, Refused) as exc:
            raise HTTPException(status_code=404) from exc
        return PlainTextResponse(text, headers={
            "Content-Disposition": f'inline; filename="parcel-{pk}.zpl"'})

    @expose("/print/order/{pk:int}/send-invoice", methods=["POST"], identity="print_send")
    async def send_invoice(self, request: Request) -> Response:
        pk = request.path_params["pk"]
        if not _allowed(self, request, "orders", SEND_INVOICE_GRANT):
            raise HTTPException(status_code=403)
        actor, form = require_actor(), await request.form()
        lang = form_text(form, "language") or get_language()
        secret, base = _secret(request), links_base(request)

        def work(session: Session) -> None:
            png = document_png(session, "invoice", "receipt", PrintRequest(ids=(pk,)), lang)
            send_invoice_image(session, actor, pk, png, lang=lang, secret_key=secret,
                               link_base=base)

        try:
            await run_in_transaction(self._admin_ref.session_maker, work)
        except DocumentNotFound as exc:
            raise HTTPException(status_code=404) from exc
        except Refused as refusal:
            flash(request, refusal.render(gettext), category="danger")
        else:
            flash(request, gettext("The invoice image was queued to the customer by SMS."),
                  category="success")
        return RedirectResponse(str(request.url_for("admin:details", identity="orders", pk=pk)),
                                status_code=303)


def document_or_404(code: str, subjects: tuple[Subject, ...]) -> DocumentKind:
    try:
        kind = document(code)
    except DocumentNotFound as exc:
        raise HTTPException(status_code=404) from exc
    if kind.subject not in subjects:
        raise HTTPException(status_code=404)
    return kind


class MerchantStatementView(BaseView):
    """Finance → Merchant statement: a merchant (a merchant user: its own) and a period."""

    name = lazy_gettext("Merchant statement")
    icon = "fa-solid fa-file-invoice-dollar"
    category = lazy_gettext("Finance")
    identity = "merchant_statement"

    def is_accessible(self, request: Request) -> bool:
        return _allowed(self, request, "ledger_entries", "list")

    @expose("/merchant-statement", methods=["GET"], identity="merchant_statement")
    async def page(self, request: Request) -> Response:
        actor = require_actor()

        def load(session: Session) -> list[Merchant]:
            with acting_as(actor):
                return list(session.scalars(select(Merchant).order_by(Merchant.name)))

        merchants = await run_in_transaction(self._admin_ref.session_maker, load)
        today = date.today()
        return await self.templates.TemplateResponse(request, "postdesk/merchant_statement.html", {
            "title": self.name, "merchants": merchants, "own": actor.merchant_id,
            "date_from": today.replace(day=1).isoformat(), "date_to": today.isoformat(),
            "print_languages": language_choices(),
        })


# --- rows with a print button ----------------------------------------------------------------


def _row_button(url: str, text: str) -> Markup:
    return Markup('<a class="btn btn-sm btn-outline-secondary ms-2" target="_blank" '
                  'href="{}"><i class="fa-solid fa-print"></i> {}</a>').format(url, text)


def _with_print_button(route: str, label: str) -> Callable[[Any, Any, Request], Markup]:
    def fmt(model: Any, _attr: Any, request: Request) -> Markup:
        url = request.url_for(route, pk=model.id)
        return Markup("{}{}").format(model.id, _row_button(str(url), gettext(label)))

    return fmt


class PayoutView(PostdeskView):
    """A payout row prints its statement."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.column_formatters = {**cls.column_formatters, "id": _with_print_button(
            "admin:view-print_payout", "Payout statement")}


class CashCollectionView(PostdeskView):
    """A cash-collection row prints its act."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.column_formatters = {**cls.column_formatters, "id": _with_print_button(
            "admin:view-print_cash", "Cash-collection act")}


def route_sheet_button(request: Request, courier_id: int | None = None) -> Markup:
    """The route-sheet form: a day, then the PDF in a new tab. On a courier row
    (``courier_id``) it is an icon beside the name; on My tasks (no ``courier_id``) it prints
    the signed-in courier's own sheet, asks the language too and says what it does."""
    own = courier_id is None
    url = (request.url_for("admin:view-print_my_route_sheet") if own
           else request.url_for("admin:view-print_courier", pk=courier_id))
    title = gettext("Print my route sheet") if own else gettext("Courier route sheet")
    language = Markup("")
    if own:
        options = Markup("").join(
            Markup('<option value="{}"{}>{}</option>').format(
                code, Markup(" selected") if code == get_language() else "", name)
            for code, name in language_choices())
        language = Markup('<select name="language" class="form-select form-select-sm" '
                          'aria-label="{}">{}</select>').format(gettext("Language"), options)
    return Markup(
        '<form class="d-inline-flex gap-1 ms-2" method="GET" target="_blank" action="{}">'
        '<input type="date" name="day" class="form-control form-control-sm" value="{}" '
        'aria-label="{}">{}'
        '<button type="submit" class="btn btn-sm btn-outline-secondary text-nowrap" title="{}">'
        '<i class="fa-solid fa-route{}"></i>{}</button></form>'
    ).format(str(url), date.today().isoformat(), gettext("Date"), language, title,
             " me-1" if own else "", title if own else "")


# --- the order page and the order list -------------------------------------------------------


async def order_print_context(view: PostdeskView, request: Request, order_id: int
                              ) -> dict[str, Any]:
    """What the order page's Print card needs."""

    def customer_language(session: Session) -> str | None:
        return session.scalar(select(Customer.language).join(
            Order, Order.customer_id == Customer.id).where(Order.id == order_id))

    sms_language = await run_in_transaction(view.session_maker, customer_language)
    return {
        "sms_language": sms_language if sms_language in LANGUAGES else get_language(),
        "print_documents": ORDER_DOCUMENTS + tuple(
            d for d in GROUP_DOCUMENTS if d.subject == Subject.ORDERS),
        "print_languages": language_choices(),
        "print_url": str(request.url_for("admin:view-print_order", pk=order_id)),
        "send_invoice_url": str(request.url_for("admin:view-print_send", pk=order_id)),
        "can_send_invoice": view.has_permission(request, SEND_INVOICE_GRANT),
        "summary_link": links_base(request) + summary_token(_secret(request), order_id,
                                                             get_language()),
    }


async def bulk_print(view: PostdeskView, request: Request, ids: list[int], form: Any, *,
                     documents: tuple[DocumentKind, ...] = GROUP_DOCUMENTS) -> Response:
    """Group print (R-ORD-5): one document per selected record — or one labels sheet — in one
    PDF. The first POST shows the choice; the second renders: up to ``DIRECT_LIMIT`` orders in
    the answer itself, more as a background job (``services.jobs``) whose page shows its
    progress and offers the file, kept a day under Downloads. Parcels (``documents`` =
    ``PARCEL_DOCUMENTS``, from the parcel list) are always rendered in the answer, up to
    ``PARCEL_PRINT_LIMIT``."""
    parcels = all(d.subject in (Subject.PARCEL, Subject.PARCELS) for d in documents)
    back = request.url_for("admin:list", identity="parcels" if parcels else "orders")
    if form.get("confirm") != "1":
        templates = view._admin_ref.templates
        extra: dict[str, Any] = {}
        if parcels:
            extra = {
                "selected_text": gettext("Parcels selected: %(num)s")
                % {"num": format_decimal(len(ids))},
                "print_note": gettext("One PDF holds every selected parcel's sticker; the A4 "
                                      "layout puts four on a sheet."),
                "cancel_url": str(back),
            }
        return await templates.TemplateResponse(request, "postdesk/print_form.html", {
            "model_view": view, "ids": ids, "title": view.name_plural,
            "operation": PRINT_STICKER if parcels else "bulk-print", "documents": documents,
            "print_languages": language_choices(),
            "current_language": get_language(),
            "direct_limit": PARCEL_PRINT_LIMIT if parcels else DIRECT_LIMIT,
            "direct_limit_text": format_decimal(DIRECT_LIMIT), **extra,
        })
    code = form_text(form, "document") or documents[0].code
    kind = document_or_404(code, tuple({d.subject for d in documents}))
    lang = form_text(form, "language") or get_language()
    lang = lang if lang in LANGUAGES else get_language()
    layout = form_text(form, "layout")
    if parcels and len(ids) > PARCEL_PRINT_LIMIT:
        flash(request, gettext("Select at most %(num)s parcels to print at once.")
              % {"num": format_decimal(PARCEL_PRINT_LIMIT)}, category="danger")
        return RedirectResponse(back, 303)
    if not parcels and len(ids) > DIRECT_LIMIT:
        actor = require_actor()
        # In the starter's language; the pages translate it again for whoever reads them.
        title = "{} — {}".format(gettext(kind.label), ngettext(
            "%(num)s order", "%(num)s orders", len(ids)) % {"num": format_decimal(len(ids))})

        def queue(session: Session) -> int:
            return start_print_job(session, actor, document=kind.code,
                                   layout=kind.layout(layout).code, ids=ids, lang=lang,
                                   title=title,
                                   single_document=kind.subject == Subject.ORDERS).id

        try:
            job_id = await run_in_transaction(view.session_maker, queue)
        except DocumentNotFound as exc:
            raise HTTPException(status_code=404) from exc
        except Refused as refusal:
            flash(request, refusal.render(gettext), category="danger")
            return RedirectResponse(back, 303)
        runner_for(view.session_maker).wake()
        return RedirectResponse(request.url_for("admin:view-job", pk=job_id), 303)
    try:
        job = await build_pdf(view.session_maker, require_actor(), kind.code,
                              layout, PrintRequest(ids=tuple(ids)), lang)
    except Refused as refusal:
        flash(request, refusal.render(gettext), category="danger")
        return RedirectResponse(back, 303)
    return _pdf(await render(job), job.filename, inline=False)


class ParcelPrintView(PostdeskView):
    """The parcel list's group print: the selected parcels' stickers (label, A4 sheets or
    drop-off) in one PDF, through ``bulk_print``. The parcel page's view
    (``admin.parcel_page.ParcelView``) inherits from it to keep the action."""

    def has_permission(self, request: Request, action: str, obj: Any | None = None) -> bool:
        # The action is granted by the same matrix row as the one-parcel sticker route.
        if action == f"action:{PRINT_STICKER}":
            action = PRINT_STICKER_GRANT
        return super().has_permission(request, action, obj)

    @action(name=PRINT_STICKER, label=lazy_gettext("Print stickers"),
            add_in_detail=False, add_in_list=True)
    async def print_stickers(self, request: Request) -> Response:
        form = await request.form()
        ids = selected_ids(request, form)
        if not ids:
            flash(request, gettext("Select at least one parcel first."), category="warning")
            return RedirectResponse(request.url_for("admin:list", identity="parcels"), 303)
        return await bulk_print(self, request, ids, form, documents=PARCEL_DOCUMENTS)


# --- the buyer's links (no sign-in: the signed token is the permission) ----------------------


def document_links(factory: sessionmaker[Session], secret_key: str) -> Starlette:
    async def open_link(request: Request) -> Response:
        try:
            payload = read_link(secret_key, request.path_params["token"])
        except Refused as exc:
            raise HTTPException(status_code=404) from exc
        if "file" in payload:
            def find(session: Session) -> Any:
                doc = session.get(OrderDocument, int(payload["file"]))
                if doc is None:
                    raise Refused("This document's file is no longer kept.")
                return stored_file(doc)

            try:
                path = await run_in_transaction(factory, find)
            except Refused as exc:
                raise HTTPException(status_code=404) from exc
            return FileResponse(path, media_type="image/png")
        if payload.get("doc") == "summary":
            lang = str(payload.get("lang") or "en")

            def load(session: Session) -> PrintJob:
                with acting_as(None):
                    return prepare(session, "summary", None,
                                   PrintRequest(ids=(int(payload["order"]),)), lang)

            try:
                job = await run_in_transaction(factory, load)
            except Refused as exc:
                raise HTTPException(status_code=404) from exc
            return _pdf(await render(job), job.filename)
        raise HTTPException(status_code=404)

    return Starlette(routes=[Route("/{token:str}", open_link, methods=["GET"])])


# Cash collections and payouts get their print buttons, parcels their group print, through these
# bases (admin.customize).
BASES = {CashCollection: CashCollectionView, Payout: PayoutView, Parcel: ParcelPrintView}
