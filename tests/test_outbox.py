"""The notification outbox, its providers and the worker (R-NOTE-1).

Every test writes messages to recipients with its own prefix and lets the worker claim only
those, so the shared test database may hold anyone else's messages.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

import services.outbox as outbox_module
from postdesk.db import transaction
from schema.base import utcnow
from schema.notifications import OutboxChannel, OutboxMessage, OutboxStatus
from schema.orders import MessageKind, Order, OrderMessage
from services.errors import Refused
from services.outbox import NoRecipient, queue_customer_message, queue_message
from services.providers import (
    DeliveryError,
    HttpSmsProvider,
    LocalProvider,
    SmtpProvider,
    delivery_key,
    providers_from_env,
)
from services.worker import (
    MAX_ATTEMPTS,
    backoff,
    claim,
    deliver,
    periodic,
    run_due_jobs,
    run_worker,
    unregister,
)


@pytest.fixture
def prefix() -> str:
    """A recipient prefix only this test uses (valid at the start of a phone or an address)."""
    return f"t{uuid.uuid4().hex[:12]}."


def _mine(session: Session, prefix: str) -> list[OutboxMessage]:
    return list(session.scalars(
        select(OutboxMessage).where(OutboxMessage.recipient.startswith(prefix))
        .order_by(OutboxMessage.id)))


def _queue(factory: sessionmaker[Session], prefix: str, n: int = 1,
           channel: OutboxChannel = OutboxChannel.SMS) -> list[int]:
    with transaction(factory) as session:
        messages = [queue_message(session, channel, f"{prefix}{i}", f"Hello {i}",
                                  subject=f"Subject {i}") for i in range(n)]
        return [m.id for m in messages]


class Recording:
    """A provider that counts its calls per message, keeps the delivery key of each call and
    answers (or fails) as told."""

    def __init__(self, fail: Exception | None = None, pause: float = 0.0) -> None:
        self.calls: Counter[int] = Counter()
        self.keys: list[tuple[int, str]] = []
        self.fail, self.pause = fail, pause
        self._lock = threading.Lock()

    def send(self, message: OutboxMessage) -> str:
        with self._lock:
            self.calls[message.id] += 1
            self.keys.append((message.id, delivery_key(message)))
        if self.pause:
            time.sleep(self.pause)
        if self.fail is not None:
            raise self.fail
        return f"ok {message.id}"


# Queueing ---------------------------------------------------------------------------------------

def test_rolled_back_change_queues_nothing_and_commit_queues_pending(
    factory: sessionmaker[Session], prefix: str
) -> None:
    with pytest.raises(RuntimeError), transaction(factory) as session:
        queue_message(session, "sms", f"{prefix}rolled", "never sent")
        raise RuntimeError("the change failed")
    with transaction(factory) as session:
        queued = queue_message(session, OutboxChannel.EMAIL, f"{prefix}kept@example.com", "Hi",
                               subject="Order", related_table="orders", related_id=7)
        assert queued.id is not None  # flushed in the caller's transaction, not committed
    with factory() as session:
        (message,) = _mine(session, prefix)
        assert message.recipient == f"{prefix}kept@example.com"
        assert (message.status, message.attempts, message.channel) == (
            OutboxStatus.PENDING, 0, OutboxChannel.EMAIL)
        assert (message.related_table, message.related_id, message.subject) == ("orders", 7,
                                                                                "Order")
        assert message.next_attempt_at <= utcnow() and message.sent_at is None


def test_dedupe_key_queues_once(factory: sessionmaker[Session], prefix: str) -> None:
    key = f"{prefix}confirmed"
    with transaction(factory) as session:
        first = queue_message(session, "sms", f"{prefix}1", "one", dedupe_key=key)
        again = queue_message(session, "sms", f"{prefix}1", "one", dedupe_key=key)
        assert again is first
    with transaction(factory) as session:
        later = queue_message(session, "sms", f"{prefix}1", "one", dedupe_key=key)
        assert later.id == first.id
    with factory() as session:
        assert len(_mine(session, prefix)) == 1


def test_dedupe_race_is_settled_by_the_unique_constraint(
    factory: sessionmaker[Session], prefix: str, backend: str,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another transaction commits the same key between our check and our insert."""
    key = f"{prefix}race"
    with transaction(factory) as session:
        committed = queue_message(session, "sms", f"{prefix}1", "first", dedupe_key=key)
    real = outbox_module._by_key
    checks = {"n": 0}

    def stale_check(session: Session, dedupe_key: str) -> OutboxMessage | None:
        checks["n"] += 1
        return None if checks["n"] == 1 else real(session, dedupe_key)

    monkeypatch.setattr(outbox_module, "_by_key", stale_check)
    if backend == "postgresql":
        # a savepoint catches the duplicate; the caller's transaction carries on
        with transaction(factory) as session:
            found = queue_message(session, "sms", f"{prefix}1", "second", dedupe_key=key)
            assert found.id == committed.id
            queue_message(session, "sms", f"{prefix}2", "other")
    else:
        # SQLite: no savepoint, the constraint refuses the whole transaction
        with pytest.raises(IntegrityError), transaction(factory) as session:
            queue_message(session, "sms", f"{prefix}1", "second", dedupe_key=key)
    with factory() as session:
        mine = _mine(session, prefix)
        assert [m.body for m in mine if m.dedupe_key == key] == ["first"]


