"""The admin's start page as a dashboard: today's and this month's orders and revenue per
currency, orders by status and per day over the last 30 days, lockers' occupancy — each block
only for the people whose grants open the table behind it (orders, lockers), each figure in
their own scope. Below the dashboard the page still lists what the person may open.

Every order figure links to the orders list filtered to exactly the orders it counts
(``orders_link``): the same days (UTC, both ends included), currency or status, deleted and
split orders left out as the figures leave them out (``children=false``: an order split into
sub-orders is counted through its sub-orders) — so the list's "of N items" equals the figure.
A locker's cell counts link to its cells in that state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup
from sqladmin import Admin
from sqladmin.authentication import login_required
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from admin.merchant_cabinet import start_page_context
from admin.operations import run_in_transaction
from locales import format_date, format_decimal, get_language, gettext, is_rtl
from reports.charts import Point, column_chart
from reports.queries.dashboard import (
    CHART_DAYS,
    DayCount,
    LockerLoad,
    StatusCount,
    Takings,
    locker_loads,
    orders_per_day,
    status_counts,
    takings,
    today_of,
)
from schema.base import utcnow
from schema.lockers import Locker

# The grant that opens each block: the same the menu asks for the table behind it.
ORDERS_GRANT = ("orders", "list")
LOCKERS_GRANT = ("lockers", "list")


@dataclass
class Dashboard:
    now: datetime
    takings: list[Takings] | None = None
    statuses: list[StatusCount] | None = None
    days: list[DayCount] | None = None
    lockers: list[LockerLoad] | None = None
    chart: Markup | None = None
    blocks: list[str] = field(default_factory=list)
    locker_ids: dict[str, int] = field(default_factory=dict)

    @property
    def today(self) -> date:
        return today_of(self.now)

    @property
    def month_start(self) -> date:
        return self.today.replace(day=1)

    @property
    def chart_start(self) -> date:
        return self.today - timedelta(days=CHART_DAYS - 1)

    @property
    def status_total(self) -> int:
        return sum(s.orders for s in self.statuses or [])


def load_dashboard(session: Session, now: datetime, language: str, *, orders: bool,
                   lockers: bool) -> Dashboard:
    board = Dashboard(now)
    if orders:
        board.takings = takings(session, now)
        board.statuses = status_counts(session, now, language)
        board.days = orders_per_day(session, now)
        board.blocks += ["takings", "statuses", "chart"]
    if lockers:
        board.lockers = locker_loads(session)
        board.locker_ids = dict(session.execute(select(Locker.code, Locker.id)).tuples().all())
        board.blocks.append("lockers")
    return board


def orders_link(list_url: str, since: date, until: date, **filters: str) -> str:
    """The orders list filtered as a dashboard figure counts (see the module docstring)."""
    query = {"ordered_at_from": since.isoformat(), "ordered_at_to": until.isoformat(),
             **filters, "children": "false"}
    return f"{list_url}?{urlencode(query)}"


def cells_link(list_url: str, locker_id: int | None, state: str) -> str | None:
    if locker_id is None:
        return None
    return f"{list_url}?{urlencode({'locker_id': locker_id, 'state': state})}"


def orders_chart(days: list[DayCount], language: str) -> Markup:
    points = [Point(format_date(d.day, language, "d"), d.orders,
                    f"{format_date(d.day, language)}: {format_decimal(d.orders, language)}")
              for d in days]
    return column_chart(points, title=gettext("Orders in the last 30 days"),
                        rtl=is_rtl(language),
                        number=lambda v: format_decimal(round(v), language))


class DashboardPage:
    """The replacement of sqladmin's index endpoint (``login_required`` reads the admin from
    ``_admin_ref``, as for a view)."""

    def __init__(self, admin: Admin) -> None:
        self._admin_ref = admin
        self.clock = utcnow  # what "now" is (a benchmark sets it to the end of its data)

    def _allowed(self, request: Request, grant: tuple[str, str]) -> bool:
        return bool(self._admin_ref.authorization_backend.has_permission(request, *grant))

    @login_required
    async def index(self, request: Request) -> Response:
        language = get_language()
        orders = self._allowed(request, ORDERS_GRANT)
        lockers = self._allowed(request, LOCKERS_GRANT)
        board: Dashboard | None = None
        if orders or lockers:
            now = self.clock()
            board = await run_in_transaction(
                self._admin_ref.session_maker,
                lambda session: load_dashboard(session, now, language, orders=orders,
                                               lockers=lockers))
            if board.days is not None:
                board.chart = orders_chart(board.days, language)
        # A merchant user's start page opens with its cabinet (admin/merchant_cabinet.py).
        context: dict[str, Any] = {**await start_page_context(self._admin_ref, request),
            "dashboard": board, "format_number": format_decimal, "orders_link": orders_link,
            "cells_link": cells_link,
            "orders_url": str(request.url_for("admin:list", identity="orders")),
            "cells_url": (str(request.url_for("admin:list", identity="locker_cells"))
                          if self._allowed(request, ("locker_cells", "list")) else None),
        }
        return await self._admin_ref.templates.TemplateResponse(
            request, "sqladmin/index.html", context)


def install_dashboard(admin: Admin) -> None:
    """Serve the start page from the dashboard (sqladmin's own index route, replaced)."""
    page = DashboardPage(admin)
    admin.admin.router.routes = [
        Route(route.path, page.index, methods=["GET"], name="index")
        if isinstance(route, Route) and route.name == "index" else route
        for route in admin.admin.router.routes
    ]
