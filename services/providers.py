"""Delivery providers for the outbox, chosen by settings (R-NOTE-1).

A provider sends one message and returns the provider's answer, or raises ``DeliveryError`` with
that answer; the worker records either on the message.

Every send carries the message's **delivery key** (``delivery_key``): ``pd-<id>-<queued>``, the
outbox id and the microsecond the message was queued (base 36). It is the same on every attempt
by every worker and differs between messages, also between installations whose ids overlap, and
it depends on no setting that can change (host, secret key). The worker delivers at least once
(``services.worker``); the key is what makes a resend recognisable:

- HTTP SMS: the header ``POSTDESK_SMS_IDEMPOTENCY_HEADER`` (``Idempotency-Key``) and the
  placeholder ``{idempotency_key}`` for gateways that take a client message id in the request;
- e-mail: the ``Message-ID`` ``<key@sender's domain>``, so mail clients and archives show one
  message for a resend;
- local: the ``delivery_key`` field of the JSON line.

Settings come from the environment:

``POSTDESK_SMS_PROVIDER``    ``local`` (default) or ``http``
``POSTDESK_EMAIL_PROVIDER``  ``local`` (default) or ``smtp``
``POSTDESK_LOCAL_OUTBOX``    file the local provider appends JSON lines to (``outbox.jsonl``)
``POSTDESK_SMTP_HOST``, ``_PORT`` (25; 587 with STARTTLS), ``_USER``, ``_PASSWORD``, ``_FROM``,
``_STARTTLS`` (1/0), ``_TIMEOUT`` (seconds)
``POSTDESK_SMS_URL``         may hold ``{recipient}``, ``{body}``, ``{key}``, ``{idempotency_key}``
                             (URL-quoted)
``POSTDESK_SMS_METHOD``      ``POST`` (default) or ``GET``
``POSTDESK_SMS_TEMPLATE``    ``str.format`` template with the same placeholders;
                             POST: the request body, JSON by default (values JSON-escaped);
                             GET: the query string (values URL-quoted)
``POSTDESK_SMS_CONTENT_TYPE`` the POST body's type (``application/json``)
``POSTDESK_SMS_KEY``         the API key, sent in the header ``POSTDESK_SMS_KEY_HEADER``
                             (``X-API-Key``; e.g. ``Authorization`` with a ``Bearer ...`` key)
``POSTDESK_SMS_IDEMPOTENCY_HEADER`` the header carrying the delivery key (``Idempotency-Key``)
``POSTDESK_SMS_TIMEOUT``     seconds (15)

Secrets (passwords, keys) never appear in an answer or an error.
"""

from __future__ import annotations

import email.policy
import json
import os
import smtplib
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

import httpx

from schema.base import utcnow
from schema.notifications import OutboxChannel, OutboxMessage

ANSWER_LIMIT = 1000


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, digit = divmod(number, 36)
        text = digits[digit] + text
        if not number:
            return text


def delivery_key(message: OutboxMessage) -> str:
    """``pd-<outbox id>-<microseconds since 1970 when queued, base 36>``: see the module doc."""
    queued = message.created_at
    stamp = "0"
    if queued is not None:
        delta = queued.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
        stamp = _base36(delta // timedelta(microseconds=1))
    return f"pd-{message.id}-{stamp}"


class DeliveryError(Exception):
    """The provider did not accept the message; ``answer`` is what it said."""

    def __init__(self, answer: str) -> None:
        super().__init__(answer)
        self.answer = answer


class Provider(Protocol):
    def send(self, message: OutboxMessage) -> str: ...


def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def _flag(value: str | None, default: bool = False) -> bool:
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)


def _short(text: str) -> str:
    text = text.strip()
    return text if len(text) <= ANSWER_LIMIT else text[:ANSWER_LIMIT] + "…"