def test_customer_message_is_queued_and_shown_on_the_order(
    make, factory: sessionmaker[Session], prefix: str  # type: ignore[no-untyped-def]
) -> None:
    order = make("Order", lines=1, recipient_phone=f"{prefix}375291112233")
    with transaction(factory) as session:
        stored = session.get(Order, order.id)
        sms = queue_customer_message(session, stored, MessageKind.SMS, "Your order is confirmed")
        email = queue_customer_message(session, stored, "email", "Details", title="Order news")
    with factory() as session:
        rows = list(session.scalars(select(OrderMessage).where(OrderMessage.order_id == order.id)
                                    .order_by(OrderMessage.id)))
        assert [(r.kind, r.recipient, r.title) for r in rows] == [
            (MessageKind.SMS, f"{prefix}375291112233", ""),
            (MessageKind.EMAIL, order.customer.email, "Order news"),
        ]
        assert [r.id for r in rows] == [sms.id, email.id]
        assert all(r.sent_at is not None for r in rows)
        for row in rows:
            queued = session.get(OutboxMessage, row.outbox_id)
            assert queued is not None and queued.status == OutboxStatus.PENDING
            assert (queued.recipient, queued.body) == (row.recipient, row.body)
            assert (queued.related_table, queued.related_id) == ("orders", order.id)
        assert session.get(OutboxMessage, rows[1].outbox_id).subject == "Order news"


def test_customer_message_without_a_recipient_is_refused(
    make, factory: sessionmaker[Session]  # type: ignore[no-untyped-def]
) -> None:
    order = make("Order", lines=1, recipient_phone=None, customer__email=None)
    with transaction(factory) as session:
        stored = session.get(Order, order.id)
        with pytest.raises(ValueError, match="no phone number") as no_phone:
            queue_customer_message(session, stored, "sms", "x")
        with pytest.raises(NoRecipient, match="e-mail") as no_email:
            queue_customer_message(session, stored, MessageKind.EMAIL, "x")
    assert isinstance(no_phone.value, Refused) and isinstance(no_email.value, ValueError)
    assert order.number in no_phone.value.render(lambda s: s)
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(OrderMessage)
                              .where(OrderMessage.order_id == order.id)) == 0
        assert session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.related_table == "orders", OutboxMessage.related_id == order.id)) == 0


# The worker -------------------------------------------------------------------------------------

