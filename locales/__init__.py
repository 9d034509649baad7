"""Translation catalogs and locale-aware formatting.

The catalogs (``<lang>/LC_MESSAGES/postdesk.po``) hold Postdesk's strings *and* sqladmin's own
interface strings, so one catalog per language covers every word on a page. They are compiled in
memory at start-up: no stale .mo file can disagree with its .po.
"""

from __future__ import annotations

import io
from contextvars import ContextVar
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path

from babel import Locale, dates, numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import LazyProxy, NullTranslations, Translations

LANGUAGES: tuple[str, ...] = ("en", "ru", "fa")
DEFAULT_LANGUAGE = "en"
RTL_LANGUAGES = frozenset({"fa"})
DOMAIN = "postdesk"
LOCALES_DIR = Path(__file__).parent

_current: ContextVar[str] = ContextVar("postdesk_locale", default=DEFAULT_LANGUAGE)


def po_path(lang: str) -> Path:
    return LOCALES_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(lang: str) -> NullTranslations:
    path = po_path(lang)
    if not path.exists():
        return NullTranslations()
    with path.open("rb") as fp:
        catalog = read_po(fp, locale=lang)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(fp=buf, domain=DOMAIN)


def set_language(lang: str) -> str:
    lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
    _current.set(lang)
    return lang


def get_language() -> str:
    return _current.get()


def is_rtl(lang: str | None = None) -> bool:
    return (lang or get_language()) in RTL_LANGUAGES


def gettext(message: str) -> str:
    return translations(get_language()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(get_language()).ngettext(singular, plural, n)


class LazyString(LazyProxy):
    """A message translated each time it is rendered; hashable, so it can be a dict value
    that sqladmin inverts (labels) or a menu key."""

    __slots__ = ()

    def __hash__(self) -> int:
        return hash(self.value)


def lazy_gettext(message: str) -> str:
    """Translated when rendered, in the language of the request rendering it."""
    return LazyString(gettext, message, enable_cache=False)  # type: ignore[return-value]


_ = gettext


def language_name(lang: str) -> str:
    name = Locale.parse(lang).display_name or lang
    return name[:1].upper() + name[1:]


_NATIVE_DIGITS = {"fa": str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")}


def _digits(text: str, lang: str) -> str:
    """Babel picks the separators of Persian's numbering system but keeps Latin digits."""
    table = _NATIVE_DIGITS.get(lang)
    return text.translate(table) if table else text


def format_money(amount: Decimal | int | None, currency: str, lang: str | None = None) -> str:
    if amount is None:
        return ""
    lang = lang or get_language()
    text = numbers.format_currency(Decimal(amount), currency, locale=lang,
                                   numbering_system="default")
    return _digits(text, lang)


def format_decimal(value: Decimal | int | float | None, lang: str | None = None) -> str:
    if value is None:
        return ""
    lang = lang or get_language()
    return _digits(numbers.format_decimal(value, locale=lang, numbering_system="default"), lang)


def format_datetime(value: datetime | None, lang: str | None = None, fmt: str = "short") -> str:
    if value is None:
        return ""
    lang = lang or get_language()
    return _digits(dates.format_datetime(value, fmt, locale=lang), lang)


def format_date(value: date | None, lang: str | None = None, fmt: str = "medium") -> str:
    if value is None:
        return ""
    lang = lang or get_language()
    return _digits(dates.format_date(value, fmt, locale=lang), lang)
