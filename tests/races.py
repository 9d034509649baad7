"""Concurrent attempts for the race tests (PostgreSQL): ``count`` threads start together and
each reports what happened to it as a label; the labels are counted."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable


def race(count: int, attempt: Callable[[], str], *,
         expected: tuple[type[BaseException], str] | None = None) -> Counter[str]:
    """Run ``attempt`` in ``count`` threads released at once. An exception of the ``expected``
    kind counts as its label; any other is counted as ``error: …`` (so the assertion shows it)."""
    outcomes: Counter[str] = Counter()
    lock, barrier = threading.Lock(), threading.Barrier(count)

    def run() -> None:
        barrier.wait()
        try:
            result = attempt()
        except BaseException as exc:  # reported in the caller's assertion
            if expected is not None and isinstance(exc, expected[0]):
                result = expected[1]
            else:
                result = f"error: {exc!r}"
        with lock:
            outcomes[result] += 1

    workers = [threading.Thread(target=run) for _ in range(count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=180)
    return outcomes
