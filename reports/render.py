"""The one renderer: Jinja2 templates -> HTML -> PDF with WeasyPrint.

Templates live under ``reports/templates`` and are named by their path there
(``"documents/invoice_a4.html"``, ``"reports/orders_by_status.html"``). Each language has its own
Jinja environment, built once: gettext/ngettext from that language's catalog (``{{ _("...") }}``,
``{% trans %}``) and filters that format for it (``money(currency)``, ``number``, ``date``,
``datetime``, ``digits``), plus ``code128``/``qr`` for scannable marks.

The fonts (``reports/fonts``, shipped with the project) and the stylesheets are parsed once per
process into one ``FontConfiguration`` and cached ``CSS`` objects; every document reuses them:
``templates/common.css`` for every template, and ``templates/<folder>/<folder>.css`` for the
templates of that folder when the file exists (``documents/documents.css``).

A template for roll paper (the 80 mm receipt) sets ``<html data-page-length="fit">``: it is laid
out on a long page that is then cut to its content, as a receipt printer does.
"""

from __future__ import annotations

import ctypes.util
import logging
import threading
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template
from markupsafe import Markup
from weasyprint import CSS, HTML, Document
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher

from locales import (
    LANGUAGES,
    format_date,
    format_datetime,
    format_decimal,
    format_money,
    is_rtl,
    translations,
)
from reports.codes import code128_uri, qr_uri

LOGGER = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = HERE / "templates"
FONTS_DIR = HERE / "fonts"

# (family, file, weight) of every face a document may use. Latin + Cyrillic come from Noto Sans,
# Persian (and its digits) from Vazirmatn; each falls back on the other, never on a system font.
FONT_FACES: tuple[tuple[str, str, int], ...] = (
    ("Noto Sans", "NotoSans-Regular.ttf", 400),
    ("Noto Sans", "NotoSans-Bold.ttf", 700),
    ("Vazirmatn", "Vazirmatn-Regular.ttf", 400),
    ("Vazirmatn", "Vazirmatn-Bold.ttf", 700),
)
FIT_MARKER = 'data-page-length="fit"'
HARFBUZZ_SUBSET_MISSING = (
    "The HarfBuzz subsetting library (Debian package libharfbuzz-subset0) is missing: "
    "WeasyPrint falls back to fontTools and documents render about three times slower. "
    "Install it: apt-get install libharfbuzz-subset0"
)

_lock = threading.Lock()
_render_lock = threading.RLock()


def harfbuzz_subset_available() -> bool:
    return ctypes.util.find_library("harfbuzz-subset") is not None


if not harfbuzz_subset_available():
    LOGGER.warning(HARFBUZZ_SUBSET_MISSING)


class LocalFetcher(URLFetcher):
    """Documents load only data: URIs and the project's own font and template files: nothing
    from the network and no other file, whatever text ends up in a template."""

    def fetch(self, url: str, headers: Any = None) -> Any:
        if url.startswith("file:"):
            path = Path(url.removeprefix("file://").split("?")[0]).resolve()
            if not (path.is_relative_to(FONTS_DIR) or path.is_relative_to(TEMPLATES_DIR)):
                raise ValueError(f"documents may not load {url}")
        elif not url.startswith("data:"):
            raise ValueError(f"documents may not load {url}")
        return super().fetch(url, headers)


# --- fonts and stylesheets, once per process -----------------------------------------------


@cache
def font_config() -> FontConfiguration:
    return FontConfiguration()


@cache
def fetcher() -> LocalFetcher:
    return LocalFetcher(allowed_protocols={"data", "file"})


def font_face_css() -> str:
    return "\n".join(
        f'@font-face {{ font-family: "{family}"; src: url("{(FONTS_DIR / name).as_uri()}"); '
        f"font-weight: {weight}; font-style: normal; }}"
        for family, name, weight in FONT_FACES
    )


def _css(text: str) -> CSS:
    return CSS(string=text, base_url=str(TEMPLATES_DIR) + "/", font_config=font_config(),
               url_fetcher=fetcher())


@cache
def _folder_stylesheets(folder: str) -> tuple[CSS, ...]:
    with _lock:
        common = _common_stylesheet()
        own = TEMPLATES_DIR / folder / f"{folder}.css" if folder else None
        if own is None or not own.is_file():
            return (common,)
        return (common, _css(own.read_text(encoding="utf-8")))


@cache
def _common_stylesheet() -> CSS:
    common = (TEMPLATES_DIR / "common.css").read_text(encoding="utf-8")
    return _css(font_face_css() + "\n" + common)


def stylesheets(template: str) -> tuple[CSS, ...]:
    """The cached stylesheets a template is rendered with."""
    folder = template.split("/", 1)[0] if "/" in template else ""
    return _folder_stylesheets(folder)


# --- Jinja ---------------------------------------------------------------------------------


def ltr(value: object) -> Markup:
    """A code, phone, SKU or amount isolated left to right: in a Persian line it keeps its
    order (``+375 (29) 606-58-74``, not ``606-58-74 (29) 375+``) and moves no word around it.
    WeasyPrint honours ``<bdi dir="ltr">`` (a ``<bdi>`` without ``dir`` it does not isolate)."""
    text = "" if value is None else str(value)
    return Markup('<bdi dir="ltr">{}</bdi>').format(text) if text else Markup("")


