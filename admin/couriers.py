"""Couriers in the admin: each courier's orders and route sheet, and the courier's own "my tasks"
page (with its own route sheet)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from markupsafe import Markup
from sqladmin import BaseView, expose
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload
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
from reports.data import (
    Money,
    cash_to_collect,
    day_bounds,
    parcel_cash_to_collect,
    totals_by_currency,
)
from schema.couriers import Courier
from schema.lockers import Parcel
from schema.orders import Order
from schema.workflows import StatusChange, Workflow, WorkflowState
from services.status import StatusPanel, status_panel

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


# At most this many tasks of each kind on one page: a courier's day is a few dozen stops.
TASK_LIMIT = 200


@dataclass(frozen=True)
class Task:
    """One stop of the courier's day, as the phone card shows it."""

    table: str
    record: Order | Parcel
    panel: StatusPanel
    code: str
    recipient: str
    phone: str | None
    phone_uri: str | None
    address: str | None
    map_url: str | None
    to_collect: Decimal
    currency: str
    closed: bool


def phone_uri(phone: str | None) -> str | None:
    """A ``tel:`` link for a stored phone: digits (Persian ones too) and a leading plus only,
    since dialers reject brackets and dashes in some browsers."""
    if not phone:
        return None
    digits = "".join(str(unicodedata.digit(ch)) if ch.isdigit() else ch for ch in phone)
    number = re.sub(r"[^0-9]", "", digits)
    if not number:
        return None
    return "tel:" + ("+" if digits.lstrip().startswith("+") else "") + number


def map_url(address: str | None) -> str | None:
    """A maps search for the address: the phone opens its maps app on it (Android and iOS
    both hand this URL to the installed app; ``geo:`` would do nothing on iOS)."""
    if not address:
        return None
    return "https://www.google.com/maps/search/?api=1&query=" + quote(address, safe="")


def _join(*parts: str | None) -> str | None:
    text = ", ".join(p.strip() for p in parts if p and p.strip())
    return text or None


def _order_address(order: Order) -> str | None:
    if order.recipient_address:
        city = order.recipient_city
        # The stored address often carries the city already.
        if city and city in order.recipient_address:
            city = None
        return _join(order.recipient_address, city, order.recipient_postcode)
    place = order.locker or order.pickup_point
    return _join(getattr(place, "name", None), getattr(place, "address", None),
                 getattr(place, "city", None)) if place is not None else None


def terminal_states(session: Session, table: str, field: str) -> set[str]:
    """The states that end a task: a task is open until its workflow reaches one of them."""
    return set(session.scalars(
        select(WorkflowState.code).join(Workflow, Workflow.id == WorkflowState.workflow_id)
        .where(Workflow.entity == table, Workflow.field == field, WorkflowState.is_terminal)))


def _open_or_closed_on(column: Any, pk: Any, table: str, terminal: set[str],
                       closed_day: date | None) -> ColumnElement[bool]:
    """Open tasks, and with ``closed_day`` also those that reached a terminal state that day."""
    is_open = or_(column.is_(None), column.not_in(terminal))
    if closed_day is None:
        return is_open
    start, end = day_bounds(closed_day)
    closed_that_day = (
        select(StatusChange.record_id)
        .where(StatusChange.table_name == table, StatusChange.at >= start,
               StatusChange.at < end, StatusChange.to_state.in_(terminal))
        .scalar_subquery())
    return or_(is_open, pk.in_(closed_that_day))


