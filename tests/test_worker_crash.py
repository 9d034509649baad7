"""A `postdesk worker` killed with SIGKILL in the middle of a batch: a second worker takes its
messages over when the lease runs out, every message is delivered, none is lost, and the one
that was at the gateway when the worker died is sent again with the same idempotency key.

Real processes (``python -m postdesk.cli worker``), a real HTTP SMS gateway on localhost and a
database of the test's own (a SQLite file; a schema of the PostgreSQL test database), so the
workers see no other test's messages. The lease is 2 s.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

import schema
from postdesk.db import make_engine, make_session_factory, transaction
from schema.notifications import OutboxMessage, OutboxStatus
from services.outbox import queue_message
from services.providers import delivery_key

LEASE_SECONDS = 2.0
POLL_SECONDS = 0.2
MESSAGES = 10
HELD = 4  # the gateway holds its answer to this request; the worker is killed meanwhile


@pytest.fixture
def own_database(backend: str, database_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database with the schema, only for this test's worker processes."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'crash.sqlite3'}"
        cleanup = None
    else:
        name = f"crash_{uuid.uuid4().hex[:10]}"
        shared = make_engine(database_url)
        with shared.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {name}"))
        url = make_url(database_url).update_query_dict(
            {"options": f"-csearch_path={name}"}).render_as_string(hide_password=False)

        def cleanup() -> None:
            with shared.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {name} CASCADE"))
            shared.dispose()

    engine = make_engine(url)
    schema.Base.metadata.create_all(engine)
    engine.dispose()
    try:
        yield url
    finally:
        if cleanup is not None:
            cleanup()


class Gateway:
    """An SMS gateway that answers after 50 ms, except request number ``HELD``: that one is
    accepted (recorded) and its answer held back until ``release`` is set."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.held, self.release = threading.Event(), threading.Event()
        self.lock = threading.Lock()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with gateway.lock:
                    gateway.requests.append({"at": time.monotonic(), "to": body["to"],
                                             "key": self.headers.get("Idempotency-Key")})
                    number = len(gateway.requests)
                if number == HELD:
                    gateway.held.set()
                    gateway.release.wait(30)
                else:
                    time.sleep(0.05)
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:  # the worker that asked is dead
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/send"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def _start_worker(url: str, gateway: Gateway, directory: Path, name: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTDESK_")}
    env.update({
        "POSTDESK_DATABASE_URL": url, "POSTDESK_SECRET_KEY": "crash-test",
        "POSTDESK_SMS_PROVIDER": "http", "POSTDESK_SMS_URL": gateway.url,
        "POSTDESK_SMS_TIMEOUT": "30", "POSTDESK_WORKER_LEASE": str(LEASE_SECONDS),
        "POSTDESK_LOCAL_OUTBOX": str(directory / "outbox.jsonl"), "POSTDESK_LOG_LEVEL": "INFO",
    })
    return subprocess.Popen(
        [sys.executable, "-m", "postdesk.cli", "worker", "--poll", str(POLL_SECONDS)],
        cwd=directory, env=env, stdout=(directory / f"{name}.out").open("wb"),
        stderr=(directory / f"{name}.err").open("wb"),
    )


def _wait(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _statuses(factory: sessionmaker[Session]) -> dict[str, OutboxStatus]:
    with factory() as session:
        return dict(session.execute(select(OutboxMessage.recipient, OutboxMessage.status)).all())


def test_a_killed_worker_is_taken_over_within_the_lease(own_database: str,
                                                         tmp_path: Path) -> None:
    engine = make_engine(own_database)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        for i in range(MESSAGES):
            queue_message(session, "sms", f"+37529000{i:04d}", f"Message {i}")
    gateway = Gateway()
    first = second = None
    try:
        first = _start_worker(own_database, gateway, tmp_path, "first")
        _wait(gateway.held.is_set, 60, "the first worker to reach the held request")
        second = _start_worker(own_database, gateway, tmp_path, "second")
        _wait(lambda: b"started (lease 2.0 s)" in (tmp_path / "second.err").read_bytes(), 60,
              "the second worker to start")
        # Mid-batch: three answered and recorded, the fourth at the gateway, the rest leased.
        statuses = list(_statuses(factory).values())
        assert statuses.count(OutboxStatus.SENT) == HELD - 1, statuses
        assert statuses.count(OutboxStatus.SENDING) == MESSAGES - HELD + 1, statuses

        first.send_signal(signal.SIGKILL)
        first.wait(10)
        killed_at = time.monotonic()
        gateway.release.set()
        _wait(lambda: set(_statuses(factory).values()) == {OutboxStatus.SENT}, 30,
              "every message to be sent")
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(10)
        gateway.close()
        engine.dispose()

    taken_over = [r for r in gateway.requests if r["at"] > killed_at]
    # The second worker waited for the lease to run out (renewed every third of a lease, so at
    # least two thirds of it were left at the kill) and not much longer: within one lease.
    waited = taken_over[0]["at"] - killed_at
    assert LEASE_SECONDS / 2 <= waited <= LEASE_SECONDS + POLL_SECONDS + 1.5, waited
    assert len(gateway.requests) == MESSAGES + 1  # one duplicate: the held request
    with factory() as session:
        keys = {m.recipient: delivery_key(m) for m in session.scalars(select(OutboxMessage))}
    per_message: dict[str, list[str | None]] = {}
    for request in gateway.requests:
        per_message.setdefault(request["to"], []).append(request["key"])
    held = gateway.requests[HELD - 1]["to"]
    assert per_message == {to: [key] * (2 if to == held else 1) for to, key in keys.items()}
    assert "took over messages" in (tmp_path / "second.err").read_text()
