"""The outbox worker: claims due messages under a lease, sends them, records the answer; runs
periodic jobs.

Delivery is **at least once**. Sending happens outside any transaction, so no claim can make it
exactly once; what the worker guarantees is:

- **A claim is a lease.** Claiming marks a message ``sending``, stamps ``claimed_by`` with a
  token unique to that claim and moves ``next_attempt_at`` to the end of the lease
  (``POSTDESK_WORKER_LEASE`` seconds, 60 by default). While the batch is being sent a heartbeat
  thread extends the lease of the batch's messages still in ``sending`` every third of the
  lease, and each message's lease is extended (and checked to be still held) right before it is
  sent. A single send running longer than ``STALL_LEASES`` leases counts as hung: the heartbeat
  stops and the lease runs out.
- **An expired lease is due again.** A message in ``sending`` whose ``next_attempt_at`` has
  passed belongs to a worker that stopped renewing (killed, crashed, cut off from the database,
  or stalled longer than the lease); any worker claims it exactly like a pending message. So a
  dead worker's messages are taken over within one lease (plus the taker's poll pause).
- **Only the holder records the answer.** Sent / retry / failed is written with
  ``WHERE status = 'sending' AND claimed_by = <token>``: a worker that lost its lease changes
  nothing and logs a warning.
- **Duplicates** reach a provider only when a worker stops after the provider accepted a message
  and before the worker recorded it (or stalls past its lease mid-send). The resend carries the
  same delivery key (``services.providers.delivery_key``: an ``Idempotency-Key`` header for the
  HTTP SMS gateway, a stable ``Message-ID`` for e-mail), so a provider that deduplicates drops
  it and a mail client shows one message.

Claiming, by database:

- PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED`` picks due rows no other worker is claiming,
  then they are marked and committed; any number of workers may run.
- SQLite: ``SKIP LOCKED`` compiles to nothing, so each row is claimed with a conditional
  ``UPDATE ... WHERE id = :id AND status IN ('pending', 'sending') AND next_attempt_at <= :now``
  and kept only when one row changed: a claim always moves ``next_attempt_at`` past ``now``, so
  of two claimers only the first matches. One worker is the supported setup there, but even two
  never hold the same row at once.

Leases compare the workers' clocks: keep them synchronised (NTP) to well within a lease.

A failed send goes back to ``pending`` with exponential backoff (30 s, 1 min, 2 min, ... capped
at 1 h) and becomes ``failed`` after ``MAX_ATTEMPTS``. A send interrupted by a worker's death is
not counted as an attempt (its outcome is unknown).
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session, sessionmaker

from postdesk.db import transaction
from schema.base import utcnow
from schema.notifications import OutboxChannel, OutboxMessage, OutboxStatus
from services.providers import DeliveryError, Provider

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)
LEASE_ENV = "POSTDESK_WORKER_LEASE"
DEFAULT_LEASE = timedelta(seconds=60)
STALL_LEASES = 10  # one send longer than this many leases counts as hung (10 min by default)
ERROR_LIMIT = 2000
CLAIMABLE = (OutboxStatus.PENDING, OutboxStatus.SENDING)

Providers = Mapping[OutboxChannel | str, Provider]
Clock = Callable[[], datetime]


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: 30 s * 2**(attempts-1), at most 1 h."""
    return min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_CAP)


def lease_from_env(env: Mapping[str, str] | None = None) -> timedelta:
    """``POSTDESK_WORKER_LEASE`` seconds (fractions allowed, at least 1), else 60 s."""
    raw = (os.environ if env is None else env).get(LEASE_ENV, "").strip()
    if not raw:
        return DEFAULT_LEASE
    try:
        seconds = float(raw)
    except ValueError:
        seconds = float("nan")
    if not seconds >= 1:  # also refuses nan
        raise ValueError(f"{LEASE_ENV} must be a number of seconds, at least 1, not {raw!r}")
    return timedelta(seconds=seconds)


def _prefixed(criteria: list[ColumnElement[bool]],
              recipient_prefix: str | None) -> list[ColumnElement[bool]]:
    if recipient_prefix:
        criteria.append(OutboxMessage.recipient.startswith(recipient_prefix, autoescape=True))
    return criteria


