"""The confirmation a person sees after saving through a generic form (create, edit, delete).

sqladmin redirects after a save and shows nothing; these put a success toast in the session
(sqladmin's flash), shown by the layout on the next page, in the person's language. Nothing is
flashed when the save failed: the form shows the error instead.
"""

from __future__ import annotations

from typing import Any

from sqladmin.flash import flash
from starlette.requests import Request

from locales import gettext


def _title(obj: Any, fallback: str) -> str:
    text = str(obj).strip() if obj is not None else ""
    return text or fallback


def flash_saved(request: Request, obj: Any, *, created: bool, what: str) -> None:
    """``Created: <record>.`` or ``Saved: <record>.`` (the record's title, else the table's
    name)."""
    message = gettext("Created: %(record)s.") if created else gettext("Saved: %(record)s.")
    flash(request, message % {"record": _title(obj, what)}, category="success")


def flash_deleted(request: Request, pk: Any) -> None:
    """One message for the whole request, after its last row: sqladmin deletes the selected
    rows one call each (``?pks=1,2,3``) and stops at the first refusal (which it reports
    itself), so reaching the last one means every row was deleted."""
    pks = [p for p in request.query_params.get("pks", "").split(",") if p]
    if pks and str(pk) != pks[-1]:
        return
    if len(pks) > 1:
        message = gettext("Records deleted: %(count)s.") % {"count": len(pks)}
    else:
        message = gettext("The record was deleted.")
    flash(request, message, category="success")
