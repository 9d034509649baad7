"""The orders' pages beyond the generated ones: the order page with its operations and small
edit forms (recipient, financial info, items, notes; services.order_edits), the bin, bulk
actions. The whole-record edit form of an order is replaced by the order page
(``order_page_instead``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import anyio
from sqladmin import action, expose
from sqladmin.authentication import login_required
from sqladmin.flash import flash
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from admin.manual_order import ManualOrderEntry
from admin.operations import (
    form_date,
    form_int,
    form_text,
    require_actor,
    require_grant,
    run_and_flash,
    run_in_transaction,
    selected_ids,
    status_change_from_form,
)
from admin.order_page import load_order_page
from admin.printing import bulk_print as print_orders
from admin.printing import order_print_context
from admin.views import PostdeskView
from locales import (
    ascii_number,
    format_date,
    format_decimal,
    get_language,
    gettext,
    gregorian_text,
    lazy_gettext,
)
from schema.couriers import Courier
from schema.orders import OperatorAssignment, Order, OrderDocument, OrderMessage
from schema.people import User
from schema.shipping import PostalSystem
from services import order_edits
from services.actor import Actor
from services.bulk import apply_each
from services.documents import KIND_LABELS
from services.errors import InvalidInput, Refused
from services.order_edits import OrderNotFound
from services.orders import (
    active_operators,
    assign_courier,
    assign_operator,
    delete_order,
    send_to_postal_system,
)
from services.status import history, state_labels, status_panel

ORDER_STATUS_FIELDS = ("status", "shipping_status", "courier_status")


class DeletedOrdersView(PostdeskView):
    """Orders moved to the bin (R-ORD-4): viewable and restorable, not editable."""

    def list_query(self, request: Request) -> Select:
        return super(PostdeskView, self).list_query(request).where(
            Order.deleted_at.is_not(None)
        )

    def details_query(self, request: Request) -> Select:
        return super().details_query(request).where(Order.deleted_at.is_not(None))

    @action(name="restore", label=lazy_gettext("Restore"), add_in_detail=True, add_in_list=True)
    async def restore(self, request: Request) -> RedirectResponse:
        for pk in selected_ids(request):
            await self.set_deleted(pk, None)
        return RedirectResponse(request.url_for("admin:list", identity=self.identity), 303)


def _details_url(request: Request, order_id: int) -> str:
    return str(request.url_for("admin:details", identity="orders", pk=order_id))


def _version(form: Any) -> int | None:
    """The order's version as the person saw it (the form's hidden field)."""
    return form_int(form, "version")


def _whole(form: Any, name: str, what: str) -> int | None:
    """A whole number as typed, in any of our languages' digits; a refusal otherwise."""
    value = form_text(form, name)
    if value is None:
        return None
    try:
        return int(ascii_number(value))
    except ValueError:
        raise InvalidInput("%(field)s must be a whole number.", field=what) from None


def _moment(value: str | None) -> datetime | None:
    """A date or date-time as typed (either calendar, any digits), read as UTC."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(gregorian_text(value))
    except ValueError:
        raise InvalidInput("Enter the payment date as YYYY-MM-DD or YYYY-MM-DD HH:MM.") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def order_page_instead(edit: Callable[[Request], Awaitable[Response]],
                       ) -> Callable[[Request], Awaitable[Response]]:
    """The whole-record order form is gone: an order is edited through the small forms of its
    page, so /orders/edit/<id> (GET or POST) leads there; other tables keep sqladmin's form."""
    admin = getattr(edit, "__self__", None)  # sqladmin's Admin: its edit checks stay

    @login_required  # signed in first (the actor and the grants load), as sqladmin's routes
    async def order_page(admin: Any, request: Request) -> Response:
        if not str(request.path_params.get("pk", "")).isdigit():
            raise HTTPException(status_code=404)
        await admin._edit(request)  # no edit grant: 403, as before
        view = admin._find_model_view("orders")
        if await view.get_object_for_details(request) is None:  # scoped: not theirs, 404
            raise HTTPException(status_code=404)
        return RedirectResponse(_details_url(request, int(request.path_params["pk"])),
                                status_code=303)

    async def endpoint(request: Request) -> Response:
        if request.path_params.get("identity") != "orders" or admin is None:
            return await edit(request)
        response: Response = await order_page(admin, request)
        return response

    return endpoint