def _due(now: datetime, recipient_prefix: str | None) -> list[ColumnElement[bool]]:
    # For a message in ``sending``, next_attempt_at is the end of its lease.
    return _prefixed([OutboxMessage.status.in_(CLAIMABLE),
                      OutboxMessage.next_attempt_at <= now], recipient_prefix)


@dataclass(frozen=True)
class Claim:
    """One claim: its token (``claimed_by`` of its messages), the messages oldest first, and the
    ids among them taken over from a worker whose lease had run out."""

    claimer: str
    messages: list[OutboxMessage]
    taken_over: list[int]


def claim(session: Session, now: datetime, limit: int, worker_id: str = "", *,
          lease: timedelta = DEFAULT_LEASE, recipient_prefix: str | None = None) -> Claim:
    """Lease up to ``limit`` due messages until ``now + lease``: mark them ``sending`` under a
    new claim token and commit.

    Due means pending with ``next_attempt_at`` passed, or ``sending`` with its lease run out.
    The token is ``<worker_id>#<random>``, new for every claim, so a worker's own earlier claim
    is a different holder too. ``recipient_prefix`` narrows the claim (a dedicated worker, or a
    test's own messages). The messages are loaded and safe to use after the session ends.
    """
    if lease <= timedelta(0):
        raise ValueError("the lease must be positive")
    claimer = f"{worker_id[:24]}#{secrets.token_hex(4)}"
    candidates = (select(OutboxMessage.id, OutboxMessage.status)
                  .where(*_due(now, recipient_prefix)).order_by(OutboxMessage.id).limit(limit))
    mark = update(OutboxMessage).values(
        status=OutboxStatus.SENDING, claimed_by=claimer, next_attempt_at=now + lease,
        updated_at=now, version=OutboxMessage.version + 1,
    ).execution_options(synchronize_session=False)
    if session.connection().dialect.name == "postgresql":
        taken = session.execute(candidates.with_for_update(skip_locked=True)).all()
        if taken:
            session.execute(mark.where(OutboxMessage.id.in_([row.id for row in taken])))
    else:
        taken = [
            row for row in session.execute(candidates).all()
            if session.execute(mark.where(OutboxMessage.id == row.id, *_due(now, None))
                               ).rowcount == 1  # type: ignore[attr-defined]
        ]
    ids = [row.id for row in taken]
    messages = list(session.scalars(
        select(OutboxMessage).where(OutboxMessage.id.in_(ids)).order_by(OutboxMessage.id)
        .execution_options(populate_existing=True)
    )) if ids else []
    session.commit()
    taken_over = [row.id for row in taken if row.status == OutboxStatus.SENDING]
    if taken_over:
        log.warning("worker %s took over messages %s: their worker stopped renewing its lease",
                    claimer, taken_over)
    if messages:
        log.debug("worker %s claimed %d messages", claimer, len(messages))
    return Claim(claimer, messages, taken_over)


def renew(session: Session, claimer: str, until: datetime, message_id: int | None = None) -> int:
    """Extend the lease of ``claimer``'s messages still in ``sending`` (or only ``message_id``)
    to ``until``; returns how many it still holds (in the caller's transaction)."""
    criteria = [OutboxMessage.status == OutboxStatus.SENDING, OutboxMessage.claimed_by == claimer]
    if message_id is not None:
        criteria.append(OutboxMessage.id == message_id)
    result = session.execute(
        update(OutboxMessage).where(*criteria).values(next_attempt_at=until)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def release(session: Session, claimer: str, now: datetime) -> int:
    """Give ``claimer``'s unsent messages back to the queue, due at once (a stopping worker)."""
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.SENDING, OutboxMessage.claimed_by == claimer)
        .values(status=OutboxStatus.PENDING, next_attempt_at=now, updated_at=now,
                version=OutboxMessage.version + 1)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@contextmanager
def _heartbeat(factory: sessionmaker[Session], claimer: str, lease: timedelta,
               clock: Clock) -> Iterator[Callable[[], None]]:
    """Renew the claim every third of the lease while the block runs, so a send slower than the
    lease (a long SMTP dialogue) keeps its messages. The block calls the function it gets at
    the start of every send; a send running longer than ``STALL_LEASES`` leases counts as hung,
    and the heartbeat stops for good, so the lease runs out and another worker takes over."""
    stop = threading.Event()
    started = [time.monotonic()]
    stall_limit = STALL_LEASES * lease.total_seconds()

    def sending() -> None:
        started[0] = time.monotonic()

    def beat() -> None:
        while not stop.wait(lease.total_seconds() / 3):
            if time.monotonic() - started[0] > stall_limit:
                log.warning("worker %s: one send has taken over %s s; its lease is left to run "
                            "out so that another worker takes the batch over", claimer,
                            stall_limit)
                return
            try:
                with transaction(factory) as session:
                    renew(session, claimer, clock() + lease)
            except Exception:  # the next beat tries again; each send checks its own lease
                log.warning("worker %s could not renew its lease", claimer, exc_info=True)

    thread = threading.Thread(target=beat, name=f"lease {claimer}", daemon=True)
    thread.start()
    try:
        yield sending
    finally:
        stop.set()
        thread.join()


