"""Who is acting in the current request or command; read by scoping and the change log."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    username: str
    role: str
    merchant_id: int | None = None

    @property
    def is_merchant(self) -> bool:
        return self.merchant_id is not None


_current: ContextVar[Actor | None] = ContextVar("postdesk_actor", default=None)


def current_actor() -> Actor | None:
    return _current.get()


def set_actor(actor: Actor | None) -> None:
    _current.set(actor)


@contextmanager
def acting_as(actor: Actor | None) -> Iterator[None]:
    token = _current.set(actor)
    try:
        yield
    finally:
        _current.reset(token)
