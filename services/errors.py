"""Refusals a service raises: each carries a translatable message for the person who acted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Refused(Exception):
    """The change was not made; nothing was written. ``text % params`` after translation."""

    def __init__(self, text: str, **params: Any) -> None:
        super().__init__(text % params if params else text)
        self.text = text
        self.params = params

    def render(self, gettext: Callable[[str], str]) -> str:
        translated = gettext(self.text)
        return translated % self.params if self.params else translated


class Conflict(Refused):
    """Someone else changed the record first."""
