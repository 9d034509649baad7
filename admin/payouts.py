"""The accountant's payouts (issue 13): the list with the bank-transfer file, the payout page
with its figures and the Approve and Mark paid steps.

- The list (``postdesk/payouts_list.html``) carries, above the rows, "Bank-transfer file
  (CSV)": every approved payout the person may see, one click (grant payouts
  "action:mark_paid": whoever pays the transfers). ``services.payouts.transfer_csv``.
- The payout page (``postdesk/payout_details.html``) shows the figures (cash collected, fees,
  charges not covered, amount), the status and who approved it, and the forms: "Approve"
  (grant "action:approve"; ``services.payouts.approve``) on a draft, "Mark paid" with the bank
  reference (grant "action:mark_paid"; ``services.payouts.mark_paid``) on an approved payout.
- Payouts are computed by the worker (``services.payouts``), never typed: the generic create
  and edit forms are off, and so is deleting (a paid payout's ledger entry points at it).

Each POST checks its grant, runs one service step in one transaction as the signed-in person
and goes back to the payout page with the outcome flashed in the person's language.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqladmin import expose
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from admin.operations import (
    form_text,
    require_actor,
    require_grant,
    run_and_flash,
    run_in_transaction,
)
from admin.printing import PayoutView
from locales import format_money, gettext
from schema.lockers import Payout, PayoutStatus
from services import payouts

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"


class PayoutPage:
    """The payouts' list tools, page and steps; mixed into the payouts' view."""

    list_template = "postdesk/payouts_list.html"
    details_template = "postdesk/payout_details.html"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Set on the generated class (admin/views.build_view puts its own values in the
        # class body): a payout is made by the service and changed only by its steps.
        cls.can_create = cls.can_edit = cls.can_delete = False  # type: ignore[attr-defined]

    async def list_context(self, request: Request) -> dict[str, Any]:
        context: dict[str, Any] = await super().list_context(request)  # type: ignore[misc]
        view: Any = self
        context["can_transfer_file"] = view.has_permission(request, "action:mark_paid")
        return context

    async def details_context(self, request: Request) -> dict[str, Any]:
        context: dict[str, Any] = await super().details_context(request)  # type: ignore[misc]
        view: Any = self
        context["can"] = {
            "approve": view.has_permission(request, "action:approve"),
            "mark_paid": view.has_permission(request, "action:mark_paid"),
        }
        context["statuses"] = PayoutStatus
        context["format_money"] = format_money
        return context

    def _back(self, request: Request) -> RedirectResponse:
        return RedirectResponse(str(request.url_for(
            "admin:details", identity="payouts", pk=request.path_params["pk"])),
            status_code=303)

    @staticmethod
    def _pk(request: Request) -> int:
        pk = str(request.path_params.get("pk", ""))
        if not pk.isdigit():
            raise HTTPException(status_code=404)
        return int(pk)

    @expose("/{pk}/approve", methods=["POST"])
    async def post_approve(self, request: Request) -> Response:
        view: Any = self
        require_grant(view, request, "approve")
        actor, payout_id = require_actor(), self._pk(request)
        await run_and_flash(request, view.session_maker,
                            lambda s: payouts.approve(s, actor, payout_id),
                            gettext("The payout is approved."))
        return self._back(request)

    @expose("/{pk}/mark-paid", methods=["POST"])
    async def post_mark_paid(self, request: Request) -> Response:
        view: Any = self
        require_grant(view, request, "mark_paid")
        actor, payout_id = require_actor(), self._pk(request)
        reference = form_text(await request.form(), "bank_reference")
        await run_and_flash(request, view.session_maker,
                            lambda s: payouts.mark_paid(s, actor, payout_id, reference),
                            gettext("The payout is marked paid."))
        return self._back(request)

    @expose("/transfers.csv", methods=["GET"])
    async def transfers_csv(self, request: Request) -> Response:
        """The bank-transfer file of the approved payouts (scoped like the list)."""
        view: Any = self
        require_grant(view, request, "mark_paid")
        text = await run_in_transaction(
            view.session_maker, lambda s: payouts.transfer_csv(s, payouts.approved_payouts(s)))
        name = f"payouts-{date.today().isoformat()}.csv"
        # A BOM: spreadsheet programs then read the names (Cyrillic, Persian) as UTF-8.
        return Response("\ufeff" + text, media_type=CSV_MEDIA_TYPE, headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store"})


class PayoutsView(PayoutPage, PayoutView):
    """The payouts' view: the statement's print base with the approval and payment pages."""


BASES = {Payout: PayoutsView}  # admin/customize.py: after the print bases, so this one wins
