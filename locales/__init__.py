"""Translation catalogs and locale-aware formatting.

The catalogs (``<lang>/LC_MESSAGES/postdesk.po``) hold Postdesk's strings *and* sqladmin's own
interface strings, so one catalog per language covers every word on a page. They are compiled in
memory at start-up: no stale .mo file can disagree with its .po.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from contextvars import ContextVar
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path

from babel import Locale, dates, numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import LazyProxy, NullTranslations, Translations
from markupsafe import Markup

from locales import jalali

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


# The rial shown as rials or as tomans (setting ``rial_display``). 1 toman = 10 rials; what is
# stored, sent and exported stays in rials — only the written amount changes.
RIAL = "rial"
TOMAN = "toman"
RIAL_DISPLAYS = (RIAL, TOMAN)
RIAL_CURRENCY = "IRR"
RIALS_PER_TOMAN = 10
# How the amounts of the current request (or document run) write the rial: a value, or a
# reader of the setting asked the first time an amount in rials is written (pages without
# rials never read it); None: the process-wide source, else rials.
_rial_display: ContextVar[str | Callable[[], str] | None] = ContextVar(
    "postdesk_rial_display", default=None)
_rial_display_source: list[Callable[[], str]] = []


def set_rial_display(display: str | Callable[[], str] | None) -> None:
    """Write rial amounts as ``display`` (``rial`` or ``toman``, or a function returning one,
    called once when first needed) from now on in this context; None returns to the source
    registered with ``use_rial_display_source``, else rials."""
    _rial_display.set(display)


def use_rial_display_source(source: Callable[[], str] | None) -> None:
    """Where ``rial_display()`` looks when no request or run set it (the process's setting)."""
    _rial_display_source.clear()
    if source is not None:
        _rial_display_source.append(source)


def rial_display() -> str:
    """``rial`` or ``toman``; anything else a setting says is read as rials: a mistyped
    setting must not change what amounts say."""
    shown = _rial_display.get()
    if callable(shown):
        shown = shown()
        _rial_display.set(shown)  # one reading per request
    elif shown is None and _rial_display_source:
        shown = _rial_display_source[0]()
    return shown if shown in RIAL_DISPLAYS else RIAL


def to_toman(rials: Decimal | int) -> Decimal:
    """Exact: 12345 rials are 1234.5 tomans (a rial amount not divisible by 10 keeps its
    fraction, one decimal for whole rials), 12340 rials are 1234 tomans."""
    toman = Decimal(rials) / RIALS_PER_TOMAN
    return toman.quantize(Decimal(1)) if toman == toman.to_integral_value() else toman


def format_money(amount: Decimal | int | None, currency: str, lang: str | None = None,
                 display: str | None = None) -> str:
    """An amount with its currency as the reader's language writes it.

    Rials (``IRR``) are written in tomans when ``display`` (default: ``rial_display()``, the
    setting) is ``toman``: the amount divided by 10, exactly — whole tomans without decimals,
    otherwise every decimal the division gives (``12345`` rials: ``1,234.5`` tomans; never
    rounded) — with the word "toman" where the language puts the currency."""
    if amount is None:
        return ""
    lang = lang or get_language()
    if currency.upper() == RIAL_CURRENCY and (display or rial_display()) == TOMAN:
        return _digits(_format_toman(to_toman(amount), lang), lang)
    text = numbers.format_currency(Decimal(amount), currency, locale=lang,
                                   numbering_system="default")
    return _digits(text, lang)


def _format_toman(toman: Decimal, lang: str) -> str:
    # Babel has no toman, so the locale's currency layout is taken from a rial amount of 1
    # (symbol before or after, spacing, the sign, Persian's left-to-right mark) and the
    # symbol and the digits are replaced by the toman label and the exact amount.
    sample = numbers.format_currency(Decimal(-1 if toman < 0 else 1), RIAL_CURRENCY,
                                     locale=lang, numbering_system="default")
    symbol = numbers.get_currency_symbol(RIAL_CURRENCY, lang)
    digits = numbers.format_decimal(abs(toman), locale=lang, numbering_system="default",
                                    decimal_quantization=False)
    label = translations(lang).gettext("toman")
    text = sample.replace(symbol, "\0").replace("1", digits)
    # A symbol written against the digits (English "IRR1") gets a space as a word.
    text = re.sub(r"\0(?=[-\d])", "\0\xa0", text)
    text = re.sub(r"(?<=\d)\0", "\xa0\0", text)
    return text.replace("\0", label)


def format_decimal(value: Decimal | int | float | None, lang: str | None = None) -> str:
    if value is None:
        return ""
    lang = lang or get_language()
    return _digits(numbers.format_decimal(value, locale=lang, numbering_system="default"), lang)


def format_number(value: Decimal | int, lang: str | None = None) -> str:
    """A number grouped and written in the language's digits and separators with every
    decimal it has, never rounded (``format_decimal`` keeps three): ``1234.00015`` is
    ``1,234.00015`` (en), ``۱٬۲۳۴٫۰۰۰۱۵`` (fa)."""
    lang = lang or get_language()
    return _digits(numbers.format_decimal(Decimal(value), locale=lang, numbering_system="default",
                                          decimal_quantization=False), lang)


# Persian readers count days in the Solar Hijri calendar; everyone else in the Gregorian one.
GREGORIAN = "gregorian"
SOLAR_HIJRI = "persian"  # CLDR's name of the calendar
_CALENDARS = {"fa": SOLAR_HIJRI}


def calendar_of(lang: str) -> str:
    return _CALENDARS.get(lang, GREGORIAN)


def format_datetime(value: datetime | None, lang: str | None = None, fmt: str = "short",
                    calendar: str | None = None) -> str:
    """``calendar`` defaults to the language's; ``GREGORIAN`` gives the other reading of a
    Persian date (the admin's hover title)."""
    if value is None:
        return ""
    lang = lang or get_language()
    if (calendar or calendar_of(lang)) == SOLAR_HIJRI:
        return _digits(jalali.format_datetime(value, fmt, lang), lang)
    return _digits(dates.format_datetime(value, fmt, locale=lang), lang)


def format_date(value: date | None, lang: str | None = None, fmt: str = "medium",
                calendar: str | None = None) -> str:
    if value is None:
        return ""
    lang = lang or get_language()
    if (calendar or calendar_of(lang)) == SOLAR_HIJRI:
        return _digits(jalali.format_date(value, fmt, lang), lang)
    return _digits(dates.format_date(value, fmt, locale=lang), lang)


def datetime_markup(value: datetime | None, lang: str | None = None, fmt: str = "short") -> Markup:
    """A date-time as HTML: ``<time>`` with the machine-readable instant, and for a reader of
    another calendar the Gregorian date as its title (a hover away)."""
    if value is None:
        return Markup("")
    lang = lang or get_language()
    shown = format_datetime(value, lang, fmt)
    if calendar_of(lang) == GREGORIAN:
        return Markup('<time datetime="{}">{}</time>').format(value.isoformat(), shown)
    gregorian = format_datetime(value, lang, "medium", calendar=GREGORIAN)
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        value.isoformat(), gregorian, shown)


