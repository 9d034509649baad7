"""Reading the shop's settings (``schema.people.Setting``): text as stored, or a whole number,
or yes/no, with the default the code falls back on when the row is missing or unreadable; and
the decimal places of a currency (``CurrencyRow``; 2 when the currency is not listed)."""

from __future__ import annotations

from datetime import UTC, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from schema.people import CurrencyRow, Setting


def setting(session: Session, key: str, default: str) -> str:
    value = session.scalar(select(Setting.value).where(Setting.key == key))
    return default if value is None or not str(value).strip() else str(value).strip()


def int_setting(session: Session, key: str, default: int) -> int:
    try:
        return int(setting(session, key, str(default)))
    except ValueError:
        return default


def yes_setting(session: Session, key: str, default: bool = False) -> bool:
    return setting(session, key, "yes" if default else "no").lower() in {
        "yes", "true", "1", "on", "да", "بله"}


def shop_zone(session: Session) -> tzinfo:
    """The shop's time zone (setting ``time_zone``, an IANA name): the one the buyer's messages
    write times in. An unknown name falls back to UTC."""
    try:
        return ZoneInfo(setting(session, "time_zone", "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def currency_places(session: Session, currency: str) -> int:
    """How many decimal places amounts in ``currency`` have (BYN 2, IRR 0)."""
    decimals = session.scalar(select(CurrencyRow.decimals).where(CurrencyRow.code == currency))
    return 2 if decimals is None else int(decimals)
