"""Lockers → Import tariffs: the tariff price file (XLSX or CSV) uploaded and applied whole.

``GET /admin/tariff-import`` shows the upload form with the expected columns and the tariffs
now in force (every price, by zone and size). ``POST`` reads the file (at most 2 MiB) and calls
``services.tariff_import.load_tariffs`` in one transaction: the whole file is checked first, and
a file with any problem is refused with EVERY problem listed (row and column, in the reader's
language) and nothing applied; otherwise its rows are upserted by (zone, size) and the page says
how many were added and updated. The page's identity is ``tariff_import`` (granted ``list`` to
the administrator); the command line does the same with ``postdesk tariffs load FILE``.
"""

from __future__ import annotations

from typing import Any

from sqladmin import BaseView, expose
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from admin.operations import run_in_transaction
from locales import gettext, lazy_gettext
from schema.lockers import LockerTariff, Zone
from services.errors import Refused
from services.tariff_import import COLUMNS, Loaded, TariffFileInvalid, load_tariffs

MAX_FILE_BYTES = 2 * 1024 * 1024


def _tariffs(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(select(LockerTariff, Zone).join(Zone, Zone.id == LockerTariff.zone_id)
                           .order_by(Zone.number, LockerTariff.size.nulls_first()))
    return [{"zone": zone.number, "zone_name": zone.name,
             "size": t.size.value.upper() if t.size else "", "pickup": t.pickup_price,
             "delivery": t.delivery_price, "storage": t.storage_price_3_days,
             "storage_days": t.storage_days, "unused": t.unused_price,
             "extra_day": t.extra_day_price, "currency": t.currency} for t, zone in rows]


class TariffImportView(BaseView):
    name = lazy_gettext("Import tariffs")
    icon = "fa-solid fa-file-import"
    category = lazy_gettext("Lockers")
    identity = "tariff_import"

    async def _page(self, request: Request, status_code: int = 200, **context: Any) -> Response:
        tariffs = await run_in_transaction(self._admin_ref.session_maker, _tariffs)
        response = await self.templates.TemplateResponse(
            request, "postdesk/tariff_import.html",
            {"title": self.name, "columns": COLUMNS, "tariffs": tariffs, "error": None,
             "problems": None, "loaded": None, "max_mb": MAX_FILE_BYTES // (1024 * 1024),
             **context})
        response.status_code = status_code
        return response

    @expose("/tariff-import", methods=["GET"], identity="tariff_import")
    async def page(self, request: Request) -> Response:
        return await self._page(request)

    @expose("/tariff-import", methods=["POST"], identity="tariff_import_load")
    async def load(self, request: Request) -> Response:
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            return await self._page(request, 400,
                                    error=gettext("Choose the tariff file (XLSX or CSV)."))
        data = await upload.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            return await self._page(request, 400, error=gettext(
                "The file is larger than %(mb)s MB.") % {"mb": MAX_FILE_BYTES // (1024 * 1024)})

        def work(session: Session) -> Loaded:
            return load_tariffs(session, data)

        try:
            loaded = await run_in_transaction(self._admin_ref.session_maker, work)
        except TariffFileInvalid as invalid:
            return await self._page(request, 400, error=invalid.render(gettext),
                                    problems=invalid.render_all(gettext))
        except Refused as refusal:
            return await self._page(request, 400, error=refusal.render(gettext))
        return await self._page(request, loaded=loaded)
