"""The admin's start page as a dashboard: today's and this month's orders and revenue per
currency, orders by status and per day over the last 30 days, lockers' occupancy — each block
only for the people whose grants open the table behind it (orders, lockers), each figure in
their own scope. Below the dashboard the page still lists what the person may open.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from markupsafe import Markup
from sqladmin import Admin
from sqladmin.authentication import login_required
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from admin.operations import run_in_transaction
from locales import format_date, format_decimal, get_language, gettext, is_rtl
from reports.charts import Point, column_chart
from reports.queries.dashboard import (
    DayCount,
    LockerLoad,
    StatusCount,
    Takings,
    locker_loads,
    orders_per_day,
    status_counts,
    takings,
)
from schema.base import utcnow

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
        board.blocks.append("lockers")
    return board


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
        context: dict[str, Any] = {"dashboard": board, "format_number": format_decimal}
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
