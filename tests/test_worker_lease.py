"""The worker's claims are leases (services.worker), in process: a lease that runs out is taken
over, only the holder records an outcome, the heartbeat keeps a slow batch, a stopping worker
gives its batch back. The worker killed mid-batch is in tests/test_worker_crash.py.

Clocks are fixed (``now=``) where the test is about when a lease ends, real where it is about
the heartbeat.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

import services.worker
from schema.base import utcnow
from schema.notifications import OutboxChannel, OutboxMessage, OutboxStatus
from services.worker import (
    DEFAULT_LEASE,
    DeliveryReport,
    claim,
    deliver,
    lease_from_env,
    run_worker,
)
from tests.test_outbox import Recording, _mine, _queue, prefix  # noqa: F401 - fixture

LEASE = timedelta(seconds=60)


def test_an_expired_lease_is_taken_over_by_the_next_claim(
    factory: sessionmaker[Session], prefix: str  # noqa: F811
) -> None:
    (message_id,) = _queue(factory, prefix)
    now = utcnow()
    with factory() as session:
        dead = claim(session, now, 10, "dead", lease=LEASE, recipient_prefix=prefix)
    (held,) = dead.messages
    assert held.id == message_id and dead.taken_over == []
    assert (held.status, held.claimed_by) == (OutboxStatus.SENDING, dead.claimer)
    assert dead.claimer.startswith("dead#") and held.next_attempt_at == now + LEASE

    provider = Recording()
    early = deliver(factory, {"sms": provider}, now=now + LEASE - timedelta(seconds=1),
                    lease=LEASE, recipient_prefix=prefix)
    assert early.claimed == 0 and not provider.calls
    later = deliver(factory, {"sms": provider}, now=now + LEASE, lease=LEASE,
                    recipient_prefix=prefix)
    assert (later.claimed, later.taken_over, later.sent) == (1, 1, 1)
    assert str(later) == "sent 1, retried 0, failed 0, 1 taken over from a stopped worker"
    assert provider.calls == Counter({message_id: 1})
    with factory() as session:
        (sent,) = _mine(session, prefix)
        assert (sent.status, sent.attempts) == (OutboxStatus.SENT, 1)
        assert sent.claimed_by != dead.claimer


def test_two_claims_of_one_worker_are_different_holders(
    factory: sessionmaker[Session], prefix: str  # noqa: F811
) -> None:
    _queue(factory, prefix, 2)
    now = utcnow()
    with factory() as session:
        first = claim(session, now, 1, "w", lease=LEASE, recipient_prefix=prefix)
        second = claim(session, now, 1, "w", lease=LEASE, recipient_prefix=prefix)
    assert first.claimer != second.claimer
    assert [m.claimed_by for m in first.messages + second.messages] == [
        first.claimer, second.claimer]


class Stalling(Recording):
    """Records the call, then holds the first send until told to answer."""

    def __init__(self) -> None:
        super().__init__()
        self.entered, self.resume = threading.Event(), threading.Event()

    def send(self, message: OutboxMessage) -> str:
        answer = super().send(message)
        self.entered.set()
        assert self.resume.wait(20)
        return answer


def _in_thread(fn: Callable[[], DeliveryReport]) -> tuple[threading.Thread, list[DeliveryReport]]:
    reports: list[DeliveryReport] = []
    thread = threading.Thread(target=lambda: reports.append(fn()))
    thread.start()
    return thread, reports


def test_a_stalled_worker_neither_records_nor_sends_what_was_taken_over(
    factory: sessionmaker[Session], prefix: str  # noqa: F811
) -> None:
    """Worker A stalls inside its first send past its lease (fixed clocks: A's heartbeat keeps
    renewing to ``t0 + lease``, which B's clock has reached). B takes the batch over; while B is
    sending the first message, A's send returns: A records nothing (B holds the message) and
    sends nothing more. B's outcome is the one recorded."""
    ids = _queue(factory, prefix, 2)
    t0 = utcnow()
    a, b = Stalling(), Stalling()
    thread_a, reports_a = _in_thread(lambda: deliver(
        factory, {"sms": a}, now=t0, lease=LEASE, worker_id="A", recipient_prefix=prefix))
    thread_b = None
    try:
        assert a.entered.wait(20)
        thread_b, reports_b = _in_thread(lambda: deliver(
            factory, {"sms": b}, now=t0 + LEASE, lease=LEASE, worker_id="B",
            recipient_prefix=prefix))
        assert b.entered.wait(20)
        a.resume.set()
        thread_a.join(20)
        (report_a,) = reports_a
        assert (report_a.sent, report_a.lost) == (1, 2)
        with factory() as session:
            held = _mine(session, prefix)
            assert [m.status for m in held] == [OutboxStatus.SENDING] * 2
            assert all((m.claimed_by or "").startswith("B#") for m in held)
            assert held[0].provider_answer is None  # A's answer was not written
    finally:
        a.resume.set()
        b.resume.set()
        thread_a.join(20)
        if thread_b is not None:
            thread_b.join(20)
    (report_b,) = reports_b
    assert (report_b.taken_over, report_b.sent, report_b.lost) == (2, 2, 0)
    # A sent the first message (the provider may have accepted it) and nothing after it.
    assert a.calls == Counter({ids[0]: 1}) and b.calls == Counter(dict.fromkeys(ids, 1))
    # The duplicate of the first message carries the same delivery key.
    assert [key for _, key in a.keys] == [key for i, key in b.keys if i == ids[0]]
    with factory() as session:
        mine = _mine(session, prefix)
        assert {m.status for m in mine} == {OutboxStatus.SENT}
        assert all((m.claimed_by or "").startswith("B#") for m in mine)
        assert [m.provider_answer for m in mine] == [f"ok {i}" for i in ids]


def test_the_heartbeat_keeps_a_batch_slower_than_its_lease(
    factory: sessionmaker[Session], prefix: str  # noqa: F811
) -> None:
    """Real clocks: a batch of 12 sends of 0.25 s (3 s) under a 1.5 s lease. Another worker
    polling all along takes nothing over; without the renewal it would take the batch's tail."""
    lease = timedelta(seconds=1.5)
    ids = _queue(factory, prefix, 12)
    slow = Recording(pause=0.25)
    done = threading.Event()
    reports = []

    def first() -> None:
        reports.append(deliver(factory, {"sms": slow}, lease=lease, worker_id="slow",
                               recipient_prefix=prefix))
        done.set()

    thread = threading.Thread(target=first)
    thread.start()
    other = Recording()
    polls = 0
    try:
        deadline = time.monotonic() + 20
        while not slow.calls and time.monotonic() < deadline:  # the slow worker claims first
            time.sleep(0.01)
        while not done.is_set():
            polls += 1
            deliver(factory, {"sms": other}, lease=lease, worker_id="other",
                    recipient_prefix=prefix)
            time.sleep(0.05)
    finally:
        thread.join(30)
    assert polls > 20 and not other.calls
    assert reports[0].sent == 12 and slow.calls == Counter(dict.fromkeys(ids, 1))


def test_a_hung_send_lets_the_lease_run_out(
    factory: sessionmaker[Session], prefix: str, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    """Real clocks, a 1 s lease and a stall limit of 2 leases: worker A hangs in its first send
    (its heartbeat thread alive); the heartbeat gives up after 2 s, the lease runs out a lease
    later and B takes the batch over while A still hangs."""
    monkeypatch.setattr(services.worker, "STALL_LEASES", 2)
    lease = timedelta(seconds=1)
    ids = _queue(factory, prefix, 3)
    hung = Stalling()
    thread_a, reports_a = _in_thread(lambda: deliver(
        factory, {"sms": hung}, lease=lease, worker_id="A", recipient_prefix=prefix))
    taker = Recording()
    try:
        assert hung.entered.wait(20)
        started = time.monotonic()
        while not taker.calls and time.monotonic() - started < 10:
            deliver(factory, {"sms": taker}, lease=lease, worker_id="B", recipient_prefix=prefix)
            time.sleep(0.1)
        waited = time.monotonic() - started
        assert taker.calls == Counter(dict.fromkeys(ids, 1)), waited
        assert waited >= 2, waited  # not before the stall limit
        assert thread_a.is_alive()  # A still hangs
    finally:
        hung.resume.set()
        thread_a.join(20)
    (report_a,) = reports_a
    assert (report_a.sent, report_a.lost) == (1, 3)
    with factory() as session:
        assert [m.status for m in _mine(session, prefix)] == [OutboxStatus.SENT] * 3


def test_a_stopping_worker_gives_the_rest_of_its_batch_back(
    factory: sessionmaker[Session], prefix: str  # noqa: F811
) -> None:
    ids = _queue(factory, prefix, 4)
    stop = threading.Event()

    class StopAfterFirst(Recording):
        def send(self, message: OutboxMessage) -> str:
            stop.set()  # Ctrl-C while the first message is being sent
            return super().send(message)

    provider = StopAfterFirst()
    before = utcnow()
    report = deliver(factory, {"sms": provider}, lease=LEASE, stop=stop,
                     recipient_prefix=prefix)
    assert (report.sent, report.released) == (1, 3)
    assert provider.calls == Counter({ids[0]: 1})
    with factory() as session:
        mine = _mine(session, prefix)
        assert [m.status for m in mine] == [OutboxStatus.SENT] + [OutboxStatus.PENDING] * 3
        assert all(before <= m.next_attempt_at <= utcnow() for m in mine[1:])
    # Due at once for the next worker, long before the lease would have run out.
    assert deliver(factory, {"sms": provider}, lease=LEASE, recipient_prefix=prefix).sent == 3


def test_the_lease_comes_from_the_environment(
    factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert lease_from_env({}) == DEFAULT_LEASE == timedelta(seconds=60)
    assert lease_from_env({"POSTDESK_WORKER_LEASE": " 2.5 "}) == timedelta(seconds=2.5)
    for wrong in ("0", "0.5", "-3", "soon", "nan"):
        with pytest.raises(ValueError, match="POSTDESK_WORKER_LEASE"):
            lease_from_env({"POSTDESK_WORKER_LEASE": wrong})
    monkeypatch.setenv("POSTDESK_WORKER_LEASE", "soon")
    with pytest.raises(ValueError, match="POSTDESK_WORKER_LEASE"):  # at start, not in the loop
        run_worker(factory, {OutboxChannel.SMS: Recording()}, stop=threading.Event(), once=True)
