"""API authentication: a per-merchant key as ``Authorization: Bearer <key>`` or ``X-API-Key``.

Both schemes are declared as FastAPI security dependencies, so the OpenAPI document shows
them. The key itself is checked in ``services.api_keys`` (only its SHA-256 digest is stored).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from services.actor import Actor
from services.api_keys import merchant_for_key

bearer = HTTPBearer(auto_error=False, description="The merchant's API key as a bearer token.")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                              description="The merchant's API key.")


class Unauthorized(Exception):
    """No key, or a key no active merchant has."""


@dataclass(frozen=True)
class Caller:
    merchant_id: int

    @property
    def actor(self) -> Actor:
        """Who the API acts as: the merchant, so the central scoping applies to every query."""
        return Actor(user_id=None, username="api", role="merchant",
                     merchant_id=self.merchant_id)


@dataclass(frozen=True)
class PresentedKey:
    """The key a request presented (not yet checked)."""

    key: str | None

    def caller(self, session: Session) -> Caller:
        """The merchant whose key it is, looked up in the session the endpoint works in (one
        connection and transaction per request instead of two); ``Unauthorized`` otherwise."""
        merchant_id = merchant_for_key(session, self.key)
        if merchant_id is None:
            raise Unauthorized()
        return Caller(merchant_id)


def presented_key(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    header_key: Annotated[str | None, Depends(api_key_header)],
) -> PresentedKey:
    key = credentials.credentials if credentials is not None else header_key
    if not (key or "").strip():
        raise Unauthorized()  # before the body is validated: no key is a 401, not a 422
    return PresentedKey(key)