def test_worker_delivers_with_the_local_provider(
    factory: sessionmaker[Session], prefix: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "outbox.jsonl"
    monkeypatch.setenv("POSTDESK_LOCAL_OUTBOX", str(path))
    for name in ("POSTDESK_SMS_PROVIDER", "POSTDESK_EMAIL_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    providers = providers_from_env()
    assert all(isinstance(p, LocalProvider) for p in providers.values())
    sms_ids = _queue(factory, prefix, 2)
    email_ids = _queue(factory, f"{prefix}mail", 1, OutboxChannel.EMAIL)

    report = deliver(factory, providers, recipient_prefix=prefix)
    assert (report.claimed, report.sent, report.retried, report.failed) == (3, 3, 0, 0)
    assert str(report) == "sent 3, retried 0, failed 0"
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert sorted(line["id"] for line in lines) == sorted(sms_ids + email_ids)
    by_id = {line["id"]: line for line in lines}
    assert by_id[sms_ids[0]]["recipient"] == f"{prefix}0"
    assert by_id[sms_ids[0]]["body"] == "Hello 0"
    assert by_id[email_ids[0]]["channel"] == "email"
    with factory() as session:
        for message in _mine(session, prefix):
            assert message.status == OutboxStatus.SENT and message.sent_at is not None
            assert message.provider_answer == "recorded locally"
            assert (message.attempts, message.last_error) == (1, None)
            assert by_id[message.id]["delivery_key"] == delivery_key(message)
    assert deliver(factory, providers, recipient_prefix=prefix).claimed == 0


def test_failures_back_off_exponentially_then_fail(
    factory: sessionmaker[Session], prefix: str
) -> None:
    assert [backoff(n).total_seconds() for n in range(1, 9)] == [
        30, 60, 120, 240, 480, 960, 1920, 3600]
    assert backoff(30) == timedelta(hours=1)
    (message_id,) = _queue(factory, prefix)
    provider = Recording(fail=DeliveryError("HTTP 503: try later"))
    providers = {OutboxChannel.SMS: provider}
    now = utcnow()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        report = deliver(factory, providers, now=now, recipient_prefix=prefix)
        assert report.claimed == 1
        with factory() as session:
            message = session.get(OutboxMessage, message_id)
            assert message.attempts == attempt
            assert message.last_error == message.provider_answer == "HTTP 503: try later"
            if attempt == MAX_ATTEMPTS:
                assert (message.status, report.failed, report.retried) == (
                    OutboxStatus.FAILED, 1, 0)
                break
            assert (message.status, report.retried) == (OutboxStatus.PENDING, 1)
            wait = 30 * 2 ** (attempt - 1)
            assert message.next_attempt_at - now == timedelta(seconds=wait)
        # not due a second early
        early = deliver(factory, providers, now=now + timedelta(seconds=wait - 1),
                        recipient_prefix=prefix)
        assert early.claimed == 0
        now = message.next_attempt_at
    assert provider.calls == Counter({message_id: MAX_ATTEMPTS})
    assert deliver(factory, providers, now=now + timedelta(days=1),
                   recipient_prefix=prefix).claimed == 0


def test_any_exception_is_retried_and_recorded(
    factory: sessionmaker[Session], prefix: str
) -> None:
    (message_id,) = _queue(factory, prefix)
    report = deliver(factory, {"sms": Recording(fail=RuntimeError("boom"))},
                     recipient_prefix=prefix)
    assert report.retried == 1 and report.errors == [f"#{message_id}: RuntimeError: boom"]
    with factory() as session:
        message = session.get(OutboxMessage, message_id)
        assert (message.status, message.attempts) == (OutboxStatus.PENDING, 1)
        assert (message.last_error, message.provider_answer) == ("RuntimeError: boom", None)


def test_claim_never_hands_a_row_to_two_claimers(
    factory: sessionmaker[Session], prefix: str
) -> None:
    ids = _queue(factory, prefix, 4)
    now = utcnow()
    with factory() as first, factory() as second:
        got_first = claim(first, now, 2, "a", recipient_prefix=prefix).messages
        got_second = claim(second, now, 10, "b", recipient_prefix=prefix).messages
        assert claim(second, now, 10, "b", recipient_prefix=prefix).messages == []
    assert [m.id for m in got_first] + [m.id for m in got_second] == ids


def test_postgresql_claim_skips_rows_another_worker_holds(
    factory: sessionmaker[Session], prefix: str, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite relies on the conditional update")
    ids = _queue(factory, prefix, 3)
    now = utcnow()
    with factory() as holder, factory() as other:
        held = holder.scalars(select(OutboxMessage.id).where(OutboxMessage.id == ids[0])
                              .with_for_update()).all()
        assert held == [ids[0]]
        got = claim(other, now, 10, "b", recipient_prefix=prefix).messages
        assert [m.id for m in got] == ids[1:]
        holder.rollback()
    with factory() as session:
        got = claim(session, now, 10, "a", recipient_prefix=prefix).messages
    assert [m.id for m in got] == ids[:1]


def _pending(factory: sessionmaker[Session], prefix: str) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.recipient.startswith(prefix),
            OutboxMessage.status == OutboxStatus.PENDING)) or 0


@pytest.mark.parametrize("workers", [2, 4])
def test_concurrent_workers_send_every_message_exactly_once(
    factory: sessionmaker[Session], prefix: str, workers: int, backend: str
) -> None:
    total = 200
    ids = _queue(factory, prefix, total)
    provider = Recording(pause=0.001)
    providers = {OutboxChannel.SMS: provider}
    start = threading.Barrier(workers)
    sent_by: dict[int, int] = {}
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            start.wait()
            sent = 0
            while True:
                report = deliver(factory, providers, limit=7, worker_id=str(n),
                                 recipient_prefix=prefix)
                sent += report.sent
                if report.claimed == 0 and not _pending(factory, prefix):
                    break
            sent_by[n] = sent
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert sorted(provider.calls) == ids
    assert set(provider.calls.values()) == {1}, "a message was sent twice"
    assert sum(sent_by.values()) == total
    if backend == "postgresql":  # SKIP LOCKED hands each worker its own rows
        assert len([n for n in sent_by.values() if n]) > 1, sent_by
    with factory() as session:
        mine = _mine(session, prefix)
        assert len(mine) == total
        assert {m.status for m in mine} == {OutboxStatus.SENT}
        assert {m.attempts for m in mine} == {1}


def test_run_worker_loops_until_stopped(
    factory: sessionmaker[Session], prefix: str
) -> None:
    provider = Recording()
    stop = threading.Event()
    batches: list[str] = []
    thread = threading.Thread(target=run_worker, args=(factory, {"sms": provider}), kwargs={
        "stop": stop, "poll_seconds": 0.05, "recipient_prefix": prefix,
        "on_batch": lambda report: batches.append(str(report))})
    thread.start()
    try:
        ids = _queue(factory, prefix, 3)
        deadline = time.monotonic() + 20
        while sum(provider.calls.values()) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=20)
    assert not thread.is_alive()
    assert provider.calls == Counter(dict.fromkeys(ids, 1))
    assert batches and all(b.startswith("sent ") for b in batches)

    more = _queue(factory, prefix, 5)
    run_worker(factory, {"sms": provider}, stop=threading.Event(), once=True, limit=2,
               recipient_prefix=prefix)
    assert all(provider.calls[i] == 1 for i in more)