@dataclass
class DeliveryReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    taken_over: int = 0  # claimed from a worker whose lease had run out
    released: int = 0  # given back unsent because the worker is stopping
    lost: int = 0  # the lease ran out under this worker: another may send or has sent them
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"sent {self.sent}, retried {self.retried}, failed {self.failed}"
        for count, what in ((self.taken_over, "taken over from a stopped worker"),
                            (self.released, "released"), (self.lost, "lease lost")):
            if count:
                text += f", {count} {what}"
        return text


def _record(factory: sessionmaker[Session], message_id: int, claimer: str,
            **values: object) -> bool:
    """Write the outcome if this claim still holds the message; False when it does not."""
    with transaction(factory) as session:
        return session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.status == OutboxStatus.SENDING,
                   OutboxMessage.claimed_by == claimer)
            .values(version=OutboxMessage.version + 1, **values)
            .execution_options(synchronize_session=False)
        ).rowcount == 1  # type: ignore[attr-defined]


def _holds(factory: sessionmaker[Session], message_id: int, claimer: str,
           until: datetime) -> bool:
    with transaction(factory) as session:
        return renew(session, claimer, until, message_id) == 1


def _outcome(providers: Providers, message: OutboxMessage, at: Clock,
             report: DeliveryReport) -> dict[str, object]:
    """Send one message; the values that record what happened."""
    provider = providers.get(message.channel)
    try:
        if provider is None:
            raise DeliveryError(f"no provider for the channel {message.channel}")
        answer = provider.send(message)
    except Exception as exc:  # any failure is retried; the worker keeps going
        answer_text = exc.answer if isinstance(exc, DeliveryError) else None
        error = str(exc) if isinstance(exc, DeliveryError) else f"{type(exc).__name__}: {exc}"
        attempts = message.attempts + 1
        now = at()
        values: dict[str, object] = {
            "attempts": attempts, "last_error": error[:ERROR_LIMIT],
            "provider_answer": answer_text, "updated_at": now,
        }
        if attempts >= MAX_ATTEMPTS:
            values["status"] = OutboxStatus.FAILED
            report.failed += 1
            log.error("message %s failed for good after %d attempts: %s",
                      message.id, attempts, error)
        else:
            values["status"] = OutboxStatus.PENDING
            values["next_attempt_at"] = now + backoff(attempts)
            report.retried += 1
            log.info("message %s attempt %d failed: %s", message.id, attempts, error)
        report.errors.append(f"#{message.id}: {error}")
        return values
    now = at()
    report.sent += 1
    return {"status": OutboxStatus.SENT, "sent_at": now, "updated_at": now,
            "attempts": message.attempts + 1, "provider_answer": str(answer)[:ERROR_LIMIT],
            "last_error": None}


def deliver(factory: sessionmaker[Session], providers: Providers, *,
            now: datetime | None = None, limit: int = 50, worker_id: str = "",
            recipient_prefix: str | None = None, lease: timedelta | None = None,
            stop: threading.Event | None = None) -> DeliveryReport:
    """Claim one batch of due messages under a lease and send each while holding it.

    ``now`` fixes the clock (tests); otherwise the current time is read when needed. ``lease``
    defaults to ``POSTDESK_WORKER_LEASE``. When ``stop`` is set the rest of the batch is released
    unsent, due at once for another worker.
    """
    def clock() -> datetime:
        return now if now is not None else utcnow()

    lease = lease_from_env() if lease is None else lease
    report = DeliveryReport()
    with factory() as session:
        batch = claim(session, clock(), limit, worker_id, lease=lease,
                      recipient_prefix=recipient_prefix)
    report.claimed, report.taken_over = len(batch.messages), len(batch.taken_over)
    if not batch.messages:
        return report
    with _heartbeat(factory, batch.claimer, lease, clock) as sending:
        for message in batch.messages:
            if stop is not None and stop.is_set():
                with transaction(factory) as session:
                    report.released = release(session, batch.claimer, clock())
                break
            # A full lease for this send, and proof that nobody took the message over.
            if not _holds(factory, message.id, batch.claimer, clock() + lease):
                report.lost += 1
                log.warning("worker %s lost its lease on message %s before sending it",
                            batch.claimer, message.id)
                continue
            sending()
            values = _outcome(providers, message, clock, report)
            if not _record(factory, message.id, batch.claimer, **values):
                report.lost += 1
                log.warning("worker %s lost its lease on message %s while sending it; the "
                            "outcome (%s) is not recorded and another worker sends it again "
                            "with the same delivery key", batch.claimer, message.id,
                            values["status"])
    return report


