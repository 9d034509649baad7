"""The merchant's cabinet: what a merchant user sees first (``services.merchant_stats``).

The block (``postdesk/_merchant_cabinet.html``) shows the balance, the credit limit and what
registration may still charge; the merchant's parcels by status now, each count linking to the
parcels list filtered to that status; this month's ledger sums by kind, each linking to the
ledger filtered to that kind and month; the next payout (the latest draft or approved one, or
the date of the next payout weekday); links to the merchant statement and the payouts; and a
form for the statistics of any interval as an XLSX file. It is laid out in cards and lists
(no wide table), so at 390 px, in Persian too, the page does not scroll sideways.

It is served at ``/admin/cabinet`` (identity ``merchant_cabinet``, granted ``list`` to the
merchant role) and on the start page of a merchant user, above the dashboard
(``admin.dashboard`` calls ``start_page_context``). The statistics are
``/admin/cabinet/statistics.xlsx?since=…&until=…`` (dates in the reader's calendar).

Whose figures: a merchant user's own store, always (a ``merchant`` parameter is ignored). Staff
holding the page's grant (the superuser) choose a merchant with ``?merchant=<id>``.
"""

from __future__ import annotations

import io
from datetime import date
from typing import Any
from urllib.parse import urlencode

from sqladmin import Admin, BaseView, expose
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from admin.operations import form_date, require_actor, run_in_transaction
from locales import (
    format_date,
    format_decimal,
    format_number,
    get_language,
    gettext,
    is_rtl,
    lazy_gettext,
)
from schema.lockers import LedgerKind
from schema.people import Merchant
from services.actor import Actor, current_actor
from services.errors import Refused
from services.merchant_stats import (
    Cabinet,
    IntervalRefused,
    cabinet,
    interval_stats,
    write_stats_xlsx,
)

CABINET_GRANT = ("merchant_cabinet", "list")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _merchant_id(session: Session, actor: Actor, wanted: str | None) -> int | None:
    if actor.merchant_id is not None:
        return actor.merchant_id
    if wanted and wanted.isdigit() and session.get(Merchant, int(wanted)) is not None:
        return int(wanted)
    return session.scalar(select(Merchant.id).order_by(Merchant.name).limit(1))


def _allowed(admin: Admin, request: Request, identity: str, action: str = "list") -> bool:
    return bool(admin.authorization_backend.has_permission(request, identity, action))


async def cabinet_context(admin: Admin, request: Request) -> dict[str, Any]:
    """What ``postdesk/_merchant_cabinet.html`` needs, for the signed-in person."""
    actor, language, today = require_actor(), get_language(), date.today()
    wanted = request.query_params.get("merchant")

    def load(session: Session) -> tuple[Cabinet | None, list[tuple[int, str]]]:
        merchant_id = _merchant_id(session, actor, wanted)
        choices = [] if actor.merchant_id is not None else list(
            session.execute(select(Merchant.id, Merchant.name).order_by(Merchant.name)).tuples())
        if merchant_id is None:
            return None, choices
        return cabinet(session, merchant_id, today, language), choices

    board, choices = await run_in_transaction(admin.session_maker, load)
    month_end = today
    links: dict[str, str | None] = {"parcels": None, "ledger": None, "payouts": None,
                                    "statement": None}
    if _allowed(admin, request, "parcels"):
        links["parcels"] = str(request.url_for("admin:list", identity="parcels"))
    if _allowed(admin, request, "ledger_entries"):
        links["ledger"] = str(request.url_for("admin:list", identity="ledger_entries"))
        links["statement"] = str(request.url_for("admin:view-merchant_statement"))
    if _allowed(admin, request, "payouts"):
        links["payouts"] = str(request.url_for("admin:list", identity="payouts"))

    def state_link(code: str) -> str | None:
        if links["parcels"] is None or board is None:
            return None
        query = {"status": code}
        if actor.merchant_id is None:
            query["merchant_id"] = str(board.merchant.id)
        return f"{links['parcels']}?{urlencode(query)}"

    def kind_link(kind: LedgerKind) -> str | None:
        if links["ledger"] is None or board is None:
            return None
        query = {"kind": kind.value, "at_from": board.month_start.isoformat(),
                 "at_to": month_end.isoformat()}
        if actor.merchant_id is None:
            query["merchant_id"] = str(board.merchant.id)
        return f"{links['ledger']}?{urlencode(query)}"

    return {
        "cabinet": board, "cabinet_choices": choices, "cabinet_links": links,
        "state_link": state_link, "kind_link": kind_link, "ledger_kinds": list(LedgerKind),
        "format_number": format_number, "format_date": format_date,
        "format_decimal": format_decimal, "stats_since": today.replace(day=1),
        "stats_until": today,
        "cabinet_xlsx_url": str(request.url_for("admin:view-merchant_cabinet_xlsx")),
    }


async def start_page_context(admin: Admin, request: Request) -> dict[str, Any]:
    """The cabinet for a merchant user's start page; nothing for anyone else."""
    actor = current_actor()
    if actor is None or not actor.is_merchant or not _allowed(admin, request, *CABINET_GRANT):
        return {}
    return await cabinet_context(admin, request)


class MerchantCabinetView(BaseView):
    name = lazy_gettext("My cabinet")
    icon = "fa-solid fa-gauge"
    category = lazy_gettext("Finance")
    identity = "merchant_cabinet"

    @expose("/cabinet", methods=["GET"], identity="merchant_cabinet")
    async def page(self, request: Request) -> Response:
        context = await cabinet_context(self._admin_ref, request)
        return await self.templates.TemplateResponse(
            request, "postdesk/merchant_cabinet.html", {"title": self.name, **context})

    @expose("/cabinet/statistics.xlsx", methods=["GET"], identity="merchant_cabinet_xlsx")
    async def statistics(self, request: Request) -> Response:
        actor, params = require_actor(), request.query_params
        today = date.today()
        try:
            since = form_date(params, "since") or today.replace(day=1)
            until = form_date(params, "until") or today
        except Refused as refusal:
            raise HTTPException(status_code=400, detail=refusal.render(gettext)) from None
        wanted = params.get("merchant")

        def load(session: Session) -> Any:
            merchant_id = _merchant_id(session, actor, wanted)
            if merchant_id is None:
                raise HTTPException(status_code=404)
            return interval_stats(session, merchant_id, since, until)

        try:
            stats = await run_in_transaction(self._admin_ref.session_maker, load)
        except IntervalRefused:
            raise HTTPException(status_code=400, detail=gettext(
                "Choose an interval whose end is not before its start, ten years at most."
            )) from None
        buffer = io.BytesIO()
        write_stats_xlsx(buffer, stats, gettext, rtl=is_rtl(get_language()))
        filename = f"statistics-{since.isoformat()}-{until.isoformat()}.xlsx"
        return Response(buffer.getvalue(), media_type=XLSX, headers={
            "Content-Disposition": f'attachment; filename="{filename}"'})