class LocalProvider:
    """Sends nothing: appends the message as one JSON line to a file (development, demo, tests)."""

    _lock = threading.Lock()

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path or os.environ.get("POSTDESK_LOCAL_OUTBOX") or "outbox.jsonl")

    def send(self, message: OutboxMessage) -> str:
        record = {
            "id": message.id, "delivery_key": delivery_key(message),
            "channel": str(message.channel), "recipient": message.recipient,
            "subject": message.subject, "body": message.body,
            "related_table": message.related_table, "related_id": message.related_id,
            "recorded_at": utcnow().isoformat(),
        }
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as fp:
            fp.write(line)
        return "recorded locally"


class SmtpProvider:
    """E-mail through an SMTP server (optionally STARTTLS and login)."""

    def __init__(self, host: str, port: int = 25, *, sender: str, user: str = "",
                 password: str = "", starttls: bool = False, timeout: float = 30.0) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.user, self.password, self.starttls, self.timeout = user, password, starttls, timeout

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SmtpProvider:
        env = _env(env)
        host = env.get("POSTDESK_SMTP_HOST", "")
        if not host:
            raise ValueError("POSTDESK_EMAIL_PROVIDER=smtp needs POSTDESK_SMTP_HOST")
        starttls = _flag(env.get("POSTDESK_SMTP_STARTTLS"))
        user = env.get("POSTDESK_SMTP_USER", "")
        return cls(
            host, int(env.get("POSTDESK_SMTP_PORT") or (587 if starttls else 25)),
            sender=env.get("POSTDESK_SMTP_FROM") or user or f"postdesk@{host}",
            user=user, password=env.get("POSTDESK_SMTP_PASSWORD", ""), starttls=starttls,
            timeout=float(env.get("POSTDESK_SMTP_TIMEOUT") or 30),
        )

    def _email(self, message: OutboxMessage) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.recipient
        mail["Subject"] = message.subject or ""
        mail["Date"] = formatdate(localtime=False)
        # The same id on every resend; the domain is the sender's, never this host's.
        domain = parseaddr(self.sender)[1].rpartition("@")[2] or self.host
        mail["Message-ID"] = f"<{delivery_key(message)}@{domain}>"
        mail.set_content(message.body or "")
        return mail

    def send(self, message: OutboxMessage) -> str:
        data = self._email(message).as_bytes(policy=email.policy.SMTP)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.ehlo()
                if self.starttls:
                    smtp.starttls()
                    smtp.ehlo()
                if self.user:
                    smtp.login(self.user, self.password)
                for code, reply in (smtp.mail(self.sender), smtp.rcpt(message.recipient)):
                    if code not in (250, 251):
                        raise DeliveryError(_short(f"SMTP {code} {_text(reply)}"))
                code, reply = smtp.data(data)  # raises SMTPDataError unless 250
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(_short(f"SMTP {exc.smtp_code} {_text(exc.smtp_error)}")) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(_short(f"SMTP: {exc}")) from exc
        return _short(f"SMTP {code} {_text(reply)}")