def load_tasks(session: Session, actor: Any, lang: str, closed_day: date | None) -> list[Task]:
    """The courier's open tasks — those it can move now first, then the longest waiting —
    and, with ``closed_day``, below them the tasks it closed that day, newest first.
    Scoping gives a courier only its own orders and parcels."""
    order_end = terminal_states(session, "orders", "courier_status")
    parcel_end = terminal_states(session, "parcels", "status")
    orders = session.scalars(
        select(Order).where(
            Order.deleted_at.is_(None), Order.courier_id.is_not(None),
            _open_or_closed_on(Order.courier_status, Order.id, "orders", order_end, closed_day))
        .options(joinedload(Order.payment_method), joinedload(Order.locker),
                 joinedload(Order.pickup_point))
        .order_by(Order.ordered_at).limit(TASK_LIMIT)).all()
    parcels = session.scalars(
        select(Parcel).where(
            Parcel.courier_id.is_not(None),
            _open_or_closed_on(Parcel.status, Parcel.id, "parcels", parcel_end, closed_day))
        .options(selectinload(Parcel.locker))
        .order_by(Parcel.created_at).limit(TASK_LIMIT)).all()

    tasks: list[tuple[datetime, Task]] = []
    for order in orders:
        panel = status_panel(session, actor, "orders", order, "courier_status", lang)
        if panel is None:
            continue
        kind = order.payment_method.kind if order.payment_method else None
        address = _order_address(order)
        tasks.append((order.ordered_at, Task(
            "orders", order, panel, order.number, order.recipient_name or "",
            order.recipient_phone, phone_uri(order.recipient_phone), address, map_url(address),
            cash_to_collect(kind, order.balance_due), order.currency,
            order.courier_status in order_end)))
    for parcel in parcels:
        panel = status_panel(session, actor, "parcels", parcel, "status", lang)
        if panel is None:
            continue
        locker = parcel.locker
        address = _join(str(locker), locker.address, locker.city)
        tasks.append((parcel.created_at, Task(
            "parcels", parcel, panel, parcel.barcode, parcel.recipient_name or "",
            parcel.recipient_phone, phone_uri(parcel.recipient_phone), address,
            map_url(address), parcel_cash_to_collect(parcel.declared_price, parcel.paid),
            parcel.currency, parcel.status in parcel_end)))
    open_tasks = sorted((t for t in tasks if not t[1].closed),
                        key=lambda t: (not t[1].panel.options, t[0]))
    closed = sorted((t for t in tasks if t[1].closed), key=lambda t: t[0], reverse=True)
    return [task for _, task in open_tasks + closed]


def _day(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


class MyTasksView(BaseView):
    """The courier's own orders and parcels, moved through their workflows; nothing else.
    Made for a phone on the road (R-COUR-2): one card per stop with the cash to take, the
    number to call, the address to open in maps and one large button per next step."""

    name = lazy_gettext("My tasks")
    icon = "fa-solid fa-route"
    category = lazy_gettext("Delivery")
    identity = "my_tasks"

    @expose("/my-tasks", methods=["GET"], identity="my_tasks")
    async def page(self, request: Request) -> Response:
        actor, lang = require_actor(), get_language()
        show_closed = request.query_params.get("closed") == "1"
        day = _day(request.query_params.get("day")) or date.today()

        def load(session: Session) -> dict[str, Any]:
            tasks = load_tasks(session, actor, lang, day if show_closed else None)
            open_tasks = [t for t in tasks if not t.closed]
            to_collect: tuple[Money, ...] = totals_by_currency(
                [(t.to_collect, t.currency) for t in open_tasks if t.to_collect > 0])
            return {"tasks": tasks, "open_count": len(open_tasks),
                    "closed_count": len(tasks) - len(open_tasks), "to_collect": to_collect}

        context = await run_in_transaction(self._admin_ref.session_maker, load)
        return await self.templates.TemplateResponse(request, "postdesk/my_tasks.html", {
            **context, "title": self.name, "route_sheet_form": route_sheet_button(request),
            "show_closed": show_closed, "day": day})

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
        # Back to the same view (closed shown or not), at the card just moved.
        back = request.url_for("admin:view-my_tasks").include_query_params(
            **{k: v for k, v in (("closed", form.get("closed")), ("day", form.get("day")))
               if isinstance(v, str) and v})
        return RedirectResponse(f"{back}#task-{table}-{request.path_params['pk']}",
                                status_code=303)
