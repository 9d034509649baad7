"""The locker page (R-LOCK-1): replaces the generic details page of parcel lockers.

It shows the locker (code, name, address, zone), a grid of its cells by code with their size
and state (colour and word) and the parcel each holds (a link to the parcel's page for whoever
reads parcels), the technician's forms, the maintenance log (newest first, the last
``LOG_LIMIT`` entries), and the terminal key:

- "Out of order" (grant lockers "action:out_of_order"): a cell, the reason, and optionally a
  free cell to move its parcel to; ``services.lockers.put_out_of_order``. "Back in service"
  (same grant): ``back_in_service``. A note (grant locker_maintenance "create"): ``add_note``.
- "Issue terminal key" (grant lockers "action:issue_device_key"): ``services.terminal.
  issue_device_key``; the answer is this page rendered with the new key shown once (never put
  into a redirect, a flash or a log; ``Cache-Control: no-store``) and a warning that the old key
  stopped working.

Each POST checks its grant, parses, runs one service step in one transaction and goes back to
the page with the outcome flashed in the person's language.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqladmin import expose
from sqladmin.flash import flash
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from admin.operations import (
    form_int,
    form_text,
    require_actor,
    require_grant,
    run_and_flash,
    run_in_transaction,
)
from admin.views import PostdeskView
from locales import format_decimal, gettext
from schema.lockers import CellState, Locker, LockerCell, LockerMaintenance, Parcel
from services import lockers
from services.actor import Actor
from services.errors import Refused

LOG_LIMIT = 100
# The grid's colours by cell state (Tabler's light badges keep the text readable).
STATE_CLASSES = {
    CellState.FREE: "bg-green-lt",
    CellState.RESERVED: "bg-yellow-lt",
    CellState.OCCUPIED: "bg-blue-lt",
    CellState.OUT_OF_ORDER: "bg-red-lt",
}


def load_locker_page(session: Session, locker_id: int, with_parcels: bool) -> dict[str, Any]:
    """The locker, its cells with the parcel in each, its maintenance log; {} when missing."""
    locker = session.scalar(select(Locker).where(Locker.id == locker_id)
                            .options(selectinload(Locker.zone), selectinload(Locker.cells)))
    if locker is None:
        return {}
    cells = sorted(locker.cells, key=lambda c: c.code)
    parcels: dict[int, Parcel] = {}
    if with_parcels:
        parcels = {p.cell_id: p for p in session.scalars(
            select(Parcel).where(Parcel.locker_id == locker.id, Parcel.cell_id.is_not(None)))
            if p.cell_id is not None}
    log = session.scalars(
        select(LockerMaintenance).where(LockerMaintenance.locker_id == locker.id)
        .options(selectinload(LockerMaintenance.cell), selectinload(LockerMaintenance.user))
        .order_by(LockerMaintenance.id.desc()).limit(LOG_LIMIT)).all()
    counts = {state: sum(1 for c in cells if c.state is state) for state in CellState}
    return {"locker": locker, "cells": cells, "cell_parcels": parcels, "maintenance": log,
            "state_counts": counts, "cell_states": list(CellState),
            "state_classes": STATE_CLASSES}


class LockerPage:
    """The locker page's context and forms; mixed into the lockers' view."""

    details_template = "postdesk/locker_details.html"

    async def details_context(self, request: Request) -> dict[str, Any]:
        context: dict[str, Any] = await super().details_context(request)  # type: ignore[misc]
        pk = request.path_params.get("pk", "")
        if not pk.isdigit():
            return context
        view: Any = self
        access = view._authorization_backend()
        can = {
            "out_of_order": view.has_permission(request, "action:out_of_order"),
            "issue_device_key": view.has_permission(request, "action:issue_device_key"),
            "add_note": access.has_permission(request, "locker_maintenance", "create"),
            "parcels": access.has_permission(request, "parcels", "details"),
        }
        context.update(await run_in_transaction(
            view.session_maker, lambda s: load_locker_page(s, int(pk), can["parcels"])))
        context["can"] = can
        context["format_decimal"] = format_decimal
        return context

    def _back(self, request: Request, anchor: str = "") -> RedirectResponse:
        url = str(request.url_for("admin:details", identity="lockers",
                                  pk=request.path_params["pk"]))
        return RedirectResponse(f"{url}#{anchor}" if anchor else url, status_code=303)

    async def _step(self, request: Request, grant: Callable[[], bool],
                    work: Callable[[Actor, int, Any], Callable[[Session], Any]],
                    success: str, anchor: str) -> Response:
        if not grant():
            raise HTTPException(status_code=403)
        if not str(request.path_params.get("pk", "")).isdigit():
            raise HTTPException(status_code=404)
        view: Any = self
        actor, locker_id = require_actor(), int(request.path_params["pk"])
        form = await request.form()
        await run_and_flash(request, view.session_maker, work(actor, locker_id, form), success)
        return self._back(request, anchor)

    @expose("/{pk}/out-of-order", methods=["POST"])
    async def post_out_of_order(self, request: Request) -> Response:
        view: Any = self
        return await self._step(
            request, lambda: view.has_permission(request, "action:out_of_order"),
            lambda actor, locker_id, form: lambda s: lockers.put_out_of_order(
                s, actor, _own_cell(s, locker_id, form_int(form, "cell_id")),
                form_text(form, "reason"),
                _own_cell(s, locker_id, form_int(form, "move_to_cell_id"), optional=True)),
            gettext("The cell is out of order."), "cell-actions")

    @expose("/{pk}/back-in-service", methods=["POST"])
    async def post_back_in_service(self, request: Request) -> Response:
        view: Any = self
        return await self._step(
            request, lambda: view.has_permission(request, "action:out_of_order"),
            lambda actor, locker_id, form: lambda s: lockers.back_in_service(
                s, actor, _own_cell(s, locker_id, form_int(form, "cell_id")),
                form_text(form, "reason")),
            gettext("The cell is back in service."), "cell-actions")

    @expose("/{pk}/note", methods=["POST"])
    async def post_note(self, request: Request) -> Response:
        view: Any = self
        access = view._authorization_backend()
        return await self._step(
            request, lambda: access.has_permission(request, "locker_maintenance", "create"),
            lambda actor, locker_id, form: lambda s: lockers.add_note(
                s, actor, locker_id, form_text(form, "text"),
                _own_cell(s, locker_id, form_int(form, "cell_id"), optional=True)),
            gettext("The note was added to the maintenance log."), "maintenance-log")

    @expose("/{pk}/device-key", methods=["POST"])
    async def post_device_key(self, request: Request) -> Response:
        """Issue a new terminal key and show it on this page, once."""
        view: Any = self
        require_grant(view, request, "issue_device_key")
        if not str(request.path_params.get("pk", "")).isdigit():
            raise HTTPException(status_code=404)
        locker_id = int(request.path_params["pk"])
        # Imported here: the terminal's service owns the key (services.terminal).
        from services.terminal import issue_device_key

        try:
            key = await run_in_transaction(view.session_maker,
                                           lambda s: issue_device_key(s, locker_id))
        except Refused as refusal:
            flash(request, refusal.render(gettext), category="danger")
            return self._back(request)
        locker = await view.get_object_for_details(request)
        if locker is None:
            raise HTTPException(status_code=404)
        context = {**await self.details_context(request), "model_view": view, "model": locker,
                   "title": view.name, "issued_key": key}
        response: Response = await view.templates.TemplateResponse(
            request, self.details_template, context)
        response.headers["Cache-Control"] = "no-store"
        return response


def _own_cell(session: Session, locker_id: int, cell_id: int | None,
              optional: bool = False) -> Any:
    """The id of a cell of this locker as chosen in a form; a cell of another locker (a forged
    form) reads as not found."""
    if cell_id is None:
        if optional:
            return None
        raise Refused("Choose a cell.")
    found = session.scalar(select(LockerCell.id).where(LockerCell.id == cell_id,
                                                       LockerCell.locker_id == locker_id))
    if found is None:
        raise Refused("The cell was not found.")
    return found


class LockerView(LockerPage, PostdeskView):
    """The lockers' view: the generated list and forms, with the locker page as details."""