def test_worker_command_prints_a_line_per_batch(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import signal

    import services.worker
    from postdesk import cli, runtime
    from services.worker import DeliveryReport

    seen: dict[str, Any] = {}

    def fake_run_worker(factory: Any, providers: Any, **kw: Any) -> None:
        seen.update(kw)
        kw["on_batch"](DeliveryReport(claimed=3, sent=2, retried=1))

    monkeypatch.setattr(services.worker, "run_worker", fake_run_worker)
    monkeypatch.setattr(runtime, "session_factory", lambda: None)
    before = signal.getsignal(signal.SIGINT)
    args = cli.build_parser().parse_args(["worker", "--once", "--poll", "0.5"])
    args.func(args)
    out = capsys.readouterr().out
    assert "sent 2, retried 1, failed 0" in out and "Worker stopped." in out
    assert seen["once"] is True and seen["poll_seconds"] == 0.5
    assert signal.getsignal(signal.SIGINT) is before


# Periodic jobs ----------------------------------------------------------------------------------

def test_periodic_jobs_run_when_due(factory: sessionmaker[Session]) -> None:
    name = f"test-job-{uuid.uuid4().hex[:8]}"
    broken = f"{name}-broken"
    runs: list[datetime] = []
    try:
        @periodic(name, 60)
        def job(_factory: sessionmaker[Session], now: datetime) -> None:
            runs.append(now)

        @periodic(broken, 60)
        def failing(_factory: sessionmaker[Session], now: datetime) -> None:
            raise RuntimeError("job failed")

        with pytest.raises(ValueError, match="already registered"):
            periodic(name, 10)(lambda f, n: None)
        t0 = utcnow()
        assert {name, broken} <= set(run_due_jobs(factory, t0))
        assert name not in run_due_jobs(factory, t0 + timedelta(seconds=30))
        assert {name, broken} <= set(run_due_jobs(factory, t0 + timedelta(seconds=60)))
        assert runs == [t0, t0 + timedelta(seconds=60)]
    finally:
        unregister(name)
        unregister(broken)
    assert name not in run_due_jobs(factory, utcnow() + timedelta(days=1))


# Providers against real servers -----------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _SmtpHandler:
    def __init__(self) -> None:
        self.envelopes: list[Any] = []
        self.logins: list[tuple[bytes, bytes]] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address.startswith("nobody"):
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 2.0.0 Message accepted for delivery"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                     auth_data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult

        self.logins.append((auth_data.login, auth_data.password))
        ok = auth_data.password == b"s3cret"
        return AuthResult(success=ok, handled=False)  # the server answers 535 on failure


@pytest.fixture
def smtp_server() -> Iterator[tuple[_SmtpHandler, int]]:
    from aiosmtpd.controller import Controller

    handler = _SmtpHandler()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port,
                            authenticator=handler.authenticate, auth_require_tls=False)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def test_smtp_provider_sends_through_a_real_server(
    factory: sessionmaker[Session], prefix: str, smtp_server: tuple[_SmtpHandler, int]
) -> None:
    handler, port = smtp_server
    providers = providers_from_env({
        "POSTDESK_EMAIL_PROVIDER": "smtp", "POSTDESK_SMTP_HOST": "127.0.0.1",
        "POSTDESK_SMTP_PORT": str(port), "POSTDESK_SMTP_USER": "shop",
        "POSTDESK_SMTP_PASSWORD": "s3cret", "POSTDESK_SMTP_FROM": "Shop <shop@example.com>",
        "POSTDESK_LOCAL_OUTBOX": "unused.jsonl",
    })
    assert isinstance(providers[OutboxChannel.EMAIL], SmtpProvider)
    recipient = f"{prefix}buyer@example.com"
    with transaction(factory) as session:
        message = queue_message(session, "email", recipient, "Заказ отправлен. سفارش ارسال شد.",
                                subject="Заказ №42")
    report = deliver(factory, providers, recipient_prefix=prefix)
    assert report.sent == 1, report.errors
    assert handler.logins == [(b"shop", b"s3cret")]
    (envelope,) = handler.envelopes
    assert envelope.mail_from == "shop@example.com" and envelope.rcpt_tos == [recipient]
    received = message_from_bytes(envelope.original_content, policy=policy.default)
    assert received["Subject"] == "Заказ №42" and received["To"] == recipient
    assert received.get_content().strip() == "Заказ отправлен. سفارش ارسال شد."
    with factory() as session:
        stored = session.get(OutboxMessage, message.id)
        assert stored.status == OutboxStatus.SENT
        assert stored.provider_answer.startswith("SMTP 250")
        assert "s3cret" not in stored.provider_answer
    # The Message-ID is the delivery key at the sender's domain: a resend (here by another
    # provider instance, as another worker would) is a recognisable duplicate.
    key = delivery_key(stored)
    assert re.fullmatch(rf"pd-{message.id}-[0-9a-z]+", key)
    assert received["Message-ID"] == f"<{key}@example.com>"
    providers_from_env({
        "POSTDESK_EMAIL_PROVIDER": "smtp", "POSTDESK_SMTP_HOST": "127.0.0.1",
        "POSTDESK_SMTP_PORT": str(port), "POSTDESK_SMTP_USER": "shop",
        "POSTDESK_SMTP_PASSWORD": "s3cret", "POSTDESK_SMTP_FROM": "Shop <shop@example.com>",
    })[OutboxChannel.EMAIL].send(stored)
    again = message_from_bytes(handler.envelopes[-1].original_content, policy=policy.default)
    assert again["Message-ID"] == received["Message-ID"]