def _money(lang: str) -> Any:
    def money(amount: Decimal | int | None, currency: str) -> Markup:
        return ltr(format_money(amount, currency, lang))

    return money


def _number(lang: str) -> Any:
    def number(value: Decimal | int | float | None) -> str:
        return format_decimal(value, lang)

    return number


def _date(lang: str) -> Any:
    def fmt(value: date | datetime | None, style: str = "medium") -> str:
        if isinstance(value, datetime):
            value = value.date()
        return format_date(value, lang, style)

    return fmt


def _datetime(lang: str) -> Any:
    def fmt(value: datetime | None, style: str = "short") -> str:
        return format_datetime(value, lang, style)

    return fmt


def _digits(lang: str) -> Any:
    """Digits of a code-like value (a phone, a cell number) in the language's numerals."""
    table = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹") if lang == "fa" else None

    def digits(value: object) -> str:
        text = "" if value is None else str(value)
        return text.translate(table) if table else text

    return digits


def _img(uri: str, css_class: str) -> Markup:
    return Markup('<img class="{}" src="{}" alt="">').format(css_class, uri)


@cache
def environment(lang: str) -> Environment:
    """The Jinja environment of one language (templates compiled once, then cached)."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}")
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        auto_reload=False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(
        money=_money(lang), number=_number(lang), date=_date(lang), datetime=_datetime(lang),
        digits=_digits(lang), ltr=ltr,
        code128=lambda text: _img(code128_uri(str(text)), "code128"),
        qr=lambda text: _img(qr_uri(str(text)), "qr"),
    )
    env.globals.update(lang=lang, dir="rtl" if is_rtl(lang) else "ltr", rtl=is_rtl(lang))
    return env


def template(name: str, lang: str) -> Template:
    return environment(lang).get_template(name)


def render_html(template_name: str, context: dict[str, Any], lang: str) -> str:
    """The HTML of one document in ``lang``."""
    return template(template_name, lang).render(context)


def render_html_many(template_name: str, contexts: Sequence[dict[str, Any]], lang: str) -> str:
    """One HTML holding many documents of one template, each starting on a new page.

    The template's ``content`` block is rendered once per context inside the frame (head,
    page style) rendered for the first; every document template extends a base with that block.
    """
    if not contexts:
        raise ValueError("nothing to render")
    tmpl = template(template_name, lang)
    block = tmpl.blocks["content"]
    parts = [
        Markup('<section class="batch-item">{}</section>').format(
            Markup("".join(block(tmpl.new_context(dict(context))))))
        for context in contexts
    ]
    frame = tmpl.render({**contexts[0], "batch_body": Markup("".join(parts))})
    return frame


# --- PDF -----------------------------------------------------------------------------------


def _fit_to_content(document: Document) -> None:
    """Cut each page of a roll-paper document right below its content."""
    for page in document.pages:
        box = page._page_box  # laid-out boxes: WeasyPrint has no public "content height"
        bottom = 0.0
        for child in box.children:
            if child.element_tag == "html":
                bottom = max(bottom, child.position_y + child.margin_height())
        if bottom:
            page.height = min(page.height, bottom + box.margin_bottom)


def render_document(template_name: str, context: dict[str, Any], lang: str) -> Document:
    return html_to_document(render_html(template_name, context, lang), template_name)


def html_to_document(html: str, template_name: str) -> Document:
    sheets = list(stylesheets(template_name))
    # Pango and fontconfig objects are shared by every render of the process and are not
    # thread-safe; rendering is CPU-bound under the GIL anyway, so one at a time loses nothing.
    with _render_lock:
        document = HTML(string=html, base_url=str(TEMPLATES_DIR) + "/",
                        url_fetcher=fetcher()).render(font_config=font_config(),
                                                      stylesheets=sheets)
    if FIT_MARKER in html[:2000]:
        _fit_to_content(document)
    return document


def write_pdf(document: Document) -> bytes:
    with _render_lock:
        return bytes(document.write_pdf())


def render_pdf(template: str, context: dict[str, Any], lang: str) -> bytes:
    """One document as PDF bytes."""
    return write_pdf(render_document(template, context, lang))


def render_pdf_many(template_name: str, contexts: Sequence[dict[str, Any]], lang: str) -> bytes:
    """Many documents of one template as one PDF, in one process (one layout pass).

    For large batches use ``reports.batch.render_many``, which splits them over processes.
    """
    html = render_html_many(template_name, contexts, lang)
    return write_pdf(html_to_document(html, template_name))


def combine(documents: Iterable[Document]) -> bytes:
    """Documents rendered in this process, as one PDF (pages in order)."""
    docs = list(documents)
    if not docs:
        raise ValueError("nothing to combine")
    pages = [page for doc in docs for page in doc.pages]
    return write_pdf(docs[0].copy(pages))


WARM_UP_HTML = (
    '<html lang="fa" dir="rtl"><body class="page-a4"><table class="grid"><tr><th>Aa Яя</th>'
    '<td class="num">۱۲۳ سلام <b>Bb Жж دیگر</b></td></tr></table></body></html>'
)


def warm_up() -> None:
    """Build the fonts, stylesheets, environments and the text-shaping caches now: the first
    document of a process otherwise pays for them (about 40 MB and a few hundred ms)."""
    for lang in LANGUAGES:
        environment(lang)
    _folder_stylesheets("documents")
    write_pdf(html_to_document(WARM_UP_HTML, "documents/warm-up.html"))
