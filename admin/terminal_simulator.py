"""Lockers → Terminal simulator: a locker terminal in the browser, for technicians and the demo.

The page drives the real terminal API (``api/terminal.py``, ``/api/v1/terminal/…``) from the
browser with ``fetch``, exactly as the machine in the locker does: the device key in
``X-Device-Key``, the courier's token in ``X-Courier-Token`` and a fresh ``Idempotency-Key`` per
action (``admin/static/terminal_simulator.js``); it adds nothing the terminal could not do. A
person chooses a locker, gives its device key — or issues a new one here (``POST
/admin/terminal-simulator/device-key``, grant lockers ``action:issue_device_key``,
``services.terminal.issue_device_key``; the real terminal's key stops working) — signs in as a
courier (badge number and PIN), scans a barcode, sees the cell that opens, confirms "cell
closed", then as the buyer types the code, pays if due and opens the cell.

The pickup code exists only in the buyer's SMS, so the page shows the latest SMS queued for the
chosen locker's parcels from the outbox (``GET /admin/terminal-simulator/sms``): the page is
granted (identity ``terminal_simulator``, ``list``) to technicians, administrators and managers
only, who may read the outbox anyway.
"""

from __future__ import annotations

from typing import Any

from sqladmin import BaseView, expose
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin.operations import form_int, require_actor, run_in_transaction
from locales import format_datetime, get_language, gettext, lazy_gettext
from schema.lockers import Locker, Parcel
from schema.notifications import OutboxMessage
from services.actor import acting_as
from services.errors import Refused
from services.terminal import issue_device_key

ISSUE_KEY_GRANT = "action:issue_device_key"
# The SMS shown: the latest of the locker's parcels, newest first.
SMS_LIMIT = 10


def _strings() -> dict[str, str]:
    """The script's texts, in the reader's language."""
    return {
        "choose_locker": gettext("Choose a locker and give its device key first."),
        "sign_in_first": gettext("Sign a courier in first."),
        "signed_in": gettext("Signed in: %(name)s"),
        "open_cell": gettext("Open cell %(cell)s"),
        "placed": gettext("Parcel %(barcode)s is in cell %(cell)s; the buyer's SMS is queued."),
        "collected": gettext("Parcel %(barcode)s collected from cell %(cell)s for return."),
        "pay": gettext("To pay: %(amount)s %(currency)s"),
        "may_open": gettext("Nothing to pay: the cell may open."),
        "paid": gettext("Paid %(paid)s %(currency)s, change %(change)s."),
        "credited": gettext("The change of %(amount)s %(currency)s was credited to %(phone)s."),
        "picked_up": gettext("Cell %(cell)s opened: parcel %(barcode)s is picked up."),
        "no_expired": gettext("No parcel's storage has expired in this locker."),
        "no_sms": gettext("No SMS has been queued for this locker's parcels."),
        "collect": gettext("Collect"),
        "confirm_issue": gettext("Issue a new device key for this locker? The key the real "
                                 "terminal uses stops working at once."),
        "key_issued": gettext("A new device key was issued and filled in. Give it to the real "
                              "terminal: the old key no longer works."),
        "network": gettext("The request did not reach the server. Try again."),
        "replayed": gettext("(a repeat: the first answer, nothing done twice)"),
    }


class TerminalSimulatorView(BaseView):
    name = lazy_gettext("Terminal simulator")
    icon = "fa-solid fa-cash-register"
    category = lazy_gettext("Lockers")
    identity = "terminal_simulator"

    def _can_issue(self, request: Request) -> bool:
        return bool(self._authorization_backend().has_permission(request, "lockers",
                                                                 ISSUE_KEY_GRANT))

    @expose("/terminal-simulator", methods=["GET"], identity="terminal_simulator")
    async def page(self, request: Request) -> Response:
        actor = require_actor()

        def load(session: Session) -> list[dict[str, Any]]:
            with acting_as(actor):
                return [{"id": locker.id, "code": locker.code, "name": locker.name,
                         "address": ", ".join(p for p in (locker.address, locker.city) if p)}
                        for locker in session.scalars(
                            select(Locker).where(Locker.active.is_(True)).order_by(Locker.code))]

        lockers = await run_in_transaction(self._admin_ref.session_maker, load)
        return await self.templates.TemplateResponse(
            request, "postdesk/terminal_simulator.html", {
                "title": self.name, "lockers": lockers, "can_issue": self._can_issue(request),
                "strings": _strings(), "api_base": "/api/v1/terminal",
            })

    @expose("/terminal-simulator/device-key", methods=["POST"],
            identity="terminal_simulator_key")
    async def device_key(self, request: Request) -> Response:
        """A new device key for the locker (shown once, in the answer); the old one stops."""
        if not self._can_issue(request):
            raise HTTPException(status_code=403)
        require_actor()
        locker_id = form_int(await request.form(), "locker_id") or 0

        def issue(session: Session) -> str:
            return issue_device_key(session, locker_id)

        try:
            key = await run_in_transaction(self._admin_ref.session_maker, issue)
        except Refused as refusal:
            return JSONResponse({"error": refusal.render(gettext)}, status_code=404)
        return JSONResponse({"key": key}, headers={"Cache-Control": "no-store"})

    @expose("/terminal-simulator/sms", methods=["GET"], identity="terminal_simulator_sms")
    async def sms(self, request: Request) -> Response:
        """The latest SMS queued for the parcels of ``locker_id``, newest first."""
        actor, lang = require_actor(), get_language()
        raw = request.query_params.get("locker_id", "")
        locker_id = int(raw) if raw.isdigit() and len(raw) < 10 else 0

        def load(session: Session) -> list[dict[str, Any]]:
            with acting_as(actor):
                rows = session.execute(
                    select(OutboxMessage, Parcel.barcode)
                    .join(Parcel, Parcel.id == OutboxMessage.related_id)
                    .where(OutboxMessage.related_table == "parcels",
                           Parcel.locker_id == locker_id)
                    .order_by(OutboxMessage.id.desc()).limit(SMS_LIMIT)).all()
            return [{"barcode": barcode, "to": message.recipient, "text": message.body,
                     "at": format_datetime(message.created_at, lang)}
                    for message, barcode in rows]

        messages = await run_in_transaction(self._admin_ref.session_maker, load)
        return JSONResponse({"messages": messages}, headers={"Cache-Control": "no-store"})
