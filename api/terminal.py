"""The locker terminal's JSON API at ``/api/v1/terminal/…`` (R-LOCK-4, R-LOCK-6).

The machine in a locker authenticates with its device key in ``X-Device-Key`` (issued from the
locker page, shown once; ``services.terminal.issue_device_key``). The courier's steps also need
the token of a courier session in ``X-Courier-Token`` (from ``POST /terminal/courier/sign-in``
with badge number and PIN). Operations:

====== =============================== =================================================
POST   /terminal/courier/sign-in       badge number + PIN → courier token (12 hours)
POST   /terminal/courier/scan          barcode → the cell to open (reserved for the parcel)
POST   /terminal/courier/cell-closed   barcode + cell → the parcel is in the locker; the
                                       buyer's SMS with the pickup code is queued
GET    /terminal/courier/expired       the locker's parcels whose storage expired, by cell
POST   /terminal/courier/collect       barcode → the cell to open; the parcel is returned
POST   /terminal/code                  the buyer's code (+ optional phone) → amount due or
                                       "open"
POST   /terminal/payment               code + cash/card + amount → the payment (change
                                       credited to the buyer's phone)
POST   /terminal/open                  code → the cell to open; the parcel is picked up
====== =============================== =================================================

Idempotency: every POST takes an ``Idempotency-Key`` header (1–100 printable characters,
unique per terminal). The first answer to a key — a success, or a refusal that counted
something (a wrong PIN or code) — is stored with the operation and its body's digest
(``TerminalRequest``) in the same transaction as the step; a repeat with that key gets the
same status and JSON (header ``Idempotent-Replayed: true``) and changes nothing; the same key
with another operation or body is refused (422 ``idempotency_key_reused``). A refusal that
wrote nothing is not stored: a retry is simply decided again. A retried sign-in answers the
same token, which is derived from the device key and the idempotency key and never stored.

Errors are ``{"error": {"code", "message"}}`` in the ``Accept-Language`` (``api.errors``);
the codes of this API are listed in ``TERMINAL_ERRORS``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from api.errors import ErrorOut, error_response, error_responses, gettext_for, language_of
from api.models import Line, MoneyStr, _Request
from schema.base import N_
from schema.lockers import TerminalRequest
from services import terminal as steps
from services.errors import Conflict, Refused

PREFIX = "/terminal"
KEY_REUSED = N_("This Idempotency-Key was already used for another request; send a new key "
                "for a new request.")
TAG = "locker terminal"

device_key_header = APIKeyHeader(
    name="X-Device-Key", scheme_name="DeviceKey", auto_error=False,
    description="The locker terminal's device key (issued on the locker page, shown once).")
courier_token_header = APIKeyHeader(
    name="X-Courier-Token", scheme_name="CourierToken", auto_error=False,
    description="The token of the courier signed in at this terminal "
                "(POST /terminal/courier/sign-in).")

# status → (meaning, codes) for the OpenAPI document.
TERMINAL_ERRORS: dict[int, str] = {
    401: "No device key or a key no active locker has (`unauthorized`); no valid courier "
         "token (`courier_unauthorized`); a wrong badge number or PIN (`sign_in_failed`).",
    402: "The parcel's declared amount is unpaid (`payment_required`): pay first.",
    403: "The code opens no parcel in this locker (`wrong_code`); counted.",
    404: "No parcel has this barcode (`parcel_not_found`).",
    409: "The parcel belongs to another locker (`wrong_locker`), is not in a state it can be "
         "placed or collected from (`wrong_state`), is already placed (`already_placed`), the "
         "cell is not the parcel's or already closed (`wrong_cell`), no cell fits "
         "(`no_free_cell`), or someone changed the parcel at the same moment (`conflict`); "
         "a service refusal (`refused`).",
    422: "The body or a header does not match the model (`invalid_request`), the payment is "
         "refused (`payment_refused`: less than due, or nothing to pay), or the idempotency "
         "key was used for another request (`idempotency_key_reused`).",
    423: "Too many wrong codes were typed for this parcel (`code_blocked`).",
    429: "Too many wrong PINs (`pin_locked`, 5 minutes) or wrong codes at this terminal "
         "(`terminal_locked`, 15 minutes).",
}


def _responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    framework = error_responses(400, 405, 413, 500)
    ours = {status: {"model": ErrorOut, "description": TERMINAL_ERRORS[status]}
            for status in statuses}
    return {**framework, **ours}


IdempotencyKey = Annotated[str, Header(
    alias="Idempotency-Key", min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$",
    description="Unique per request of this terminal; a retry sends the same key and gets "
                "the first answer again.")]
Barcode = Annotated[Line, Field(min_length=1, max_length=64, description="The parcel's barcode.")]
PickupCode = Annotated[str, Field(pattern=r"^[0-9]{6}$", description="The 6-digit code from "
                                  "the buyer's SMS.", examples=["042917"])]
Phone = Annotated[str, Field(pattern=r"^[0-9+() -]{4,32}$", description="The buyer's phone "
                             "number or its last digits (at least 4): only that recipient's "
                             "parcels are tried, and a wrong code counts against them.")]
PositiveMoney = Annotated[str, Field(pattern=r"^[0-9]{1,15}(\.[0-9]{1,4})?$",
                                     description="An exact decimal amount, more than 0.",
                                     examples=["25.50"])]


# --- models -------------------------------------------------------------------------------


class SignInIn(_Request):
    badge_number: Line = Field(min_length=1, max_length=32)
    pin: str = Field(pattern=r"^[0-9]{4,8}$", description="4 to 8 digits.")


class CourierOut(BaseModel):
    id: int
    name: str


class SignInOut(BaseModel):
    token: str = Field(description="Send it as X-Courier-Token; shown once.")
    expires_at: datetime
    courier: CourierOut


class ScanIn(_Request):
    barcode: Barcode


class CellClosedIn(_Request):
    barcode: Barcode
    cell: Line = Field(min_length=1, max_length=16, description="The code of the cell closed.")


class CellOut(BaseModel):
    barcode: str
    cell: str = Field(description="The code of the cell to open (or just closed).")
    size: str
    status: str = Field(description="The parcel's status code after the step.")
    stored_until: datetime | None = None


class ExpiredParcelOut(BaseModel):
    barcode: str
    cell: str | None
    stored_until: datetime | None
    merchant: str


class ExpiredOut(BaseModel):
    parcels: list[ExpiredParcelOut]


class CodeIn(_Request):
    code: PickupCode
    phone: Phone | None = None


class CodeOut(BaseModel):
    barcode: str
    amount_due: MoneyStr
    currency: str
    next: Literal["pay", "open"] = Field(description="pay: report the payment first; "
                                         "open: POST /terminal/open.")


class PaymentIn(_Request):
    code: PickupCode
    phone: Phone | None = None
    method: Literal["cash", "card"]
    amount: PositiveMoney = Field(description="What the buyer paid, in the parcel's currency; "
                                  "at least the amount due.")


class CreditOut(BaseModel):
    phone: str = Field(description="The buyer's phone, all but the last 4 digits hidden.")
    amount: MoneyStr
    currency: str


class PaymentOut(BaseModel):
    barcode: str
    amount_due: MoneyStr
    paid: MoneyStr
    change: MoneyStr
    currency: str
    credit: CreditOut | None = Field(description="The change credited to the buyer's phone.")


class OpenIn(_Request):
    code: PickupCode
    phone: Phone | None = None


# --- plumbing -----------------------------------------------------------------------------


_CENTS = Decimal("0.01")


def _m(amount: Decimal) -> str:
    """Fixed-point, two decimals unless the amount has more (Money reads back with four)."""
    cents = amount.quantize(_CENTS)
    return format(cents if cents == amount else amount.normalize(), "f")


def _cell(answer: steps.CellToOpen) -> CellOut:
    return CellOut(barcode=answer.barcode, cell=answer.cell, size=answer.size,
                   status=answer.status, stored_until=answer.stored_until)


def _device_key(key: Annotated[str | None, Depends(device_key_header)]) -> str:
    if not (key or "").strip():
        # Before the body is read: no key is a 401, not a 422.
        raise steps.DeviceUnknown("Send the locker terminal's device key in the X-Device-Key "
                                  "header.")
    return str(key)


def _courier_token(token: Annotated[str | None, Depends(courier_token_header)]) -> str:
    return token or ""


def _fingerprint(name: str, body: BaseModel | None) -> str:
    data = json.dumps(body.model_dump(mode="json") if body is not None else None,
                      sort_keys=True, separators=(",", ":"))
    return f"{name}:{hashlib.sha256(data.encode('utf-8')).hexdigest()[:40]}"


def _error_of(exc: Refused, request: Request) -> tuple[int, dict[str, Any]]:
    """The status and error body of a refusal: a terminal step's own code and status; any
    other service refusal (the workflow's, a concurrent change) is 409."""
    if isinstance(exc, steps.TerminalRefused):
        code, status = exc.code, exc.status
    else:
        code, status = ("conflict" if isinstance(exc, Conflict) else "refused"), 409
    return status, {"error": {"code": code, "message": exc.render(gettext_for(request))}}


def _refusal(exc: Refused, request: Request) -> JSONResponse:
    status, body = _error_of(exc, request)
    return JSONResponse(body, status_code=status)


def _replay(stored: TerminalRequest, operation: str, request: Request,
            fill: Callable[[dict[str, Any]], dict[str, Any]] | None) -> Response:
    if stored.operation != operation:
        return error_response("idempotency_key_reused", gettext_for(request)(KEY_REUSED),
                              status=422)
    content = stored.response
    if fill is not None and stored.status_code < 400:
        content = json.dumps(fill(json.loads(content)))
    return Response(content, status_code=stored.status_code, media_type="application/json",
                    headers={"Idempotent-Replayed": "true"})


def _stored(session: Session, locker_id: int, key: str) -> TerminalRequest | None:
    return session.scalar(select(TerminalRequest).where(TerminalRequest.locker_id == locker_id,
                                                        TerminalRequest.key == key))


def _locker_id(session: Session, device_key: str) -> int:
    locker_id = steps.locker_for_key(session, device_key)
    if locker_id is None:
        raise steps.DeviceUnknown("This terminal's device key is not valid (a new key may have "
                                  "been issued for the locker).")
    return locker_id


# --- the app ------------------------------------------------------------------------------


def install(api: FastAPI, factory: sessionmaker[Session]) -> None:
    """Add the terminal's operations to the API."""

    def step(request: Request, device_key: str, key: str, name: str, body: BaseModel | None,
             work: Callable[[Session, int], BaseModel], *,
             stored_form: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
             fill: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> Response:
        """Run one state-changing step once per idempotency key (see the module's doc)."""
        operation = _fingerprint(name, body)
        with factory() as session:
            locker_id = _locker_id(session, device_key)
            stored = _stored(session, locker_id, key)
            if stored is not None:
                return _replay(stored, operation, request, fill)
            try:
                answer = work(session, locker_id).model_dump(mode="json")
                status = 200
            except Refused as exc:
                if not getattr(exc, "keep", False):
                    session.rollback()  # nothing was written, and nothing is stored
                    # Unless the same key won meanwhile (a concurrent retry): its answer.
                    stored = _stored(session, locker_id, key)
                    if stored is not None:
                        return _replay(stored, operation, request, fill)
                    return _refusal(exc, request)
                status, answer = _error_of(exc, request)
            kept = stored_form(answer) if stored_form is not None and status == 200 else answer
            session.add(TerminalRequest(locker_id=locker_id, key=key, operation=operation,
                                        status_code=status, response=json.dumps(kept)))
            try:
                session.commit()
            except IntegrityError:
                # The same key at the same moment: the other request's answer stands.
                session.rollback()
                stored = _stored(session, locker_id, key)
                if stored is None:
                    raise
                return _replay(stored, operation, request, fill)
        return JSONResponse(answer, status_code=status)

    @api.post(f"{PREFIX}/courier/sign-in", response_model=SignInOut, tags=[TAG],
              responses=_responses(401, 422, 429),
              summary="A courier signs in at the terminal with badge number and PIN")
    def sign_in(body: SignInIn, request: Request,
                device_key: Annotated[str, Depends(_device_key)],
                idempotency_key: IdempotencyKey) -> Response:
        """Checks the badge number and PIN (stored as an argon2 hash). Wrong PINs are counted:
        after 5 the PIN is refused for 5 minutes (429 `pin_locked`). The answer's token opens
        the courier's operations at this terminal (X-Courier-Token) for 12 hours; a retry with
        the same Idempotency-Key answers the same token."""
        token = steps.session_token_for(device_key, idempotency_key)

        def work(session: Session, locker_id: int) -> BaseModel:
            done = steps.sign_in_courier(session, locker_id, body.badge_number, body.pin,
                                         token=token)
            return SignInOut(token=done.token, expires_at=done.expires_at,
                             courier=CourierOut(id=done.courier_id, name=done.courier_name))

        # The token is not stored: a replay computes it again.
        return step(request, device_key, idempotency_key, "sign_in", body, work,
                    stored_form=lambda a: {**a, "token": None},
                    fill=lambda a: {**a, "token": token})

    @api.post(f"{PREFIX}/courier/scan", response_model=CellOut, tags=[TAG],
              responses=_responses(401, 404, 409, 422),
              summary="The courier scanned a parcel: which cell to open")
    def scan(body: ScanIn, request: Request, device_key: Annotated[str, Depends(_device_key)],
             courier_token: Annotated[str, Depends(_courier_token)],
             idempotency_key: IdempotencyKey) -> Response:
        """The parcel must be this locker's and in a state the parcel workflow lets a courier
        place from (with courier, or registered for a store's self-drop). Answers its reserved
        cell, or reserves a new one if the reservation was released (409 `no_free_cell` when
        none fits). A parcel of another locker is 409 `wrong_locker`; one already in the
        locker 409 `already_placed`."""
        def work(session: Session, locker_id: int) -> BaseModel:
            courier = steps.courier_for_token(session, locker_id, courier_token)
            return _cell(steps.scan(session, locker_id, courier, body.barcode,
                                          language_of(request)))

        return step(request, device_key, idempotency_key, "scan", body, work)

    @api.post(f"{PREFIX}/courier/cell-closed", response_model=CellOut, tags=[TAG],
              responses=_responses(401, 404, 409, 422),
              summary="The courier closed the cell: the parcel is in the locker")
    def cell_closed(body: CellClosedIn, request: Request,
                    device_key: Annotated[str, Depends(_device_key)],
                    courier_token: Annotated[str, Depends(_courier_token)],
                    idempotency_key: IdempotencyKey) -> Response:
        """Moves the parcel to "in locker" as the courier, occupies the cell, sets the storage
        deadline (`stored_until`: now + the storage days of the zone's tariff, else the
        setting `locker_storage_days`) and queues the buyer's SMS with the pickup code, the
        locker's address, the deadline and the amount to pay. The code is in the SMS only.
        A cell that is not the parcel's, or already closed, is 409 `wrong_cell`; a parcel
        already placed 409 `already_placed`."""
        def work(session: Session, locker_id: int) -> BaseModel:
            courier = steps.courier_for_token(session, locker_id, courier_token)
            return _cell(steps.cell_closed(session, locker_id, courier, body.barcode,
                                           body.cell, language=language_of(request)))

        return step(request, device_key, idempotency_key, "cell_closed", body, work)

    @api.get(f"{PREFIX}/courier/expired", response_model=ExpiredOut, tags=[TAG],
             responses=_responses(401), summary="Parcels to collect for return")
    def expired(request: Request, device_key: Annotated[str, Depends(_device_key)],
                courier_token: Annotated[str, Depends(_courier_token)]) -> Any:
        """The locker's parcels whose storage expired, with their cells, by cell code."""
        with factory() as session:
            locker_id = _locker_id(session, device_key)
            try:
                steps.courier_for_token(session, locker_id, courier_token)
            except Refused as exc:
                return _refusal(exc, request)
            rows = steps.expired_parcels(session, locker_id)
        return ExpiredOut(parcels=[ExpiredParcelOut(barcode=r.barcode, cell=r.cell,
                                                    stored_until=r.stored_until,
                                                    merchant=r.merchant) for r in rows])

    @api.post(f"{PREFIX}/courier/collect", response_model=CellOut, tags=[TAG],
              responses=_responses(401, 404, 409, 422),
              summary="Collect an expired parcel for return: which cell to open")
    def collect(body: ScanIn, request: Request,
                device_key: Annotated[str, Depends(_device_key)],
                courier_token: Annotated[str, Depends(_courier_token)],
                idempotency_key: IdempotencyKey) -> Response:
        """Moves a parcel whose storage expired to "returned" as the courier (history comment:
        the locker and cell), frees its cell and answers the cell to open. Any other state is
        409 `wrong_state`."""
        def work(session: Session, locker_id: int) -> BaseModel:
            courier = steps.courier_for_token(session, locker_id, courier_token)
            return _cell(steps.collect(session, locker_id, courier, body.barcode,
                                             language_of(request)))

        return step(request, device_key, idempotency_key, "collect", body, work)

    @api.post(f"{PREFIX}/code", response_model=CodeOut, tags=[TAG],
              responses=_responses(401, 403, 422, 423, 429),
              summary="The buyer typed a pickup code")
    def code(body: CodeIn, request: Request, device_key: Annotated[str, Depends(_device_key)],
             idempotency_key: IdempotencyKey) -> Response:
        """Finds the parcel in this locker the code opens and answers what comes next: the
        amount due (`next: pay`) or `next: open`. Wrong codes are limited: per parcel (setting
        `locker_code_attempts`, counted when the phone is given; then 423 `code_blocked`) and
        per terminal (setting `locker_terminal_code_attempts`; then every code is refused for
        15 minutes, 429 `terminal_locked`). A wrong code is 403 `wrong_code`."""
        def work(session: Session, locker_id: int) -> BaseModel:
            answer = steps.enter_code(session, locker_id, body.code, body.phone)
            return CodeOut(barcode=answer.barcode, amount_due=_m(answer.amount_due),
                           currency=answer.currency, next="open" if answer.can_open else "pay")

        return step(request, device_key, idempotency_key, "code", body, work)

    @api.post(f"{PREFIX}/payment", response_model=PaymentOut, tags=[TAG],
              responses=_responses(401, 403, 422, 423, 429),
              summary="The terminal took the buyer's payment")
    def payment(body: PaymentIn, request: Request,
                device_key: Annotated[str, Depends(_device_key)],
                idempotency_key: IdempotencyKey) -> Response:
        """Records the payment (cash or card) for the parcel the code opens: the amount due is
        paid; anything over it is credited to the buyer's phone-number account (`credit`).
        Less than due is 422 `payment_refused` and nothing is recorded."""
        def work(session: Session, locker_id: int) -> BaseModel:
            paid = steps.pay(session, locker_id, body.code, body.method, body.amount,
                             body.phone)
            credit = None if paid.credited_phone is None else CreditOut(
                phone=paid.credited_phone, amount=_m(paid.change), currency=paid.currency)
            return PaymentOut(barcode=paid.barcode, amount_due=_m(paid.amount),
                              paid=_m(paid.tendered), change=_m(paid.change),
                              currency=paid.currency, credit=credit)

        return step(request, device_key, idempotency_key, "payment", body, work)

    @api.post(f"{PREFIX}/open", response_model=CellOut, tags=[TAG],
              responses=_responses(401, 402, 403, 409, 422, 423, 429),
              summary="Open the cell for the buyer: the parcel is picked up")
    def open_cell(body: OpenIn, request: Request,
                  device_key: Annotated[str, Depends(_device_key)],
                  idempotency_key: IdempotencyKey) -> Response:
        """Moves the parcel the code opens to "picked up" (the cell is freed) and answers the
        cell to open. An unpaid declared amount is 402 `payment_required`."""
        def work(session: Session, locker_id: int) -> BaseModel:
            return _cell(steps.open_cell(session, locker_id, body.code, body.phone))

        return step(request, device_key, idempotency_key, "open", body, work)