class HttpSmsProvider:
    """SMS through any HTTP gateway: a URL, a request template and an API key."""

    DEFAULT_POST_TEMPLATE = '{{"to": "{recipient}", "text": "{body}"}}'
    DEFAULT_GET_TEMPLATE = "to={recipient}&text={body}"

    def __init__(self, url: str, *, method: str = "POST", template: str | None = None,
                 content_type: str = "application/json", key: str = "",
                 key_header: str = "X-API-Key", timeout: float = 15.0,
                 idempotency_header: str = "Idempotency-Key") -> None:
        method = method.upper()
        if method not in {"POST", "GET"}:
            raise ValueError(f"POSTDESK_SMS_METHOD must be POST or GET, not {method!r}")
        self.url, self.method, self.content_type = url, method, content_type
        self.template = template or (
            self.DEFAULT_POST_TEMPLATE if method == "POST" else self.DEFAULT_GET_TEMPLATE)
        self.key, self.key_header, self.timeout = key, key_header, timeout
        self.idempotency_header = idempotency_header

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> HttpSmsProvider:
        env = _env(env)
        url = env.get("POSTDESK_SMS_URL", "")
        if not url:
            raise ValueError("POSTDESK_SMS_PROVIDER=http needs POSTDESK_SMS_URL")
        return cls(
            url, method=env.get("POSTDESK_SMS_METHOD") or "POST",
            template=env.get("POSTDESK_SMS_TEMPLATE") or None,
            content_type=env.get("POSTDESK_SMS_CONTENT_TYPE") or "application/json",
            key=env.get("POSTDESK_SMS_KEY", ""),
            key_header=env.get("POSTDESK_SMS_KEY_HEADER") or "X-API-Key",
            timeout=float(env.get("POSTDESK_SMS_TIMEOUT") or 15),
            idempotency_header=env.get("POSTDESK_SMS_IDEMPOTENCY_HEADER") or "Idempotency-Key",
        )

    def _values(self, message: OutboxMessage, escape: str) -> dict[str, str]:
        raw = {"recipient": message.recipient, "body": message.body or "", "key": self.key,
               "idempotency_key": delivery_key(message)}
        if escape == "json":
            return {k: json.dumps(v, ensure_ascii=False)[1:-1] for k, v in raw.items()}
        if escape == "url":
            return {k: quote(v, safe="") for k, v in raw.items()}
        return raw

    def _body_escape(self) -> str:
        if "json" in self.content_type:
            return "json"
        if "x-www-form-urlencoded" in self.content_type:
            return "url"
        return "raw"

    def request(self, message: OutboxMessage) -> httpx.Request:
        """The request that would be sent (built separately so it can be inspected)."""
        url = self.url.format(**self._values(message, "url"))
        headers = {self.idempotency_header: delivery_key(message)}
        if self.key:
            headers[self.key_header] = self.key
        if self.method == "GET":
            query = self.template.format(**self._values(message, "url"))
            if query:
                url += ("&" if "?" in url else "?") + query
            return httpx.Request("GET", url, headers=headers)
        body = self.template.format(**self._values(message, self._body_escape()))
        headers["Content-Type"] = self.content_type
        return httpx.Request("POST", url, headers=headers, content=body.encode("utf-8"))

    def send(self, message: OutboxMessage) -> str:
        request = self.request(message)
        try:
            with httpx.Client(timeout=self.timeout) as client:
                response = client.send(request)
        except httpx.HTTPError as exc:
            raise DeliveryError(_short(f"HTTP error: {type(exc).__name__}: {exc}")) from exc
        answer = _short(f"HTTP {response.status_code}: {response.text}")
        if not response.is_success:
            raise DeliveryError(answer)
        return answer


def providers_from_env(env: Mapping[str, str] | None = None) -> dict[OutboxChannel, Provider]:
    """The provider for each channel, as the settings choose; local ones by default."""
    env = _env(env)
    local = LocalProvider(env.get("POSTDESK_LOCAL_OUTBOX") or None)
    sms_kind = (env.get("POSTDESK_SMS_PROVIDER") or "local").strip().lower()
    email_kind = (env.get("POSTDESK_EMAIL_PROVIDER") or "local").strip().lower()
    sms: Provider
    mail: Provider
    if sms_kind == "local":
        sms = local
    elif sms_kind == "http":
        sms = HttpSmsProvider.from_env(env)
    else:
        raise ValueError(f"POSTDESK_SMS_PROVIDER must be local or http, not {sms_kind!r}")
    if email_kind == "local":
        mail = local
    elif email_kind == "smtp":
        mail = SmtpProvider.from_env(env)
    else:
        raise ValueError(f"POSTDESK_EMAIL_PROVIDER must be local or smtp, not {email_kind!r}")
    return {OutboxChannel.SMS: sms, OutboxChannel.EMAIL: mail}
