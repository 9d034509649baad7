"""Delivery → Sorting centre: receiving parcels with a USB barcode scanner.

The page has one text input, focused on load, that the scanner types into; the scanner's Enter
submits. ``POST /admin/sorting-center`` receives the parcel through
``services.sorting.receive_parcel`` (one transaction, as the signed-in user: the parcel moves to
"at sorting centre" through the workflow and the ``received`` event is written) and answers the
same page with the outcome on top: the parcel, its locker and cell and a link to its drop-off
sticker on success (green), the reason in the person's language on a refusal (red; nothing was
written). ``admin/static/sorting_center.js`` posts the form in the background, swaps the outcome
and the lists in, flashes, beeps on a refusal (Web Audio, no file) and puts the focus back in
the input, so a person scans parcel after parcel without touching the mouse; without the script
the form posts and the page reloads with the same content.

Below: the day's expected parcels (drop date today, registered or courier pickup requested, not
yet received) and the ones received today. The page's identity is ``sorting_center`` (granted
``list`` to the sorting-centre and manager roles); the sticker link shows to those who hold
parcels ``action:print_sticker``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqladmin import BaseView, expose
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from admin.operations import form_text, require_actor, run_in_transaction
from admin.printing import PRINT_STICKER_GRANT
from locales import get_language, gettext, lazy_gettext
from services.errors import Refused
from services.sorting import ParcelLine, day_lists, receive_parcel


class SortingCenterView(BaseView):
    name = lazy_gettext("Sorting centre")
    icon = "fa-solid fa-barcode"
    category = lazy_gettext("Lockers")
    identity = "sorting_center"

    async def _lists(self, language: str) -> tuple[list[ParcelLine], list[ParcelLine]]:
        day = date.today()

        def load(session: Session) -> tuple[list[ParcelLine], list[ParcelLine]]:
            return day_lists(session, day, language)

        return await run_in_transaction(self._admin_ref.session_maker, load)

    async def _page(self, request: Request, outcome: dict[str, Any] | None) -> Response:
        language = get_language()
        expected, received = await self._lists(language)
        can_print = self._authorization_backend().has_permission(
            request, "parcels", PRINT_STICKER_GRANT)
        return await self.templates.TemplateResponse(request, "postdesk/sorting_center.html", {
            "title": self.name, "outcome": outcome, "expected": expected,
            "received": received, "can_print": can_print, "today": date.today(),
        })

    @expose("/sorting-center", methods=["GET"], identity="sorting_center")
    async def page(self, request: Request) -> Response:
        return await self._page(request, None)

    @expose("/sorting-center", methods=["POST"], identity="sorting_center_scan")
    async def scan(self, request: Request) -> Response:
        actor, form, language = require_actor(), await request.form(), get_language()
        barcode = (form_text(form, "barcode") or "")[:200]

        def work(session: Session) -> ParcelLine:
            return receive_parcel(session, actor, barcode, language)

        try:
            parcel = await run_in_transaction(self._admin_ref.session_maker, work)
        except Refused as refusal:
            outcome = {"ok": False, "message": refusal.render(gettext), "barcode": barcode}
            response = await self._page(request, outcome)
            # A refusal is still a page to show; the status tells scripts and tests apart.
            response.status_code = 422
            return response
        outcome = {"ok": True, "parcel": parcel, "barcode": parcel.barcode,
                   "message": gettext("Parcel %(barcode)s received: put it with locker "
                                      "%(locker)s.") % {"barcode": parcel.barcode,
                                                        "locker": parcel.locker_code}}
        return await self._page(request, outcome)
