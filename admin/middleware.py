"""Per-request context for the admin: language, actor reset, CSRF protection."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs

import sqladmin.i18n
from babel.core import negotiate_locale
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from locales import DEFAULT_LANGUAGE, LANGUAGES, gettext, set_language, translations
from schema.base import N_
from services.actor import set_actor

LANG_COOKIE = "postdesk_lang"
LANG_MAX_AGE = 365 * 24 * 3600
CSRF_SESSION_KEY = "csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SECURITY_HEADERS = (
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
)
# Error pages show Starlette's reason phrases; these are the ones a person can meet.
HTTP_MESSAGES = (N_("Not Found"), N_("Forbidden"), N_("Bad Request"), N_("Method Not Allowed"),
                 N_("Object not found"), N_("Invalid page or pageSize parameter"),
                 N_("Invalid sortBy parameter"))


def install_catalogs_into_sqladmin() -> None:
    """sqladmin's locale list is fixed and has no Persian: hand it our merged catalogs."""
    for lang in LANGUAGES:
        sqladmin.i18n.translations[lang] = translations(lang)  # type: ignore[attr-defined]
        if lang not in sqladmin.i18n.SUPPORTED_LOCALES:
            sqladmin.i18n.SUPPORTED_LOCALES.append(lang)


def set_language_cookie(response: Response, lang: str, request: HTTPConnection) -> None:
    response.set_cookie(LANG_COOKIE, lang, max_age=LANG_MAX_AGE, path="/", samesite="lax")


def choose_language(conn: HTTPConnection) -> tuple[str, bool]:
    """Query parameter (a new choice), then the cookie, then the browser's preference."""
    asked = conn.query_params.get("lang")
    if asked in LANGUAGES:
        return asked, True
    cookie = conn.cookies.get(LANG_COOKIE)
    if cookie in LANGUAGES:
        return cookie, False
    header = conn.headers.get("accept-language", "")
    preferred = [p.split(";")[0].strip() for p in header.split(",") if p.strip()]
    return negotiate_locale(preferred, list(LANGUAGES), sep="-") or DEFAULT_LANGUAGE, False


class RequestContextMiddleware:
    """Starts every request with no actor and the person's language active."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        lang, chosen = choose_language(conn)
        set_language(lang)
        sqladmin.i18n.set_locale(lang)
        set_actor(None)
        scope.setdefault("state", {})
        if chosen:
            scope["state"]["language_chosen"] = lang

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    headers.setdefault(name, value)
            if chosen and message["type"] == "http.response.start":
                headers.append(
                    "set-cookie",
                    f"{LANG_COOKIE}={lang}; Path=/; Max-Age={LANG_MAX_AGE}; SameSite=lax",
                )
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            set_actor(None)


def csrf_token(request: Request) -> str:
    token = request.session.get(CSRF_SESSION_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        request.session[CSRF_SESSION_KEY] = token
    return token


class CSRFMiddleware:
    """Every state-changing request must echo the session's token (header or form field).

    sqladmin has no CSRF protection of its own. Must run inside the session middleware.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in UNSAFE_METHODS:
            await self.app(scope, receive, send)
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)

        request = Request(scope)
        expected = request.session.get(CSRF_SESSION_KEY)
        given = request.headers.get(CSRF_HEADER) or await _form_token(request, body)
        if not expected or not given or not secrets.compare_digest(str(expected), str(given)):
            response = PlainTextResponse(
                gettext("The form has expired or did not come from this site. Reload the page "
                        "and try again."),
                status_code=403,
            )
            await response(scope, receive, send)
            return
        await self.app(scope, _replayer(body), send)


def _replayer(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _form_token(request: Request, body: bytes) -> str | None:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        values = parse_qs(body.decode("latin-1")).get(CSRF_FIELD)
        return values[0] if values else None
    if content_type.startswith("multipart/form-data"):
        form = await Request(request.scope, _replayer(body)).form()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return request.query_params.get(CSRF_FIELD)
