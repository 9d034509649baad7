"""Stored secrets that do not decrypt under the server's key: an answer, not a 500.

``schema.base.Encrypted`` raises ``SecretKeyMismatch`` when a page or an API call reads a secret
written under another key (the server was started with the wrong ``POSTDESK_SECRET_KEY`` or
``POSTDESK_SECRET_FILE``, or another server rotated the key). Every application of the site
(the outer app and each mounted one: the admin, the API, the document links) answers it with
503 and what to do, in the reader's language: the admin with its error page, the API with its
``{"error": {"code": "secret_key_mismatch", ...}}``. The log gets one line, no traceback.

Handlers are registered per application because a mounted Starlette app turns an unhandled
exception into its own 500 before the outer app could see it.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from sqladmin import Admin
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount

from api.app import language_of
from locales import gettext, translations
from schema.base import N_, SecretKeyMismatch

log = logging.getLogger(__name__)

STATUS = 503  # the server is misconfigured; retrying after the fix succeeds


MESSAGE = N_("The stored secrets were encrypted with another secret key. The server's "
             "administrator must set POSTDESK_SECRET_KEY (or POSTDESK_SECRET_FILE) to the key "
             "this database was set up with.")


def _logged(request: Request) -> None:
    log.error("%s %s: %s", request.method, request.url.path, SecretKeyMismatch())


def install(app: FastAPI, admin: Admin) -> None:
    async def plain(request: Request, _exc: Exception) -> Response:
        _logged(request)
        return PlainTextResponse(gettext(MESSAGE), status_code=STATUS)

    async def api(request: Request, _exc: Exception) -> Response:
        _logged(request)
        message = translations(language_of(request)).gettext(MESSAGE)
        return JSONResponse({"error": {"code": "secret_key_mismatch", "message": message}},
                            status_code=STATUS)

    async def page(request: Request, _exc: Exception) -> Response:
        _logged(request)
        render = admin.admin.exception_handlers[HTTPException]
        return await render(request, HTTPException(STATUS, gettext(MESSAGE)))  # type: ignore[no-any-return, misc]

    app.add_exception_handler(SecretKeyMismatch, plain)
    for route in app.routes:
        if isinstance(route, Mount) and isinstance(route.app, Starlette):
            handler = (page if route.app is admin.admin
                       else api if route.path.startswith("/api") else plain)
            route.app.add_exception_handler(SecretKeyMismatch, handler)