def test_smtp_provider_reports_refusals_and_wrong_passwords(
    factory: sessionmaker[Session], prefix: str, smtp_server: tuple[_SmtpHandler, int]
) -> None:
    _handler, port = smtp_server
    provider = SmtpProvider("127.0.0.1", port, sender="shop@example.com")
    refused = OutboxMessage(id=1, channel=OutboxChannel.EMAIL, recipient="nobody@example.com",
                            subject="x", body="x")
    with pytest.raises(DeliveryError, match=r"SMTP 550 5\.1\.1 No such mailbox"):
        provider.send(refused)
    wrong = SmtpProvider("127.0.0.1", port, sender="shop@example.com", user="shop",
                         password="wrong")
    with pytest.raises(DeliveryError, match="SMTP 535") as failure:
        wrong.send(OutboxMessage(id=2, channel=OutboxChannel.EMAIL, recipient="a@example.com",
                                 subject="x", body="x"))
    assert "wrong" not in failure.value.answer
    closed = SmtpProvider("127.0.0.1", _free_port(), sender="shop@example.com", timeout=5)
    with pytest.raises(DeliveryError, match="SMTP"):
        closed.send(refused)


class _SmsGateway(BaseHTTPRequestHandler):
    requests: list[dict[str, Any]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        self.requests.append({"method": self.command, "path": self.path,
                              "headers": dict(self.headers), "body": body})
        failing = "busy" in body or "busy" in self.path
        status, text = (503, "gateway busy") if failing else (200, '{"id": "sms-1"}')
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = _answer
    do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        return  # keep the test output free of the server's access log


@pytest.fixture
def sms_gateway() -> Iterator[tuple[type[_SmsGateway], str]]:
    class Gateway(_SmsGateway):
        requests: list[dict[str, Any]] = []

    server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Gateway, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_http_sms_provider_posts_json_to_a_real_server(
    factory: sessionmaker[Session], prefix: str,
    sms_gateway: tuple[type[_SmsGateway], str]
) -> None:
    gateway, base = sms_gateway
    providers = providers_from_env({
        "POSTDESK_SMS_PROVIDER": "http", "POSTDESK_SMS_URL": f"{base}/send",
        "POSTDESK_SMS_KEY": "k-123", "POSTDESK_LOCAL_OUTBOX": "unused.jsonl",
    })
    assert isinstance(providers[OutboxChannel.SMS], HttpSmsProvider)
    text = 'Say "hi"\nto {you} — سلام'
    with transaction(factory) as session:
        ok = queue_message(session, "sms", f"{prefix}1", text)
        busy = queue_message(session, "sms", f"{prefix}2", "busy today")
    report = deliver(factory, providers, recipient_prefix=prefix)
    assert (report.sent, report.retried) == (1, 1)
    first = next(r for r in gateway.requests if "busy" not in r["body"])
    assert first["method"] == "POST" and first["path"] == "/send"
    assert first["headers"]["X-API-Key"] == "k-123"
    second = next(r for r in gateway.requests if "busy" in r["body"])
    with factory() as session:
        keys = [delivery_key(session.get(OutboxMessage, m.id)) for m in (ok, busy)]
    assert [first["headers"]["Idempotency-Key"], second["headers"]["Idempotency-Key"]] == keys
    assert keys[0] != keys[1]
    assert first["headers"]["Content-Type"] == "application/json"
    assert json.loads(first["body"]) == {"to": f"{prefix}1", "text": text}
    with factory() as session:
        sent = session.get(OutboxMessage, ok.id)
        assert sent.status == OutboxStatus.SENT
        assert sent.provider_answer == 'HTTP 200: {"id": "sms-1"}'
        retried = session.get(OutboxMessage, busy.id)
        assert (retried.status, retried.attempts) == (OutboxStatus.PENDING, 1)
        assert retried.provider_answer == "HTTP 503: gateway busy"
        assert "k-123" not in retried.provider_answer


def test_http_sms_provider_get_template_and_connection_errors(
    sms_gateway: tuple[type[_SmsGateway], str]
) -> None:
    gateway, base = sms_gateway
    provider = HttpSmsProvider.from_env({
        "POSTDESK_SMS_URL": f"{base}/api?login=shop", "POSTDESK_SMS_METHOD": "get",
        "POSTDESK_SMS_TEMPLATE": "phone={recipient}&msg={body}&token={key}&ref={idempotency_key}",
        "POSTDESK_SMS_KEY": "a&b", "POSTDESK_SMS_KEY_HEADER": "Authorization",
        "POSTDESK_SMS_IDEMPOTENCY_HEADER": "X-Request-Id",
    })
    queued = datetime(2026, 12, 1, 10, 0, 0, 123456, tzinfo=UTC)
    message = OutboxMessage(id=5, channel=OutboxChannel.SMS, recipient="+375 29 111",
                            body="Код: 12&34", created_at=queued)
    micros = int((queued - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) * 10**6 + 123456
    assert delivery_key(message) == f"pd-5-{_base36(micros)}"
    assert provider.send(message) == 'HTTP 200: {"id": "sms-1"}'
    (request,) = gateway.requests
    url = urlsplit(request["path"])
    assert url.path == "/api" and request["headers"]["Authorization"] == "a&b"
    assert request["headers"]["X-Request-Id"] == delivery_key(message)
    assert parse_qs(url.query) == {"login": ["shop"], "phone": ["+375 29 111"],
                                   "msg": ["Код: 12&34"], "token": ["a&b"],
                                   "ref": [delivery_key(message)]}
    down = HttpSmsProvider(f"http://127.0.0.1:{_free_port()}/send", timeout=5)
    with pytest.raises(DeliveryError, match="HTTP error"):
        down.send(message)


def _base36(number: int) -> str:
    return (_base36(number // 36) if number >= 36 else "") + "0123456789abcdefghijklmnopqrstuvwxyz"[
        number % 36]


def test_provider_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="POSTDESK_SMS_PROVIDER"):
        providers_from_env({"POSTDESK_SMS_PROVIDER": "carrier-pigeon"})
    with pytest.raises(ValueError, match="POSTDESK_SMS_URL"):
        providers_from_env({"POSTDESK_SMS_PROVIDER": "http"})
    with pytest.raises(ValueError, match="POSTDESK_SMTP_HOST"):
        providers_from_env({"POSTDESK_EMAIL_PROVIDER": "smtp"})
    with pytest.raises(ValueError, match="POSTDESK_EMAIL_PROVIDER"):
        providers_from_env({"POSTDESK_EMAIL_PROVIDER": "fax"})
    smtp = SmtpProvider.from_env({"POSTDESK_SMTP_HOST": "mail.example.com",
                                  "POSTDESK_SMTP_STARTTLS": "1", "POSTDESK_SMTP_USER": "u@x.y"})
    assert (smtp.port, smtp.starttls, smtp.sender) == (587, True, "u@x.y")
