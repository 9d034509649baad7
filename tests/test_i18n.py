"""Catalogs are complete; formatting follows the language; Persian is right-to-left."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from locales import LANGUAGES, format_date, format_money, set_language, translations
from locales.catalogs import POT, extract, missing


def test_template_is_up_to_date(tmp_path) -> None:  # type: ignore[no-untyped-def]
    before = POT.read_bytes()
    try:
        extract()
        after_ids = _ids(POT.read_bytes())
    finally:
        POT.write_bytes(before)
    assert _ids(before) == after_ids, "run `postdesk i18n extract` and `postdesk i18n update`"


def _ids(data: bytes) -> set[str]:
    return {line for line in data.decode().splitlines() if line.startswith("msgid ")}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_message_is_translated(lang: str) -> None:
    assert missing(lang) == []


def test_persian_and_russian_catalogs_translate_the_interface() -> None:
    assert translations("ru").gettext("Orders") != "Orders"
    assert translations("fa").gettext("Orders") != "Orders"
    assert translations("fa").gettext("Logout") != "Logout"


def test_money_is_formatted_for_the_language() -> None:
    assert format_money(Decimal("1234.5"), "BYN", "en") == "BYN1,234.50"
    assert format_money(Decimal("1234.5"), "RUB", "ru").replace("\xa0", " ") == "1 234,50 ₽"
    fa = format_money(Decimal("1200000"), "IRR", "fa")
    assert "۱" in fa  # Persian digits


def test_dates_follow_the_language() -> None:
    day = datetime(2026, 3, 21, tzinfo=UTC)
    assert format_date(day, "ru") != format_date(day, "en")
    set_language("en")
