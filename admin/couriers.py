"""Couriers in the admin: each courier's orders and route sheet, and the courier's own "my tasks"
page (with its own route sheet)."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup
from sqladmin import BaseView, expose
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from admin.operations import (
    require_actor,
    run_and_flash,
    run_in_transaction,
    status_change_from_form,
)
from admin.printing import route_sheet_button
from admin.views import PostdeskView
from locales import get_language, gettext, lazy_gettext
from schema.couriers import Courier
from schema.lockers import Parcel
from schema.orders import Order
from services.status import status_panel

# What a courier moves on its tasks: the order's courier task, the parcel's lifecycle.
TASK_FIELDS = {"orders": "courier_status", "parcels": "status"}


class CourierView(PostdeskView):
    """A courier row carries a button that lists that courier's orders (R-COUR-2)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.column_formatters = {**cls.column_formatters, "full_name": _name_with_orders}


def _name_with_orders(model: Courier, _attr: Any, request: Request) -> Markup:
    url = request.url_for("admin:list", identity="orders").include_query_params(
        courier_id=model.id)
    return Markup('{} <a class="btn btn-sm btn-outline-primary ms-2" href="{}">'
                  '<i class="fa-solid fa-list"></i> {}</a>{}').format(
        model.full_name, str(url), gettext("Orders"), route_sheet_button(request, model.id))


class MyTasksView(BaseView):
    """The courier's own orders and parcels, moved through their workflows; nothing else."""

    name = lazy_gettext("My tasks")
    icon = "fa-solid fa-route"
    category = lazy_gettext("Delivery")
    identity = "my_tasks"

    @expose("/my-tasks", methods=["GET"], identity="my_tasks")
    async def page(self, request: Request) -> Response:
        actor, lang = require_actor(), get_language()

        def load(session: Session) -> dict[str, Any]:
            # Scoping gives a courier only its own orders and parcels.
            orders = session.scalars(
                select(Order).where(Order.deleted_at.is_(None), Order.courier_id.is_not(None))
                .order_by(Order.ordered_at.desc()).limit(200)).all()
            parcels = session.scalars(
                select(Parcel).where(Parcel.courier_id.is_not(None))
                .options(selectinload(Parcel.locker))
                .order_by(Parcel.id.desc()).limit(200)).all()
            tasks = [(o, status_panel(session, actor, "orders", o, "courier_status", lang))
                     for o in orders]
            tasks += [(p, status_panel(session, actor, "parcels", p, "status", lang))
                      for p in parcels]
            return {"tasks": [(record, panel) for record, panel in tasks if panel is not None]}

        context = await run_in_transaction(self._admin_ref.session_maker, load)
        return await self.templates.TemplateResponse(request, "postdesk/my_tasks.html", {
            **context, "title": self.name, "route_sheet_form": route_sheet_button(request)})

    @expose("/my-tasks/{table}/{pk}", methods=["POST"], identity="my_tasks_move")
    async def move(self, request: Request) -> Response:
        table = request.path_params["table"]
        if table not in TASK_FIELDS or not request.path_params["pk"].isdigit():
            raise HTTPException(status_code=404)
        actor, form = require_actor(), await request.form()
        work = status_change_from_form(actor, table, int(request.path_params["pk"]),
                                       TASK_FIELDS[table], form)
        await run_and_flash(request, self._admin_ref.session_maker, work,
                            gettext("The status was changed."))
        return RedirectResponse(str(request.url_for("admin:view-my_tasks")), status_code=303)
