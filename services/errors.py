"""Refusals a service raises: each carries a translatable message for the person who acted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rules.workflow import Message


class Refused(Exception):
    """The change was not made; nothing was written. ``text % params`` after translation.

    A parameter may itself be a ``rules`` Message (a reason from a pure decision); it is
    translated along with the text.
    """

    def __init__(self, text: str, **params: Any) -> None:
        plain = {k: v.render(str) if isinstance(v, Message) else v for k, v in params.items()}
        super().__init__(text % plain if plain else text)
        self.text = text
        self.params = params

    def render(self, gettext: Callable[[str], str]) -> str:
        params = {k: v.render(gettext) if isinstance(v, Message) else v
                  for k, v in self.params.items()}
        translated = gettext(self.text)
        return translated % params if params else translated


class Conflict(Refused):
    """Someone else changed the record first."""


class InvalidInput(Refused):
    """A field that is not what it must be (a number, a date); said before anything runs."""
