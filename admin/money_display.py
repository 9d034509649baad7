"""Every request writes rials the way the setting ``rial_display`` says (rial or toman).

A pure ASGI middleware on the outer app, so the admin, the printing routes and the API all run
inside it; the setting is read lazily (services.money_display), once per request that writes an
amount in rials, so a change in Settings shows on the next page.
"""

from __future__ import annotations

from sqlalchemy import Engine
from starlette.types import ASGIApp, Receive, Scope, Send

from locales import set_rial_display
from services.money_display import rial_display_reader


class RialDisplayMiddleware:
    def __init__(self, app: ASGIApp, engine: Engine) -> None:
        self.app = app
        self.reader = rial_display_reader(engine)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            set_rial_display(self.reader)
        await self.app(scope, receive, send)
