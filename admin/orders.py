"""The orders' pages beyond the generated ones: detail operations, the bin, bulk actions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
from sqladmin import action, expose
from sqladmin.flash import flash
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

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
from admin.printing import bulk_print as print_orders
from admin.printing import order_print_context
from admin.views import PostdeskView
from locales import get_language, gettext, lazy_gettext
from schema.couriers import Courier
from schema.orders import OperatorAssignment, Order, OrderDocument, OrderMessage
from schema.people import User
from schema.shipping import PostalSystem
from services.actor import Actor
from services.bulk import apply_each
from services.documents import KIND_LABELS
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


class OrderView(ManualOrderEntry, PostdeskView):
    details_template = "postdesk/order_details.html"

    def details_query(self, request: Request) -> Select:
        return super().details_query(request).where(Order.deleted_at.is_(None))

    def form_edit_query(self, request: Request) -> Select:
        return super().form_edit_query(request).where(Order.deleted_at.is_(None))

    async def details_context(self, request: Request) -> dict[str, Any]:
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
            order = session.get(Order, int(pk))
            if order is None:
                return {}
            panels = [status_panel(session, actor, "orders", order, f, lang)
                      for f in ORDER_STATUS_FIELDS]
            shown = [p for p in panels if p is not None]
            return {
                "order": order,
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
                | {"list_documents": list_documents, "open_documents": open_documents},
            }

        context.update(await run_in_transaction(self.session_maker, load))
        if context.get("order") is not None:
            context.update(await order_print_context(self, request, int(pk)))  # Print card
        return context

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