class OrderView(ManualOrderEntry, PostdeskView):
    details_template = "postdesk/order_details.html"

    def details_query(self, request: Request) -> Select:
        return super().details_query(request).where(Order.deleted_at.is_(None))

    def form_edit_query(self, request: Request) -> Select:
        return super().form_edit_query(request).where(Order.deleted_at.is_(None))

    async def details_context(self, request: Request) -> dict[str, Any]:
        """The order page: the order and its surroundings (admin.order_page), the status
        panels, the histories and the forms this person may use."""
        context = await super().details_context(request)
        pk = request.path_params.get("pk", "")
        if not pk.isdigit():
            return context
        actor, lang = require_actor(), get_language()
        access = self._authorization_backend()
        open_documents = access.has_permission(request, "order_documents", "details")
        list_documents = open_documents or access.has_permission(
            request, "order_documents", "list")

        def load(session: Session) -> dict[str, Any]:
            page = load_order_page(session, int(pk))
            if not page:
                return {}
            order = page["order"]
            panels = [status_panel(session, actor, "orders", order, f, lang)
                      for f in ORDER_STATUS_FIELDS]
            shown = [p for p in panels if p is not None]
            return page | {
                "panels": shown,
                "state_names": {p.workflow: state_labels(session, p.workflow, lang) for p in shown},
                "status_history": history(session, "orders", order.id),
                "assignments": session.scalars(
                    select(OperatorAssignment).where(OperatorAssignment.order_id == order.id)
                    .options(selectinload(OperatorAssignment.from_operator),
                             selectinload(OperatorAssignment.to_operator))
                    .order_by(OperatorAssignment.id.desc())).all(),
                "messages": session.scalars(
                    select(OrderMessage).where(OrderMessage.order_id == order.id)
                    .options(selectinload(OrderMessage.operator))
                    .order_by(OrderMessage.id.desc())).all(),
                # Kept files (the invoice image sent by SMS), with who made each.
                "documents": session.execute(
                    select(OrderDocument, User)
                    .outerjoin(User, User.id == OrderDocument.created_by_id)
                    .where(OrderDocument.order_id == order.id)
                    .order_by(OrderDocument.id.desc())).all() if list_documents else [],
                "document_kinds": KIND_LABELS,
                "operators": active_operators(session),
                "couriers": session.scalars(
                    select(Courier).where(Courier.active).order_by(Courier.full_name)).all(),
                "postal_systems": session.scalars(
                    select(PostalSystem).where(PostalSystem.active)
                    .order_by(PostalSystem.name)).all(),
                "can": {name: self.has_permission(request, f"action:{name}") for name in (
                    "change_status", "assign_operator", "assign_courier", "send_to_postal")}
                | {"list_documents": list_documents, "open_documents": open_documents,
                   "edit": self.has_permission(request, "edit"),
                   "add_note": access.has_permission(request, "order_notes", "create"),
                   "customer": access.has_permission(request, "customers", "details"),
                   "transactions": access.has_permission(
                       request, "gateway_transactions", "list")},
            }

        context.update(await run_in_transaction(self.session_maker, load))
        if context.get("order") is not None:
            context.update(await order_print_context(self, request, int(pk)))  # Print card
            context["status_labels"] = getattr(request.state, "status_labels", {})
            context["format_date"] = format_date
            context["format_decimal"] = format_decimal
        return context

    # --- the order page's small forms (services.order_edits) ---------------------------
    async def _edit(self, request: Request, allowed: bool,
                    work: Callable[[Actor, int, Any], Callable[[Session], Any]],
                    success: str, anchor: str) -> Response:
        """Check the grant, parse and run one edit as the signed-in person, flash the outcome
        and go back to the order; another person's order (or none) is a 404."""
        if not allowed:
            raise HTTPException(status_code=403)
        actor, order_id = require_actor(), int(request.path_params["pk"])
        form = await request.form()
        try:
            await run_in_transaction(self.session_maker, work(actor, order_id, form))
        except OrderNotFound:
            raise HTTPException(status_code=404) from None
        except Refused as refusal:
            flash(request, refusal.render(gettext), category="danger")
        else:
            flash(request, success, category="success")
        return RedirectResponse(f"{_details_url(request, order_id)}#{anchor}", status_code=303)

    def _may_edit(self, request: Request) -> bool:
        return bool(self.has_permission(request, "edit"))

    @expose("/{pk:int}/recipient", methods=["POST"])
    async def post_recipient(self, request: Request) -> Response:
        return await self._edit(
            request, self._may_edit(request),
            lambda actor, oid, f: lambda s: order_edits.edit_recipient(
                s, actor, oid, _version(f), order_edits.RecipientInput(
                    name=form_text(f, "recipient_name"), phone=form_text(f, "recipient_phone"),
                    address=form_text(f, "recipient_address"),
                    city=form_text(f, "recipient_city"),
                    postcode=form_text(f, "recipient_postcode"),
                    customer_comment=form_text(f, "customer_comment"))),
            gettext("The recipient was saved."), "order-recipient")

    @expose("/{pk:int}/financial", methods=["POST"])
    async def post_financial(self, request: Request) -> Response:
        return await self._edit(
            request, self._may_edit(request),
            lambda actor, oid, f: lambda s: order_edits.edit_financial(
                s, actor, oid, _version(f), order_edits.FinancialInput(
                    order_type=form_text(f, "order_type"),
                    payment_method_id=_whole(f, "payment_method_id", gettext("Payment method")),
                    shipping_method_id=_whole(f, "shipping_method_id",
                                              gettext("Shipping method")),
                    bank_slip=form_text(f, "bank_slip"), cheque=form_text(f, "cheque"),
                    payment_info=form_text(f, "payment_info"),
                    payment_date=_moment(form_text(f, "payment_date")),
                    invoice_note=form_text(f, "invoice_note"))),
            gettext("The financial info was saved; the totals follow the rules."),
            "order-financial")

    @expose("/{pk:int}/lines", methods=["POST"])
    async def post_add_line(self, request: Request) -> Response:
        return await self._edit(
            request, self._may_edit(request),
            lambda actor, oid, f: lambda s: order_edits.add_line(
                s, actor, oid, _version(f), form_text(f, "sku") or "",
                _whole(f, "quantity", gettext("Quantity")),
                _whole(f, "warehouse_id", gettext("Warehouse"))),
            gettext("The line was added and the order re-priced."), "order-items")

    @expose("/{pk:int}/lines/{line_id:int}/quantity", methods=["POST"])
    async def post_line_quantity(self, request: Request) -> Response:
        line_id = int(request.path_params["line_id"])
        return await self._edit(
            request, self._may_edit(request),
            lambda actor, oid, f: lambda s: order_edits.set_line_quantity(
                s, actor, oid, _version(f), line_id,
                _whole(f, "quantity", gettext("Quantity"))),
            gettext("The quantity was changed and the order re-priced."), "order-items")

    @expose("/{pk:int}/lines/{line_id:int}/remove", methods=["POST"])
    async def post_remove_line(self, request: Request) -> Response:
        line_id = int(request.path_params["line_id"])
        return await self._edit(
            request, self._may_edit(request),
            lambda actor, oid, f: lambda s: order_edits.remove_line(
                s, actor, oid, _version(f), line_id),
            gettext("The line was removed and the order re-priced."), "order-items")

    @expose("/{pk:int}/notes", methods=["POST"])
    async def post_note(self, request: Request) -> Response:
        allowed = self._authorization_backend().has_permission(request, "order_notes", "create")
        return await self._edit(
            request, allowed,
            lambda actor, oid, f: lambda s: order_edits.add_note(
                s, actor, oid, form_text(f, "text")),
            gettext("The note was added."), "tab-notes")

    @expose("/{pk:int}/sellables", methods=["GET"])
    async def get_sellables(self, request: Request) -> Response:
        """Products and variants of the order's store for the add-line field (JSON)."""
        if not self._may_edit(request):
            raise HTTPException(status_code=403)
        order_id, text = int(request.path_params["pk"]), request.query_params.get("q", "")

        def find(session: Session) -> list[dict[str, str]]:
            order = order_edits.load_order(session, order_id)
            return order_edits.search_sellables(session, order.merchant_id, text)

        try:
            found = await run_in_transaction(self.session_maker, find)
        except Refused:
            raise HTTPException(status_code=404) from None
        return JSONResponse(found)

    # --- one order ------------------------------------------------------------------------
    async def _operate(self, request: Request, grant: str,
                       work: Callable[[Actor, int, Any], Callable[[Session], Any]],
                       success: str) -> Response:
        """Check the grant, run one service call as the signed-in person, go back to the order."""
        require_grant(self, request, grant)
        actor, order_id = require_actor(), int(request.path_params["pk"])
        form = await request.form()
        await run_and_flash(request, self.session_maker, work(actor, order_id, form), success)
        return RedirectResponse(_details_url(request, order_id), status_code=303)

    @expose("/{pk}/status", methods=["POST"])
    async def post_status(self, request: Request) -> Response:
        form = await request.form()
        field = form_text(form, "field") or "status"
        if field not in ORDER_STATUS_FIELDS:
            return Response(status_code=400)
        return await self._operate(
            request, "change_status",
            lambda actor, oid, f: status_change_from_form(actor, "orders", oid, field, f),
            gettext("The status was changed."))

    @expose("/{pk}/operator", methods=["POST"])
    async def post_operator(self, request: Request) -> Response:
        return await self._operate(
            request, "assign_operator",
            lambda actor, oid, f: lambda s: assign_operator(
                s, actor, oid, form_int(f, "operator_id") or 0, form_text(f, "comment")),
            gettext("The order was assigned to the operator."))

    @expose("/{pk}/courier", methods=["POST"])
    async def post_courier(self, request: Request) -> Response:
        language = get_language()
        return await self._operate(
            request, "assign_courier",
            lambda actor, oid, f: lambda s: assign_courier(
                s, actor, oid, form_int(f, "courier_id") or 0, language),
            gettext("The courier was assigned and notified by SMS."))

    @expose("/{pk}/postal", methods=["POST"])
    async def post_postal(self, request: Request) -> Response:
        language = get_language()
        return await self._operate(
            request, "send_to_postal",
            lambda actor, oid, f: lambda s: send_to_postal_system(
                s, actor, oid, form_int(f, "postal_system_id") or 0, form_text(f, "comment"),
                form_date(f, "effective_date"), language),
            gettext("The order was handed to the postal system."))

    # --- many orders (R-ORD-5) ------------------------------------------------------------
    async def delete_model(self, request: Request, pk: Any) -> None:
        # Deleting an order moves it to the bin through the service, so scoping applies.
        actor = require_actor()
        await run_in_transaction(self.session_maker, lambda s: delete_order(s, actor, int(pk)))
        await self._emit_audit(request, "delete", pk, None)

    @action(name="bulk-shipping-status", label=lazy_gettext("Set shipping status"),
            add_in_detail=False, add_in_list=True)
    async def bulk_shipping_status(self, request: Request) -> Response:
        return await self._bulk(request, "bulk-shipping-status")

    @action(name="bulk-send-to-postal", label=lazy_gettext("Send to a postal system"),
            add_in_detail=False, add_in_list=True)
    async def bulk_send_to_postal(self, request: Request) -> Response:
        return await self._bulk(request, "bulk-send-to-postal")

    @action(name="bulk-assign-operator", label=lazy_gettext("Assign an operator"),
            add_in_detail=False, add_in_list=True)
    async def bulk_assign_operator(self, request: Request) -> Response:
        return await self._bulk(request, "bulk-assign-operator")

    @action(name="bulk-delete", label=lazy_gettext("Move to deleted orders"),
            add_in_detail=False, add_in_list=True)
    async def bulk_delete(self, request: Request) -> Response:
        return await self._bulk(request, "bulk-delete")

    @action(name="bulk-print", label=lazy_gettext("Print documents"),
            add_in_detail=False, add_in_list=True)
    async def bulk_print(self, request: Request) -> Response:
        """Group print of invoices, stickers, labels... as one PDF (admin.printing)."""
        form = await request.form()
        ids = selected_ids(request, form)
        if not ids:
            flash(request, gettext("Select at least one order first."), category="warning")
            return RedirectResponse(request.url_for("admin:list", identity="orders"), 303)
        return await print_orders(self, request, ids, form)

    async def _bulk(self, request: Request, operation: str) -> Response:
        """First POST (from the list) shows the operation's form; the form's POST runs it."""
        form = await request.form()
        ids = selected_ids(request, form)
        context: dict[str, Any] = {"model_view": self, "operation": operation, "ids": ids,
                                   "title": self.name_plural}
        if not ids:
            flash(request, gettext("Select at least one order first."), category="warning")
            return RedirectResponse(request.url_for("admin:list", identity="orders"), 303)
        if form.get("confirm") != "1":
            context.update(await run_in_transaction(self.session_maker, self._bulk_choices))
            return await self._admin_ref.templates.TemplateResponse(
                request, "postdesk/bulk_form.html", context)
        actor = require_actor()
        run = self._bulk_operation(operation, actor, form)
        report = await _apply(self.session_maker, actor, ids, run)
        context["report"] = report
        return await self._admin_ref.templates.TemplateResponse(
            request, "postdesk/bulk_report.html", context)

    @staticmethod
    def _bulk_choices(session: Session) -> dict[str, Any]:
        return {
            "operators": active_operators(session),
            "postal_systems": session.scalars(select(PostalSystem).where(PostalSystem.active)
                                              .order_by(PostalSystem.name)).all(),
            "shipping_states": _shipping_states(session),
        }

    @staticmethod
    def _bulk_operation(operation: str, actor: Actor, form: Any) -> Any:
        lang = get_language()
        comment = form_text(form, "comment")
        if operation == "bulk-shipping-status":
            return lambda s, oid: status_change_from_form(
                actor, "orders", oid, "shipping_status", form)(s)
        if operation == "bulk-send-to-postal":
            system_id = form_int(form, "postal_system_id") or 0
            return lambda s, oid: send_to_postal_system(
                s, actor, oid, system_id, comment, form_date(form, "effective_date"), lang)
        if operation == "bulk-assign-operator":
            operator_id = form_int(form, "operator_id") or 0
            return lambda s, oid: assign_operator(s, actor, oid, operator_id, comment)
        return lambda s, oid: delete_order(s, actor, oid)


def _shipping_states(session: Session) -> list[tuple[str, str]]:
    return list(state_labels(session, "shipping_status", get_language()).items())


async def _apply(factory: Any, actor: Actor, ids: list[int], run: Any) -> Any:
    def describe(session: Session, order_id: int) -> str:
        number = session.scalar(select(Order.number).where(Order.id == order_id))
        return number or f"#{order_id}"

    return await anyio.to_thread.run_sync(lambda: apply_each(factory, actor, ids, run, describe))
