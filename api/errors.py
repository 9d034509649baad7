"""The API's error answers: one shape for every error, the framework's own included.

Every error is ``{"error": {"code": <stable code>, "message": <readable text>}}``, the message
in the request's ``Accept-Language`` (en, ru, fa; English for anything else):

====== ========================== =========================================================
status code                       when
====== ========================== =========================================================
400    ``invalid_body``           the body is not JSON, or not UTF-8 text
400    ``refused``                a service refused the request; the message says why
401    ``unauthorized``           no API key, or one no active merchant has
402    ``insufficient_balance``   a parcel's charge is not covered by the balance plus the
                                  credit limit; the message names the amount missing
404    ``not_found``              no such path anywhere under ``/api``
404    ``product_not_found``,     an id this store does not have
       ``customer_not_found``
405    ``method_not_allowed``     the path exists, the method does not; ``Allow`` lists those
                                  it has
409    ``discount_exhausted``     the discount's uses ran out
413    ``body_too_large``         the body is over the API's limit (``admin.limits``)
422    ``invalid_request``        the body does not match the documented model, or a cart the
                                  service cannot take
422    ``shipping_unavailable``,  the chosen method or code cannot be used for this cart
       ``payment_unavailable``,
       ``discount_not_applicable``
500    ``internal_error``         a bug; the traceback goes to the log, not to the caller
503    ``secret_key_mismatch``    stored secrets do not decrypt (``admin.secret_errors``)
====== ========================== =========================================================

Any other framework error keeps its status with the code ``http_error``.
``error_responses`` declares these answers in the OpenAPI document, operation by operation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from babel import negotiate_locale
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.types import Receive, Scope, Send

from api.auth import Unauthorized
from locales import DEFAULT_LANGUAGE, LANGUAGES, translations
from schema.base import N_
from services.errors import Refused

API_ROOT = "/api/v1"  # admin.app mounts the API here; the 404 points at its docs
DOCS = f"{API_ROOT}/docs"

# HTTP status of each stable error code; anything else refused by a service is 400 "refused".
STATUS_BY_CODE = {
    "invalid_body": 400,
    "refused": 400,
    "unauthorized": 401,
    "insufficient_balance": 402,
    "not_found": 404,
    "product_not_found": 404,
    "customer_not_found": 404,
    "method_not_allowed": 405,
    "discount_exhausted": 409,
    "body_too_large": 413,
    "invalid_request": 422,
    "shipping_unavailable": 422,
    "payment_unavailable": 422,
    "discount_not_applicable": 422,
    "internal_error": 500,
}

UNAUTHORIZED = N_("Send a valid API key as \"Authorization: Bearer <key>\" or in the X-API-Key "
                  "header.")
INVALID = N_("The request is not valid: %(details)s")
NOT_JSON = N_("The request body is not valid JSON (at character %(position)s).")
UNREADABLE = N_("The request body could not be read: send JSON encoded as UTF-8.")
NOT_FOUND = N_("There is no %(path)s in this API; its operations are listed at %(docs)s.")
NOT_ALLOWED = N_("%(method)s is not allowed on %(path)s; use %(allowed)s.")
HTTP_ERROR = N_("The request could not be served (HTTP %(status)s).")
INTERNAL = N_("Something went wrong on the server; it has been logged. Try again later.")


# --- the shape --------------------------------------------------------------------------


class ErrorBody(BaseModel):
    code: str = Field(description="A stable code: invalid_body, refused, unauthorized, "
                      "not_found, product_not_found, customer_not_found, method_not_allowed, "
                      "discount_exhausted, body_too_large, invalid_request, "
                      "shipping_unavailable, payment_unavailable, discount_not_applicable, "
                      "internal_error; http_error for any other framework error.")
    message: str = Field(description="What was wrong, in the Accept-Language (en, ru, fa).")


class ErrorOut(BaseModel):
    error: ErrorBody


_MEANING = {
    400: "The body is not JSON in UTF-8 (`invalid_body`), or a service refused the request "
         "(`refused`).",
    401: "No API key, or a key no active merchant has (`unauthorized`).",
    402: "The parcel's charge is more than the store's balance plus its credit limit "
         "(`insufficient_balance`); the message names the amount missing.",
    404: "An id this store does not have (`product_not_found`, `customer_not_found`).",
    405: "The path does not take this method (`method_not_allowed`); `Allow` lists those it "
         "takes.",
    409: "The discount code has no uses left (`discount_exhausted`).",
    413: "The body is larger than the API accepts (`body_too_large`); the message says how "
         "much it accepts.",
    422: "The body does not match the model (`invalid_request`), or the cart cannot be "
         "shipped or paid as chosen (`shipping_unavailable`, `payment_unavailable`, "
         "`discount_not_applicable`).",
    500: "A fault of the server (`internal_error`).",
    503: "The server cannot decrypt its stored secrets (`secret_key_mismatch`); its "
         "administrator must set the key the database was set up with.",
}
_ALLOW = {"Allow": {"description": "The methods the path takes.", "required": True,
                    "schema": {"type": "string"}}}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of an operation for these error statuses, in the error shape."""
    return {status: {"model": ErrorOut, "description": _MEANING[status],
                     **({"headers": _ALLOW} if status == 405 else {})}
            for status in statuses}