# Digits people type: Persian (U+06F0…) and Arabic-Indic (U+0660…) read as ASCII; the Arabic
# decimal separator as a point and its thousands separator dropped, so "۱۲٬۳۴۵٫۵" is 12345.5.
_ASCII_NUMBER = str.maketrans({
    **{chr(0x06F0 + i): str(i) for i in range(10)},
    **{chr(0x0660 + i): str(i) for i in range(10)},
    "\u066b": ".", "\u066c": None,
})


def ascii_number(text: str) -> str:
    """A number as typed in any of our languages' digits, in the digits parsers read."""
    return text.translate(_ASCII_NUMBER)


_AMOUNT = re.compile(r"[+-]?\d+(\.\d+)?")


def parse_amount(text: str | None) -> Decimal | None:
    """An amount as a person types it: any of our languages' digits, spaces between groups,
    ``.`` or, when there is no ``.``, ``,`` or ``٫`` as the decimal point (``1 500,50`` =
    1500.50). Empty is None; anything else not a plain number is ``ValueError`` (no exponents,
    no thousands separators mixed with a point)."""
    cleaned = re.sub(r"[\s\u00a0\u202f']", "", ascii_number(text or ""))
    if not cleaned:
        return None
    if "." not in cleaned:
        cleaned = cleaned.replace(",", ".").replace("\u066b", ".")
    if not _AMOUNT.fullmatch(cleaned):
        raise ValueError(text)
    return Decimal(cleaned)


# Solar Hijri years are ~621 behind Gregorian ones: no Gregorian date a shop records is before
# 1700, and no Solar Hijri year reaches 1700 before 2321, so the year says which calendar it is.
_SOLAR_HIJRI_BEFORE = 1700


def parse_date(text: str) -> date:
    """A date typed as year-month-day (``-`` or ``/``), in either calendar and any digits:
    ``2026-03-21``, ``۱۴۰۵/۰۱/۰۱`` and ``1405-1-1`` are the same day. ValueError otherwise."""
    parts = ascii_number(text).strip().replace("/", "-").split("-")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"not a date: {text!r}")
    year, month, day = (int(p) for p in parts)
    if year < _SOLAR_HIJRI_BEFORE:
        return jalali.from_jalali(year, month, day)
    return date(year, month, day)


_LEADING_DATE = re.compile(r"^\s*(\d+[-/]\d+[-/]\d+)(.*)$", re.DOTALL)


def gregorian_text(text: str) -> str:
    """A typed date or date-time with its date part made Gregorian ISO and its digits ASCII
    (``۱۴۰۵/۰۱/۰۱ ۰۹:۰۵`` → ``2026-03-21 09:05``), for parsers that read only that; text
    that does not start with a date comes back with ASCII digits and nothing else changed.

    ValueError for a Solar Hijri year with no such day (``1405-12-30``): passed on, a
    Gregorian parser would take it for a day six centuries ago."""
    text = ascii_number(text)
    found = _LEADING_DATE.match(text)
    if not found:
        return text
    try:
        day = parse_date(found.group(1))
    except ValueError:
        if int(re.split(r"[-/]", found.group(1))[0]) < _SOLAR_HIJRI_BEFORE:
            raise
        return text  # the field's own parser says what is wrong with a Gregorian date
    return day.isoformat() + found.group(2)
