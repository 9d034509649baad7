"""Per-merchant API keys for the store plugins' JSON API.

A key is 32 random bytes (``secrets.token_urlsafe``), shown once when issued; only its SHA-256
hex digest is stored in ``Merchant.api_key_hash``. A slow password hash (bcrypt, argon2) exists
to make guessing a *low-entropy* secret expensive; a 256-bit random key cannot be guessed
either way, so a fast digest is enough and lets a request find its merchant with one indexed
equality lookup. Issuing a new key replaces (revokes) the old one.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from schema.people import Merchant
from services.errors import Refused

KEY_PREFIX = "pd_"


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key(prefix: str) -> tuple[str, str]:
    """A fresh random key with ``prefix`` and the digest to store instead of it. The same
    scheme serves the merchants' API keys and the locker terminals' device keys."""
    key = prefix + secrets.token_urlsafe(32)
    return key, hash_api_key(key)


def presented_digest(key: str | None) -> str | None:
    """The digest to look a presented key up by, or None for no key or a too-long one."""
    key = (key or "").strip()
    if not key or len(key) > 200:
        return None
    return hash_api_key(key)


def issue_api_key(session: Session, merchant_id: int) -> str:
    """A new key for ``merchant_id`` (the old one stops working); the plain key is returned
    once and never stored. The caller commits."""
    merchant = session.get(Merchant, merchant_id)
    if merchant is None:
        raise Refused("The merchant %(id)s was not found.", id=merchant_id)
    key, merchant.api_key_hash = new_key(KEY_PREFIX)
    session.flush()
    return key


# Every API request runs it: built once, and only the id is read.
_MERCHANT_BY_KEY = select(Merchant.id).where(Merchant.api_key_hash == bindparam("digest"),
                                             Merchant.active.is_(True))


def merchant_for_key(session: Session, key: str | None) -> int | None:
    """The id of the active merchant whose key this is, or None. Looking up by the digest
    compares no secret byte by byte, so there is no timing side channel on the key itself."""
    digest = presented_digest(key)
    if digest is None:
        return None
    # Nobody is acting yet, so there is nothing to scope: read on the connection, past the
    # ORM's per-statement work.
    return session.connection().scalar(_MERCHANT_BY_KEY, {"digest": digest})