# --- language and rendering -------------------------------------------------------------


def language_of(conn: HTTPConnection) -> str:
    header = conn.headers.get("accept-language", "")
    preferred = [p.split(";")[0].strip() for p in header.split(",") if p.strip()]
    return negotiate_locale(preferred, list(LANGUAGES), sep="-") or DEFAULT_LANGUAGE


def gettext_for(conn: HTTPConnection) -> Callable[[str], str]:
    return translations(language_of(conn)).gettext


def error_response(code: str, message: str, *, status: int | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}},
                        status_code=status or STATUS_BY_CODE.get(code, 400), headers=headers)


def _validation_details(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        parts.append(f"{where}: {error.get('msg', '')}" if where else str(error.get("msg", "")))
    return "; ".join(parts)


# --- handlers ---------------------------------------------------------------------------


async def _unauthorized(request: Request, exc: Exception) -> JSONResponse:
    return error_response("unauthorized", gettext_for(request)(UNAUTHORIZED),
                          headers={"WWW-Authenticate": "Bearer"})


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    gettext = gettext_for(request)
    errors = exc.errors()
    if errors and errors[0].get("type") == "json_invalid":
        # FastAPI reports a body json.loads could not parse as a validation error; it is a
        # malformed request (400), not a well-formed one that breaks the model (422).
        loc = errors[0].get("loc", ())
        position = loc[1] if len(loc) > 1 else 0
        return error_response("invalid_body", gettext(NOT_JSON) % {"position": position})
    return error_response("invalid_request",
                          gettext(INVALID) % {"details": _validation_details(exc)})


async def _refused(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Refused)
    return error_response(getattr(exc, "code", "refused"), exc.render(gettext_for(request)))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """The framework's own errors: routing (404, 405) and a body FastAPI could not read (400;
    its other refusals arrive as validation errors)."""
    assert isinstance(exc, HTTPException)
    gettext = gettext_for(request)
    status, headers = exc.status_code, dict(exc.headers or {})
    if status == 400:
        return error_response("invalid_body", gettext(UNREADABLE), headers=headers)
    if status == 404:
        return not_found(request)
    if status == 405:
        message = gettext(NOT_ALLOWED) % {"method": request.method, "path": request.url.path,
                                          "allowed": headers.get("Allow", "")}
        return error_response("method_not_allowed", message, headers=headers)
    return error_response("http_error", gettext(HTTP_ERROR) % {"status": status},
                          status=status, headers=headers)


async def _internal(request: Request, exc: Exception) -> JSONResponse:
    # Starlette's error middleware re-raises after this answer, so the server logs the
    # traceback; the caller learns only that it was not its fault.
    return error_response("internal_error", gettext_for(request)(INTERNAL))


def not_found(conn: HTTPConnection) -> JSONResponse:
    message = gettext_for(conn)(NOT_FOUND) % {"path": conn.url.path, "docs": DOCS}
    return error_response("not_found", message)


def install_error_handlers(api: FastAPI) -> None:
    api.add_exception_handler(Unauthorized, _unauthorized)
    api.add_exception_handler(RequestValidationError, _invalid)
    api.add_exception_handler(Refused, _refused)
    api.add_exception_handler(HTTPException, _http_error)
    api.add_exception_handler(Exception, _internal)


async def unknown_path(scope: Scope, receive: Receive, send: Send) -> None:
    """An ASGI app for the rest of ``/api``: every path there is answered 404 in the shape."""
    if scope["type"] != "http":
        await send({"type": "websocket.close", "code": 1000})
        return
    await not_found(HTTPConnection(scope))(scope, receive, send)
