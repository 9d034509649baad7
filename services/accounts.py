"""Accounts: password hashing, sign-in with throttling, creating users."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from schema.base import utcnow
from schema.people import Role, RoleCode, User

MAX_FAILURES = 5
LOCK_FOR = timedelta(minutes=5)

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class SignIn:
    user: User | None
    locked: bool = False


def sign_in(session: Session, username: str, password: str) -> SignIn:
    """Check a password; after MAX_FAILURES failures the account waits LOCK_FOR.

    The caller commits: failures must be counted even though the sign-in is refused.
    """
    user = session.scalar(select(User).where(User.username == username.strip()))
    now = utcnow()
    if user is None:
        # Spend the same time as a real check so usernames cannot be probed by timing.
        verify_password(_DUMMY_HASH, password)
        return SignIn(None)
    if user.locked_until is not None and user.locked_until > now:
        return SignIn(None, locked=True)
    if not user.active or not verify_password(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILURES:
            user.locked_until = now + LOCK_FOR
            user.failed_logins = 0
        return SignIn(None, locked=user.locked_until is not None and user.locked_until > now)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return SignIn(user)


def create_user(
    session: Session,
    username: str,
    password: str,
    role: RoleCode | str,
    *,
    full_name: str = "",
    merchant_id: int | None = None,
    language: str = "en",
) -> User:
    role_row = session.scalar(select(Role).where(Role.code == RoleCode(role)))
    if role_row is None:
        raise LookupError(f"role {role!s} is not seeded; run `postdesk seed` first")
    if RoleCode(role) is RoleCode.MERCHANT and merchant_id is None:
        raise ValueError("a merchant user needs a merchant")
    user = User(
        username=username, password_hash=hash_password(password), role=role_row,
        full_name=full_name or username, merchant_id=merchant_id, language=language,
    )
    session.add(user)
    session.flush()
    return user


_DUMMY_HASH = hash_password("postdesk-timing-equaliser")