# Periodic jobs ---------------------------------------------------------------------------------

JobFn = Callable[[sessionmaker[Session], datetime], object]


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    every: timedelta
    run: JobFn


JOBS: dict[str, PeriodicJob] = {}
_last_run: dict[str, datetime] = {}
_jobs_lock = threading.Lock()


def periodic(name: str, every_seconds: float) -> Callable[[JobFn], JobFn]:
    """Register ``fn(factory, now)`` to run every ``every_seconds`` in the worker.

    Each worker process keeps its own schedule (a job runs on its first pass and then once per
    period), so with several workers a job must be safe to run concurrently: do the work in one
    transaction with conditional updates or row locks, like every service.
    """
    if every_seconds <= 0:
        raise ValueError("every_seconds must be positive")

    def register(fn: JobFn) -> JobFn:
        with _jobs_lock:
            known = JOBS.get(name)
            if known is not None and known.run is not fn:
                raise ValueError(f"a periodic job named {name!r} is already registered")
            JOBS[name] = PeriodicJob(name, timedelta(seconds=every_seconds), fn)
        return fn

    return register


def unregister(name: str) -> None:
    with _jobs_lock:
        JOBS.pop(name, None)
        _last_run.pop(name, None)


def run_due_jobs(factory: sessionmaker[Session], now: datetime | None = None) -> list[str]:
    """Run every registered job whose period has passed; returns the names run.

    A failing job is logged and tried again in its next period; it never stops the worker.
    """
    now = now or utcnow()
    with _jobs_lock:
        due = [job for job in JOBS.values()
               if job.name not in _last_run or now - _last_run[job.name] >= job.every]
        for job in due:
            _last_run[job.name] = now
    for job in due:
        try:
            job.run(factory, now)
        except Exception:
            log.exception("periodic job %s failed", job.name)
    return [job.name for job in due]


# The loop --------------------------------------------------------------------------------------

def run_worker(factory: sessionmaker[Session], providers: Providers, *, stop: threading.Event,
               poll_seconds: float = 2.0, limit: int = 50,
               on_batch: Callable[[DeliveryReport], None] | None = None,
               once: bool = False, recipient_prefix: str | None = None,
               lease: timedelta | None = None) -> None:
    """Deliver and run jobs until ``stop`` is set; with ``once``, until nothing is due.

    A full batch is followed at once by the next; otherwise the worker waits ``poll_seconds``.
    Setting ``stop`` ends the batch after the message being sent; the rest is released.
    Database errors are logged and retried after the pause. ``recipient_prefix`` limits the
    worker to matching recipients (a dedicated worker; tests). ``lease`` defaults to
    ``POSTDESK_WORKER_LEASE``, read (and checked) before the first pass.
    """
    lease = lease_from_env() if lease is None else lease
    worker_id = uuid.uuid4().hex[:8]
    log.info("worker %s started (lease %s s)", worker_id, lease.total_seconds())
    while not stop.is_set():
        report = None
        try:
            report = deliver(factory, providers, limit=limit, worker_id=worker_id,
                             recipient_prefix=recipient_prefix, lease=lease, stop=stop)
            run_due_jobs(factory)
        except Exception:
            log.exception("worker %s: delivery pass failed", worker_id)
        if report is not None and report.claimed and on_batch:
            on_batch(report)
        idle = report is None or report.claimed < limit
        if once and idle:
            break
        if idle:
            stop.wait(poll_seconds)
    log.info("worker %s stopped", worker_id)
