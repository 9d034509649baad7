"""Request body limits: no application ever holds more of a request body than its route allows.

Each request falls in one route class, by its path (``BodyLimits``, defaults in bytes):

=========== ======================================================================= =========
class       paths                                                                   limit
=========== ======================================================================= =========
``api``     ``/api`` and below: the JSON API (a cart of 500 lines is about 40 KB)   1 MiB
``upload``  ``/admin/<view>/…`` of the views that take a file (``accepts_uploads``:  1 MiB
            the gateway's certificate, itself at most 64 KB)
``form``    everything else: the admin's forms, sign-in, the documents' links        2 MiB
=========== ======================================================================= =========

A request that declares a ``Content-Length`` over its limit is answered 413 at once: the
application is not called and the body is not read (the server discards it). A body without a
``Content-Length`` (chunked) is counted as the application reads it; the chunk that crosses the
limit is never handed over — the read raises instead — and whatever the application then
answers is replaced by the 413. So an application never sees more than the limit, nor a
truncated body it could take for a whole one. If the application had already started its
answer, the exception propagates and the server drops the connection.

The 413 is ``{"error": {"code": "body_too_large", "message": ...}}`` under ``/api`` (the API's
error shape, in the ``Accept-Language``) and a short plain text in the person's language (the
admin's choice: ``?lang``, cookie, browser) elsewhere; both state the limit.

Installed outermost (only Starlette's error middleware is outside it): the admin's CSRF check
reads the whole body into memory, so the limit must come first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import FastAPI
from sqladmin import Admin
from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from admin.middleware import choose_language
from api.errors import error_response, language_of
from locales import translations
from schema.base import N_

MIB = 1024 * 1024

API_MESSAGE = N_("The request body is larger than %(limit)s, the most the API accepts.")
PAGE_MESSAGE = N_("The form is larger than %(limit)s, the most this page accepts. Choose a "
                  "smaller file or send less text.")
MEGABYTES = N_("%(n)s MB")
KILOBYTES = N_("%(n)s KB")


@dataclass(frozen=True)
class BodyLimits:
    """The largest request body of each route class, in bytes."""

    api: int = 1 * MIB
    upload: int = 1 * MIB
    form: int = 2 * MIB


class BodyTooLarge(Exception):
    """Raised to the application instead of the chunk that crosses the limit."""


def size_text(size: int, gettext: Callable[[str], str]) -> str:
    if size % MIB == 0:
        return gettext(MEGABYTES) % {"n": size // MIB}
    return gettext(KILOBYTES) % {"n": -(-size // 1024)}


def _declared_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None  # the server rejects a malformed one; counting still bounds the body


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limits: BodyLimits = BodyLimits(),
                 upload_paths: tuple[str, ...] = ()) -> None:
        self.app = app
        self.limits = limits
        self.upload_paths = upload_paths

    def route_class(self, scope: Scope) -> tuple[str, int]:
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]
        if path == "/api" or path.startswith("/api/"):
            return "api", self.limits.api
        if self.upload_paths and path.startswith(self.upload_paths):
            return "upload", self.limits.upload
        return "form", self.limits.form

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        kind, limit = self.route_class(scope)
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await self.refusal(scope, kind, limit)(scope, receive, send)
            return

        received = 0
        exceeded = started = False

        async def counted() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge()
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # the answer to a body it never got whole: ours goes out instead
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            # Whatever the application made of the BodyTooLarge (FastAPI turns it into a 400,
            # sqladmin's error middleware into a 500 it re-raises) is its consequence.
            if not exceeded or started:
                raise
        if exceeded and not started:
            await self.refusal(scope, kind, limit)(scope, receive, send)

    def refusal(self, scope: Scope, kind: str, limit: int) -> Response:
        conn = HTTPConnection(scope)
        if kind == "api":
            gettext = translations(language_of(conn)).gettext
            return error_response("body_too_large", gettext(API_MESSAGE) % {
                "limit": size_text(limit, gettext)})
        gettext = translations(choose_language(conn)[0]).gettext
        return PlainTextResponse(gettext(PAGE_MESSAGE) % {"limit": size_text(limit, gettext)},
                                 status_code=413)


def install(app: FastAPI, admin: Admin, limits: BodyLimits = BodyLimits()) -> None:
    """Put the middleware around ``app``; the views marked ``accepts_uploads`` are the
    upload class. Call after every view is added."""
    base = admin.base_url.rstrip("/")
    uploads = tuple(f"{base}/{view.identity}/" for view in admin.views
                    if getattr(view, "accepts_uploads", False))
    app.add_middleware(BodyLimitMiddleware, limits=limits, upload_paths=uploads)
